import { basename } from 'node:path';
import type { Store } from '../core/store';
import type { Router } from './router';
import { str } from './input';

const API = '/api/2.0/mlflow-artifacts/artifacts';

/**
 * Proxied artifacts, as `mlflow server --serve-artifacts` offers them: runs get artifact URIs
 * `mlflow-artifacts:/<experiment>/<run>/artifacts`, which MLflow clients turn into these routes.
 * Every path goes through ArtifactStore.resolve, which keeps it inside the artifact root.
 */
export function mountArtifactRoutes(router: Router, store: Store): void {
  const { artifacts } = store;

  router.on('GET', API, async (ctx) => {
    const files = artifacts.list(str(await ctx.fields(), 'path') ?? '');
    return files.length ? { files } : {};
  });

  router.on('GET', `${API}/*`, (ctx) => {
    const { stream, size } = artifacts.read(ctx.subpath);
    ctx.res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': size,
      'Content-Disposition': `attachment; filename="${basename(ctx.subpath).replace(/["\\\r\n]/g, '_')}"`,
      'X-Content-Type-Options': 'nosniff',
    });
    stream.pipe(ctx.res);
    return undefined;
  });

  router.on('PUT', `${API}/*`, async (ctx) => {
    await artifacts.write(ctx.subpath, ctx.req);
    return {};
  });
}
