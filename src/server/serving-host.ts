/**
 * A model host as either server carries it: the model server (engines, batching, replicas, routes),
 * its Prometheus metrics, drift monitors for versions with a reference profile (alerts to the log and
 * the event feed), the optional response cache, and the HTTP routes: KServe v2 under /v2 and the control
 * API under /api/trellis/serving. `trellis serve` runs one alone; the platform server runs one beside
 * the tracker, loading models on request.
 */
import type { Registry } from 'prom-client';
import { loadReferenceProfile } from '../core/drift-references';
import type { Store } from '../core/store';
import { DEFAULT_BATCHING, type BatcherOptions } from '../services/serving/batcher';
import { DriftMonitor } from '../services/serving/drift';
import type { InferenceLog } from '../services/serving/inference-log';
import { ModelServer, type AliasMove } from '../services/serving/model-server';
import { resolveModelRef } from '../services/serving/model-resolver';
import type { ResponseCache } from '../services/serving/response-cache';
import { DEFAULT_MAX_BODY_BYTES, mountKServeRoutes } from './kserve-routes';
import type { Router } from './router';
import { mountServingControlRoutes } from './serving-control-routes';
import { ServingMetrics } from './serving-metrics';

export interface ServingHostOptions {
  store: Store;
  /** Where the metrics go (the server's registry). */
  registry: Registry;
  /** Inference worker threads per replica. */
  workers: number;
  intraOpThreads?: number;
  replicas?: number;
  maxInFlight?: number;
  /** Dynamic batching (defaults: DEFAULT_BATCHING, on); `false` or `maxBatchSize: 1` turns it off. */
  batching?: Partial<BatcherOptions> | false;
  cacheBytes?: number;
  maxBodyBytes?: number;
  /** Told when the set of served versions changes (a load, an unload, an alias move). */
  onChange?: () => void;
  version: string;
  log: (line: string) => void;
}

export class ServingHost {
  readonly modelServer: ModelServer;
  private readonly metrics: ServingMetrics;
  private readonly cache: ResponseCache | undefined;

  constructor(private readonly options: ServingHostOptions) {
    const { store, log } = options;
    this.metrics = new ServingMetrics(options.registry);
    this.modelServer = new ModelServer({
      resolve: (ref) => resolveModelRef(store, ref),
      drift: (m) => openDriftMonitor(store, m, log),
      workers: options.workers,
      ...(options.replicas ? { replicas: options.replicas } : {}),
      ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
      ...(options.maxInFlight ? { maxInFlight: options.maxInFlight } : {}),
      ...(options.onChange ? { onChange: options.onChange } : {}),
      observer: this.metrics.observer,
      ...(options.batching !== false ? { batching: { ...DEFAULT_BATCHING, ...options.batching } } : {}),
      log,
    });
    this.metrics.track(this.modelServer);
    this.cache = options.cacheBytes !== undefined ? this.metrics.cache(options.cacheBytes) : undefined;
  }

  mount(router: Router, inferenceLog?: InferenceLog): void {
    mountKServeRoutes(router, this.modelServer, {
      maxBodyBytes: this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      version: this.options.version,
      log: this.options.log,
      ...(this.cache ? { cache: this.cache } : {}),
      ...(inferenceLog ? { inferenceLog } : {}),
    });
    mountServingControlRoutes(router, this.modelServer);
  }

  close(): Promise<void> {
    return this.modelServer.close();
  }
}

/**
 * The drift monitor of a version that has a reference profile (`trellis models reference`, or a
 * drift_reference file registered with it); its alerts go to the log and to the event feed.
 */
async function openDriftMonitor(store: Store, m: { name: string; version: string }, log: (line: string) => void): Promise<DriftMonitor | undefined> {
  const profile = await loadReferenceProfile(store.dataDir, m.name, m.version);
  if (!profile) return undefined;
  const monitor = new DriftMonitor(profile, { onWarning: (message) => log(`drift ${m.name} version ${m.version}: ${message}`) });
  monitor.onAlert((a) => {
    log(`drift: ${a.model} version ${a.version} input ${a.input} feature ${a.feature}: PSI ${a.psi.toFixed(3)}${a.ks !== undefined ? `, KS ${a.ks.toFixed(3)}` : ''}`);
    store.changes.emit({ type: 'drift.alert', model: a.model, version: a.version, input: a.input, feature: a.feature, psi: a.psi, ...(a.ks !== undefined ? { ks: a.ks } : {}), ...(a.pValue !== undefined ? { p_value: a.pValue } : {}) });
  });
  log(`drift monitoring ${m.name} version ${m.version}: ${profile.inputs.map((i) => `${i.name} (${i.features.length} features)`).join(', ')}`);
  return monitor;
}

export function logMoves(moves: AliasMove[], log: (line: string) => void): void {
  for (const m of moves) log(`${m.ref} moved from version ${m.from} to ${m.to}: version ${m.to} takes new requests, ${m.from} drains`);
}
