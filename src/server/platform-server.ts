import { randomBytes } from 'node:crypto';
import { openStore, databasePath, type Store } from '../core/store';
import { removeServerFile, writeServerFile } from '../core/server-file';
import { createApp } from './app';
import { isLoopback } from './guard';
import { Router } from './router';
import { ServerTelemetry } from './telemetry';
import { mountTrackingRoutes } from './mlflow-tracking-routes';
import { mountRegistryRoutes } from './mlflow-registry-routes';
import { mountArtifactRoutes } from './mlflow-artifact-routes';
import { mountTrellisRoutes } from './trellis-routes';
import { mountLoadTestRoutes } from './loadtest-routes';
import { mountDeployRoutes } from './deploy-routes';
import { startPlatformServing } from './platform-serving';
import { watchExternalWrites } from '../core/external-writes';
import { mountJobsRoutes } from './jobs-routes';
import { JobService } from '../services/jobs/job-service';
import { resolve } from 'node:path';

export interface PlatformServerOptions {
  dataDir: string;
  host?: string;
  port?: number;
  /** A fixed token (tests, CI); otherwise a fresh random one. */
  token?: string;
  /** Extra Host header names to accept (DNS rebinding protection refuses unknown names). */
  allowedHosts?: string[];
  /** Write `.trellis/server.json` so the CLI and the extension find this server (off for in-process use). */
  announce?: boolean;
  version: string;
  log?: (line: string) => void;
  /** Training jobs: concurrency limit, stats interval, cancel grace period, engine address. */
  jobs?: { maxConcurrent?: number; statsIntervalMs?: number; stopGraceSeconds?: number; dockerHost?: string };
}

export interface PlatformServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly store: Store;
  readonly jobs: JobService;
  /** Stops accepting, lets in-flight requests finish, checkpoints the WAL, removes server.json. */
  close(): Promise<void>;
}

const MAX_JSON_BYTES = 32 * 1024 * 1024;

export async function startPlatformServer(options: PlatformServerOptions): Promise<PlatformServer> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const token = options.token ?? randomBytes(24).toString('hex');
  const store = openStore(options.dataDir);
  const telemetry = new ServerTelemetry(databasePath(options.dataDir));
  const router = new Router();
  mountTrackingRoutes(router, store);
  mountRegistryRoutes(router, store);
  mountArtifactRoutes(router, store);
  mountTrellisRoutes(router, store, telemetry, { version: options.version, pid: process.pid, dataDir: options.dataDir });
  mountLoadTestRoutes(router, store);
  mountDeployRoutes(router, store);
  const serving = startPlatformServing(router, store, telemetry.registry, { version: options.version, log });
  // Writes by other processes (a CLI command, a deploy) reach this server's event stream as one generic event.
  const stopWatchingWrites = watchExternalWrites(store.db, 1000, () => store.changes.emit({ type: 'store.changed' }));
  // Containers reach the platform on the Docker bridge gateway, through a second listener opened on the
  // first job; every request there needs the jobs' own token, whatever the main listener's address.
  let containerApp: ReturnType<typeof createApp> | undefined;
  const jobs = new JobService({
    store,
    dataDir: resolve(options.dataDir),
    log,
    ...options.jobs,
    openContainerListener: async (address, preferredPort) => {
      const app = createApp({ router, telemetry, log, maxJsonBytes: MAX_JSON_BYTES, guard: { token: jobs.containerToken, requireToken: true, allowedHosts: options.allowedHosts ?? [] } });
      const port = await app.listen(address, preferredPort ?? 0).catch(() => app.listen(address, 0));
      containerApp = app;
      return port.port;
    },
  });
  mountJobsRoutes(router, jobs);

  const app = createApp({
    router,
    telemetry,
    log,
    maxJsonBytes: MAX_JSON_BYTES,
    // Beyond loopback (e.g. for containers on the Docker bridge) every request needs the token.
    guard: { token, requireToken: !isLoopback(host), allowedHosts: options.allowedHosts ?? [] },
  });
  const { port, url } = await app.listen(host, options.port ?? 0);
  if (options.announce) writeServerFile(options.dataDir, { pid: process.pid, url, token, version: options.version });
  // In the background: a server must come up even when the engine is slow or down.
  void jobs.reconcile();

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    token,
    store,
    jobs,
    close: () =>
      (closing ??= (async () => {
        await jobs.close();
        await containerApp?.drainAndClose();
        await app.drainAndClose();
        stopWatchingWrites();
        await serving.close();
        store.close();
        if (options.announce) removeServerFile(options.dataDir, process.pid);
      })()),
  };
}
