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
import { startPlatformServing } from './platform-serving';

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
}

export interface PlatformServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly store: Store;
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
  const serving = startPlatformServing(router, store, telemetry.registry, { version: options.version, log });

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

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    token,
    store,
    close: () =>
      (closing ??= (async () => {
        await app.drainAndClose();
        await serving.close();
        store.close();
        if (options.announce) removeServerFile(options.dataDir, process.pid);
      })()),
  };
}
