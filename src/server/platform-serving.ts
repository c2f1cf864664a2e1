/**
 * Serving inside the platform server: a model host beside the tracker (KServe v2 under /v2, the control
 * API under /api/trellis/serving, models loaded on request), which follows alias moves from the store's
 * change feed, and builds the drift reference profile of each newly registered version whose run holds
 * a drift_reference file.
 */
import { availableParallelism } from 'node:os';
import type { Registry } from 'prom-client';
import type { Store } from '../core/store';
import { profileFromRunArtifacts } from '../services/serving/drift-profile';
import type { Router } from './router';
import { logMoves, ServingHost } from './serving-host';

export interface PlatformServing {
  readonly host: ServingHost;
  close(): Promise<void>;
}

export function startPlatformServing(router: Router, store: Store, registry: Registry, options: { version: string; log: (line: string) => void }): PlatformServing {
  const { log } = options;
  const host = new ServingHost({
    store,
    registry,
    workers: Math.max(1, Math.min(4, availableParallelism())),
    onChange: () => store.changes.emit({ type: 'serving.changed' }),
    version: options.version,
    log,
  });
  host.mount(router);
  const unsubscribe = store.changes.subscribe((event) => {
    const aliasMayHaveMoved = (event.type === 'alias.moved' && host.modelServer.models().some((m) => m.name === event.name)) || (event.type === 'store.changed' && host.modelServer.models().length > 0);
    if (aliasMayHaveMoved) {
      host.modelServer.refresh().then((moves) => logMoves(moves, log), (err: Error) => log(`alias refresh failed: ${err.message}`));
    } else if (event.type === 'model_version.created') {
      void buildDriftReference(store, event.name, event.version, log);
    }
  });
  return {
    host,
    close: async () => {
      unsubscribe();
      await host.close();
    },
  };
}

/**
 * A registered version whose run has a drift_reference.json/.csv gets its reference profile. A bad file
 * does not undo the registration: the version gets a tag saying what is wrong, and the log says it too.
 */
async function buildDriftReference(store: Store, name: string, version: string, log: (line: string) => void): Promise<void> {
  const tag = (value: string) => {
    try {
      store.registry.setVersionTag(name, version, 'trellis.drift_reference', value.slice(0, 5000));
    } catch {
      /* the version was deleted meanwhile */
    }
  };
  try {
    const profile = await profileFromRunArtifacts(store, store.registry.getVersion(name, version));
    if (!profile) return;
    tag(profile.source);
    log(`drift reference for ${name} version ${version}: ${profile.inputs.map((i) => `${i.name} (${i.features.length} features)`).join(', ')} from ${profile.source}`);
  } catch (err) {
    tag(`error: ${(err as Error).message}`);
    log(`drift reference for ${name} version ${version} not built: ${(err as Error).message}`);
  }
}
