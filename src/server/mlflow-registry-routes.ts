import type { Store } from '../core/store';
import type { Router } from './router';
import { bool, int64, keyValues, requiredStr, str, strList, type Fields } from './input';

const API = '/api/2.0/mlflow';

export function mountRegistryRoutes(router: Router, store: Store): void {
  const { registry } = store;
  const on = (method: string | string[], path: string, handler: (f: Fields) => unknown) =>
    router.on(method, `${API}/${path}`, async (ctx) => handler(await ctx.fields()));
  const done = {};
  const name = (f: Fields) => requiredStr(f, 'name');
  const version = (f: Fields) => requiredStr(f, 'version');
  const page = <T>(key: string, p: { items: T[]; next_page_token?: string }) => ({
    [key]: p.items,
    ...(p.next_page_token ? { next_page_token: p.next_page_token } : {}),
  });

  on('POST', 'registered-models/create', (f) => ({
    registered_model: registry.createModel(name(f), keyValues(f, 'tags'), str(f, 'description') ?? ''),
  }));
  on('POST', 'registered-models/rename', (f) => ({ registered_model: registry.renameModel(name(f), requiredStr(f, 'new_name')) }));
  on('PATCH', 'registered-models/update', (f) => ({ registered_model: registry.updateModel(name(f), str(f, 'description')) }));
  on('DELETE', 'registered-models/delete', (f) => (registry.deleteModel(name(f)), done));
  on('GET', 'registered-models/get', (f) => ({ registered_model: registry.getModel(name(f)) }));
  on('GET', 'registered-models/search', (f) =>
    page('registered_models', registry.searchModels({
      filter: str(f, 'filter'), orderBy: strList(f, 'order_by'), maxResults: int64(f, 'max_results'), pageToken: str(f, 'page_token'),
    })),
  );
  on(['POST', 'GET'], 'registered-models/get-latest-versions', (f) => ({
    model_versions: registry.latestVersions(name(f), strList(f, 'stages')),
  }));
  on('POST', 'registered-models/set-tag', (f) => (registry.setModelTag(name(f), requiredStr(f, 'key'), str(f, 'value') ?? ''), done));
  on('DELETE', 'registered-models/delete-tag', (f) => (registry.deleteModelTag(name(f), requiredStr(f, 'key')), done));
  on('POST', 'registered-models/alias', (f) => (registry.setAlias(name(f), requiredStr(f, 'alias'), version(f)), done));
  on('DELETE', 'registered-models/alias', (f) => (registry.deleteAlias(name(f), requiredStr(f, 'alias')), done));
  on('GET', 'registered-models/alias', (f) => ({ model_version: registry.versionByAlias(name(f), requiredStr(f, 'alias')) }));

  on('POST', 'model-versions/create', (f) => ({
    model_version: registry.createVersion({
      name: name(f),
      source: requiredStr(f, 'source'),
      run_id: str(f, 'run_id'),
      tags: keyValues(f, 'tags'),
      run_link: str(f, 'run_link'),
      description: str(f, 'description'),
    }),
  }));
  on('PATCH', 'model-versions/update', (f) => ({ model_version: registry.updateVersion(name(f), version(f), str(f, 'description')) }));
  on('DELETE', 'model-versions/delete', (f) => (registry.deleteVersion(name(f), version(f)), done));
  on('GET', 'model-versions/get', (f) => ({ model_version: registry.getVersion(name(f), version(f)) }));
  on('GET', 'model-versions/search', (f) =>
    page('model_versions', registry.searchVersions({
      filter: str(f, 'filter'), orderBy: strList(f, 'order_by'), maxResults: int64(f, 'max_results'), pageToken: str(f, 'page_token'),
    })),
  );
  on('GET', 'model-versions/get-download-uri', (f) => ({ artifact_uri: registry.getVersion(name(f), version(f)).source }));
  on('POST', 'model-versions/transition-stage', (f) => ({
    model_version: registry.transitionStage(name(f), version(f), requiredStr(f, 'stage'), bool(f, 'archive_existing_versions') ?? false),
  }));
  on('POST', 'model-versions/set-tag', (f) => (registry.setVersionTag(name(f), version(f), requiredStr(f, 'key'), str(f, 'value') ?? ''), done));
  on('DELETE', 'model-versions/delete-tag', (f) => (registry.deleteVersionTag(name(f), version(f), requiredStr(f, 'key')), done));
}
