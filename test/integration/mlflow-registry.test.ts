// MLflow REST API: model registry (model_registry.proto), written from MLflow's protos, handlers and SQL
// store behaviour (see the protocol reference), not from Trellis's implementation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectError, expectOk, unique } from '../support/replies';
import { startTestPlatform, type TestPlatform } from '../support/platform';

let p: TestPlatform;
const kv = (list: any[] | undefined): Record<string, string> => Object.fromEntries((list ?? []).map((t: any) => [t.key, t.value]));
const tick = () => new Promise((r) => setTimeout(r, 3));

let runId: string;
let source: string;

async function createModel(name: string, extra: Record<string, unknown> = {}): Promise<any> {
  return expectOk(await p.mlflow('POST', 'registered-models/create', { name, ...extra })).registered_model;
}
async function createVersion(name: string, extra: Record<string, unknown> = {}): Promise<any> {
  return expectOk(await p.mlflow('POST', 'model-versions/create', { name, source, run_id: runId, ...extra })).model_version;
}
const getModel = async (name: string) => expectOk(await p.mlflow('GET', 'registered-models/get', { name })).registered_model;
const getVersion = async (name: string, version: string) => expectOk(await p.mlflow('GET', 'model-versions/get', { name, version })).model_version;

before(async () => {
  p = await startTestPlatform();
  const run = expectOk(await p.mlflow('POST', 'runs/create', { experiment_id: '0', start_time: Date.now() })).run;
  runId = run.info.run_id;
  source = `${run.info.artifact_uri}/model`;
});
after(async () => {
  await p.stop();
});

describe('registered-models: create, get, rename, update, delete', () => {
  test('create returns the model with timestamps, description and tags; get returns the same', async () => {
    const t0 = Date.now();
    const m = await createModel('reg-create', { description: 'first model', tags: [{ key: 'owner', value: 'ml' }] });
    assert.equal(m.name, 'reg-create');
    assert.equal(m.description, 'first model');
    assert.deepEqual(kv(m.tags), { owner: 'ml' });
    assert.equal(typeof m.creation_timestamp, 'number');
    assert.equal(typeof m.last_updated_timestamp, 'number');
    assert.ok(m.creation_timestamp >= t0 - 1000 && m.creation_timestamp <= Date.now() + 1000);
    assert.deepEqual(m.latest_versions ?? [], []);
    const got = await getModel('reg-create');
    assert.equal(got.name, 'reg-create');
    assert.equal(got.description, 'first model');
    assert.deepEqual(kv(got.tags), { owner: 'ml' });
    assert.equal(got.creation_timestamp, m.creation_timestamp);
  });

  test('a duplicate name is RESOURCE_ALREADY_EXISTS with HTTP 400', async () => {
    const name = unique('dup');
    await createModel(name);
    expectError(await p.mlflow('POST', 'registered-models/create', { name }), 400, 'RESOURCE_ALREADY_EXISTS', new RegExp(name));
  });

  test('name is required', async () => {
    expectError(await p.mlflow('POST', 'registered-models/create', {}), 400, 'INVALID_PARAMETER_VALUE', /Missing value for required parameter 'name'/);
    expectError(await p.mlflow('POST', 'registered-models/create', { name: '' }), 400, 'INVALID_PARAMETER_VALUE', /'name'/);
  });

  test('unknown model is 404 RESOURCE_DOES_NOT_EXIST on every model endpoint', async () => {
    const name = 'never-registered';
    const m = new RegExp(name);
    expectError(await p.mlflow('GET', 'registered-models/get', { name }), 404, 'RESOURCE_DOES_NOT_EXIST', m);
    expectError(await p.mlflow('POST', 'registered-models/rename', { name, new_name: unique('x') }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('PATCH', 'registered-models/update', { name, description: 'd' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('DELETE', 'registered-models/delete', { name }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('POST', 'registered-models/get-latest-versions', { name }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('POST', 'registered-models/set-tag', { name, key: 'k', value: 'v' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('POST', 'model-versions/create', { name, source }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('GET', 'model-versions/get', { name, version: '1' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('POST', 'registered-models/alias', { name, alias: 'champion', version: '1' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('rename moves the model and its versions; the old name is gone', async () => {
    const oldName = unique('ren-old');
    const newName = unique('ren-new');
    await createModel(oldName);
    await createVersion(oldName);
    await createVersion(oldName);
    const renamed = expectOk(await p.mlflow('POST', 'registered-models/rename', { name: oldName, new_name: newName })).registered_model;
    assert.equal(renamed.name, newName);
    expectError(await p.mlflow('GET', 'registered-models/get', { name: oldName }), 404, 'RESOURCE_DOES_NOT_EXIST');
    const v2 = await getVersion(newName, '2');
    assert.equal(v2.name, newName);
    expectError(await p.mlflow('GET', 'model-versions/get', { name: oldName, version: '1' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    const search = expectOk(await p.mlflow('GET', 'model-versions/search', { filter: `name = '${newName}'` }));
    assert.equal(search.model_versions.length, 2);
  });

  test('rename onto an existing name is RESOURCE_ALREADY_EXISTS (400); new_name is required', async () => {
    const a = unique('ra');
    const b = unique('rb');
    await createModel(a);
    await createModel(b);
    expectError(await p.mlflow('POST', 'registered-models/rename', { name: a, new_name: b }), 400, 'RESOURCE_ALREADY_EXISTS', new RegExp(b));
    expectError(await p.mlflow('POST', 'registered-models/rename', { name: a }), 400, 'INVALID_PARAMETER_VALUE', /'new_name'/);
    assert.equal((await getModel(a)).name, a);
  });

  test('update is PATCH: sets the description and bumps last_updated_timestamp; POST is 405', async () => {
    const name = unique('upd');
    const m = await createModel(name, { description: 'old' });
    await tick();
    const updated = expectOk(await p.mlflow('PATCH', 'registered-models/update', { name, description: 'new words' })).registered_model;
    assert.equal(updated.name, name);
    assert.equal(updated.description, 'new words');
    assert.ok(updated.last_updated_timestamp > m.last_updated_timestamp, 'last_updated_timestamp advances');
    assert.equal((await getModel(name)).description, 'new words');
    assert.equal((await p.mlflow('POST', 'registered-models/update', { name, description: 'x' })).status, 405);
  });

  test('delete is DELETE with a JSON body; it removes the model with its versions, tags and aliases', async () => {
    const name = unique('del');
    await createModel(name, { tags: [{ key: 'a', value: 'b' }] });
    await createVersion(name);
    await createVersion(name);
    expectOk(await p.mlflow('POST', 'registered-models/alias', { name, alias: 'champ', version: '2' }));
    assert.equal((await p.mlflow('POST', 'registered-models/delete', { name })).status, 405);
    expectOk(await p.mlflow('DELETE', 'registered-models/delete', { name }));
    expectError(await p.mlflow('GET', 'registered-models/get', { name }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('GET', 'model-versions/get', { name, version: '1' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    const versions = expectOk(await p.mlflow('GET', 'model-versions/search', { filter: `name = '${name}'` }));
    assert.deepEqual(versions.model_versions ?? [], []);
    // The name is free again and the new model starts clean.
    const again = await createModel(name);
    assert.deepEqual(kv(again.tags), {});
    assert.deepEqual(again.aliases ?? [], []);
    assert.equal((await createVersion(name)).version, '1');
  });
});

describe('registered-models: tags', () => {
  test('set-tag upserts, delete-tag (DELETE) removes, deleting a missing key is a no-op', async () => {
    const name = unique('tags');
    await createModel(name);
    expectOk(await p.mlflow('POST', 'registered-models/set-tag', { name, key: 'k', value: 'one' }));
    expectOk(await p.mlflow('POST', 'registered-models/set-tag', { name, key: 'k', value: 'two' }));
    expectOk(await p.mlflow('POST', 'registered-models/set-tag', { name, key: 'other', value: 'x' }));
    assert.deepEqual(kv((await getModel(name)).tags), { k: 'two', other: 'x' });
    expectOk(await p.mlflow('DELETE', 'registered-models/delete-tag', { name, key: 'k' }));
    assert.deepEqual(kv((await getModel(name)).tags), { other: 'x' });
    expectOk(await p.mlflow('DELETE', 'registered-models/delete-tag', { name, key: 'k' }));
    expectError(await p.mlflow('POST', 'registered-models/set-tag', { name, value: 'x' }), 400, 'INVALID_PARAMETER_VALUE', /'key'/);
    expectError(await p.mlflow('POST', 'registered-models/set-tag', { name, key: 'k'.repeat(251), value: 'x' }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await p.mlflow('DELETE', 'registered-models/delete-tag', { name: 'no-such-model', key: 'k' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });
});

describe('model-versions: create, get, update, delete', () => {
  test('create numbers versions as strings from "1", READY, stage "None", with source, run_id, tags, description', async () => {
    const name = unique('mv');
    const m = await createModel(name);
    await tick();
    const v1 = await createVersion(name, { description: 'v one', tags: [{ key: 'k', value: 'v' }], run_link: 'http://x/run' });
    assert.equal(v1.name, name);
    assert.equal(v1.version, '1');
    assert.equal(v1.current_stage, 'None');
    assert.equal(v1.status, 'READY');
    assert.equal(v1.source, source);
    assert.equal(v1.run_id, runId);
    assert.equal(v1.description, 'v one');
    assert.equal(v1.run_link, 'http://x/run');
    assert.deepEqual(kv(v1.tags), { k: 'v' });
    assert.equal(typeof v1.creation_timestamp, 'number');
    assert.equal(typeof v1.last_updated_timestamp, 'number');
    const v2 = await createVersion(name);
    assert.equal(v2.version, '2');
    const got = await getVersion(name, '1');
    assert.equal(got.version, '1');
    assert.equal(got.source, source);
    assert.equal(got.run_id, runId);
    assert.ok((await getModel(name)).last_updated_timestamp > m.last_updated_timestamp, 'creating a version bumps the model');
  });

  test('version numbers are never reused after a delete', async () => {
    const name = unique('reuse');
    await createModel(name);
    for (let i = 0; i < 3; i++) await createVersion(name);
    expectOk(await p.mlflow('DELETE', 'model-versions/delete', { name, version: '2' }));
    assert.equal((await createVersion(name)).version, '4');
    expectOk(await p.mlflow('DELETE', 'model-versions/delete', { name, version: '4' }));
    assert.equal((await createVersion(name)).version, '5');
    const versions = expectOk(await p.mlflow('GET', 'model-versions/search', { filter: `name = '${name}'`, order_by: ['version_number ASC'] }));
    assert.deepEqual(versions.model_versions.map((v: any) => v.version), ['1', '3', '5']);
  });

  test('delete (DELETE) removes the version from get, search and latest_versions, and drops its aliases', async () => {
    const name = unique('mvdel');
    await createModel(name);
    await createVersion(name);
    await createVersion(name);
    expectOk(await p.mlflow('POST', 'registered-models/alias', { name, alias: 'best', version: '2' }));
    expectOk(await p.mlflow('DELETE', 'model-versions/delete', { name, version: '2' }));
    expectError(await p.mlflow('GET', 'model-versions/get', { name, version: '2' }), 404, 'RESOURCE_DOES_NOT_EXIST', /not found/);
    expectError(await p.mlflow('DELETE', 'model-versions/delete', { name, version: '2' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    const model = await getModel(name);
    assert.deepEqual((model.latest_versions ?? []).map((v: any) => v.version), ['1']);
    assert.deepEqual(model.aliases ?? [], []);
    expectError(await p.mlflow('GET', 'registered-models/alias', { name, alias: 'best' }), 400, 'INVALID_PARAMETER_VALUE', /best/);
  });

  test('update (PATCH) sets the description', async () => {
    const name = unique('mvupd');
    await createModel(name);
    const v = await createVersion(name, { description: 'before' });
    await tick();
    const updated = expectOk(await p.mlflow('PATCH', 'model-versions/update', { name, version: '1', description: 'after' })).model_version;
    assert.equal(updated.description, 'after');
    assert.equal(updated.version, '1');
    assert.ok(updated.last_updated_timestamp >= v.last_updated_timestamp);
    assert.equal((await getVersion(name, '1')).description, 'after');
    expectError(await p.mlflow('PATCH', 'model-versions/update', { name, version: '9', description: 'x' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('missing or bad fields: source required, integer versions, unknown versions 404', async () => {
    const name = unique('mvbad');
    await createModel(name);
    await createVersion(name);
    expectError(await p.mlflow('POST', 'model-versions/create', { name }), 400, 'INVALID_PARAMETER_VALUE', /'source'/);
    expectError(await p.mlflow('POST', 'model-versions/create', { source }), 400, 'INVALID_PARAMETER_VALUE', /'name'/);
    expectError(await p.mlflow('GET', 'model-versions/get', { name, version: 'abc' }), 400, 'INVALID_PARAMETER_VALUE', /version/);
    expectError(await p.mlflow('GET', 'model-versions/get', { name }), 400, 'INVALID_PARAMETER_VALUE', /'version'/);
    expectError(await p.mlflow('GET', 'model-versions/get', { name, version: '42' }), 404, 'RESOURCE_DOES_NOT_EXIST', new RegExp(`${name}.*42|42.*${name}`));
  });

  test('a source with .. segments is rejected', async () => {
    const name = unique('mvdots');
    await createModel(name);
    for (const bad of [`${source}/../../other/artifacts`, 'mlflow-artifacts:/0/../../etc', 'mlflow-artifacts:/0/%2E%2E/%2E%2E/etc']) {
      expectError(await p.mlflow('POST', 'model-versions/create', { name, source: bad, run_id: runId }), 400, 'INVALID_PARAMETER_VALUE', /source/);
    }
  });

  test('get-download-uri returns the source as given', async () => {
    const name = unique('dl');
    await createModel(name);
    await createVersion(name);
    const body = expectOk(await p.mlflow('GET', 'model-versions/get-download-uri', { name, version: '1' }));
    assert.deepEqual(body, { artifact_uri: source });
    expectError(await p.mlflow('GET', 'model-versions/get-download-uri', { name, version: '3' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('version tags: set-tag upserts, delete-tag (DELETE) removes', async () => {
    const name = unique('mvtags');
    await createModel(name);
    await createVersion(name);
    expectOk(await p.mlflow('POST', 'model-versions/set-tag', { name, version: '1', key: 'validated', value: 'no' }));
    expectOk(await p.mlflow('POST', 'model-versions/set-tag', { name, version: '1', key: 'validated', value: 'yes' }));
    assert.deepEqual(kv((await getVersion(name, '1')).tags), { validated: 'yes' });
    expectOk(await p.mlflow('DELETE', 'model-versions/delete-tag', { name, version: '1', key: 'validated' }));
    assert.deepEqual(kv((await getVersion(name, '1')).tags), {});
    expectOk(await p.mlflow('DELETE', 'model-versions/delete-tag', { name, version: '1', key: 'validated' }));
    expectError(await p.mlflow('POST', 'model-versions/set-tag', { name, version: '7', key: 'k', value: 'v' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('POST', 'model-versions/set-tag', { name, version: '1', value: 'v' }), 400, 'INVALID_PARAMETER_VALUE', /'key'/);
  });
});

describe('model-versions: transition-stage and get-latest-versions', () => {
  test('stages are canonicalised; archive_existing_versions archives the others in that stage', async () => {
    const name = unique('stages');
    await createModel(name);
    for (let i = 0; i < 4; i++) await createVersion(name);
    const t = async (version: string, stage: string, archive = false) =>
      p.mlflow('POST', 'model-versions/transition-stage', { name, version, stage, archive_existing_versions: archive });
    assert.equal(expectOk(await t('1', 'production')).model_version.current_stage, 'Production');
    assert.equal(expectOk(await t('2', 'Production')).model_version.current_stage, 'Production');
    assert.equal((await getVersion(name, '1')).current_stage, 'Production', 'without archiving, others stay');
    const v3 = expectOk(await t('3', 'PRODUCTION', true)).model_version;
    assert.equal(v3.current_stage, 'Production');
    assert.equal((await getVersion(name, '1')).current_stage, 'Archived');
    assert.equal((await getVersion(name, '2')).current_stage, 'Archived');
    assert.equal(expectOk(await t('4', 'staging')).model_version.current_stage, 'Staging');
    expectError(await t('4', 'Shipped'), 400, 'INVALID_PARAMETER_VALUE', /stage/i);
    expectError(await t('9', 'Staging'), 404, 'RESOURCE_DOES_NOT_EXIST');
    // Archiving others is only meaningful for Staging / Production.
    const res = await t('4', 'Archived', true);
    assert.ok(res.status === 400 || res.status === 500, JSON.stringify(res));
    assert.ok(typeof res.body.error_code === 'string');
    assert.equal((await getVersion(name, '4')).current_stage, 'Staging');
  });

  test('get-latest-versions: the highest version per stage, all stages by default, POST and GET', async () => {
    const name = unique('latest');
    await createModel(name);
    for (let i = 0; i < 5; i++) await createVersion(name);
    const t = (version: string, stage: string) => p.mlflow('POST', 'model-versions/transition-stage', { name, version, stage, archive_existing_versions: false });
    expectOk(await t('1', 'Production'));
    expectOk(await t('2', 'Production'));
    expectOk(await t('3', 'Staging'));
    expectOk(await t('4', 'Archived'));
    const byStage = (list: any[]) => Object.fromEntries(list.map((v) => [v.current_stage, v.version]));
    const all = expectOk(await p.mlflow('POST', 'registered-models/get-latest-versions', { name })).model_versions;
    assert.deepEqual(byStage(all), { Production: '2', Staging: '3', Archived: '4', None: '5' });
    assert.equal(all.length, 4);
    const some = expectOk(await p.mlflow('POST', 'registered-models/get-latest-versions', { name, stages: ['Production', 'None'] })).model_versions;
    assert.deepEqual(byStage(some), { Production: '2', None: '5' });
    const viaGet = expectOk(await p.mlflow('GET', 'registered-models/get-latest-versions', { name, stages: ['staging'] })).model_versions;
    assert.deepEqual(byStage(viaGet), { Staging: '3' });
    // registered model's latest_versions: the same rule.
    assert.deepEqual(byStage((await getModel(name)).latest_versions), { Production: '2', Staging: '3', Archived: '4', None: '5' });
  });
});

describe('aliases', () => {
  test('set, get by alias, move, delete; the model lists its aliases and versions list theirs', async () => {
    const name = unique('alias');
    await createModel(name);
    await createVersion(name);
    await createVersion(name);
    expectOk(await p.mlflow('POST', 'registered-models/alias', { name, alias: 'champion', version: '1' }));
    expectOk(await p.mlflow('POST', 'registered-models/alias', { name, alias: 'challenger', version: '2' }));
    let mv = expectOk(await p.mlflow('GET', 'registered-models/alias', { name, alias: 'champion' })).model_version;
    assert.equal(mv.version, '1');
    assert.equal(mv.name, name);
    assert.deepEqual(mv.aliases, ['champion']);
    const model = await getModel(name);
    assert.deepEqual(
      [...model.aliases].sort((a: any, b: any) => a.alias.localeCompare(b.alias)),
      [{ alias: 'challenger', version: '2' }, { alias: 'champion', version: '1' }],
    );
    // Move champion to v2 (upsert).
    expectOk(await p.mlflow('POST', 'registered-models/alias', { name, alias: 'champion', version: '2' }));
    mv = expectOk(await p.mlflow('GET', 'registered-models/alias', { name, alias: 'champion' })).model_version;
    assert.equal(mv.version, '2');
    assert.deepEqual([...mv.aliases].sort(), ['challenger', 'champion']);
    assert.deepEqual((await getVersion(name, '1')).aliases ?? [], []);
    // Delete (DELETE with JSON body); deleting again is a no-op; reading a missing alias is 400.
    expectOk(await p.mlflow('DELETE', 'registered-models/alias', { name, alias: 'champion' }));
    expectOk(await p.mlflow('DELETE', 'registered-models/alias', { name, alias: 'champion' }));
    expectError(await p.mlflow('GET', 'registered-models/alias', { name, alias: 'champion' }), 400, 'INVALID_PARAMETER_VALUE', /champion/);
    assert.deepEqual((await getModel(name)).aliases, [{ alias: 'challenger', version: '2' }]);
  });

  test('an alias must point at an existing version', async () => {
    const name = unique('alias404');
    await createModel(name);
    await createVersion(name);
    expectError(await p.mlflow('POST', 'registered-models/alias', { name, alias: 'prod', version: '3' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('DELETE', 'registered-models/alias', { name: 'no-model-here', alias: 'prod' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('reserved, badly formed and over-long aliases are 400 INVALID_PARAMETER_VALUE', async () => {
    const name = unique('aliasbad');
    await createModel(name);
    await createVersion(name);
    const set = (alias: string) => p.mlflow('POST', 'registered-models/alias', { name, alias, version: '1' });
    for (const reserved of ['latest', 'Latest', 'LATEST']) expectError(await set(reserved), 400, 'INVALID_PARAMETER_VALUE', /latest/i);
    for (const reserved of ['v1', 'V12', 'v007']) expectError(await set(reserved), 400, 'INVALID_PARAMETER_VALUE', /reserved/);
    for (const bad of ['has space', 'dot.ted', 'sl/ash', 'emoji✓', 'semi;colon']) expectError(await set(bad), 400, 'INVALID_PARAMETER_VALUE', /alias/i);
    expectError(await set('a'.repeat(256)), 400, 'INVALID_PARAMETER_VALUE', /255/);
    expectError(await p.mlflow('POST', 'registered-models/alias', { name, version: '1' }), 400, 'INVALID_PARAMETER_VALUE', /alias/);
    // Names that only look reserved are fine.
    for (const ok of ['a'.repeat(255), 'v1a', 'version1', 'latest-good', 'with_under-dash']) expectOk(await set(ok));
    assert.equal((await getModel(name)).aliases.length, 5);
  });
});

describe('searches', () => {
  const P = unique('S');
  let runA: string;
  let runB: string;
  before(async () => {
    runA = expectOk(await p.mlflow('POST', 'runs/create', { start_time: 1 })).run.info.run_id;
    runB = expectOk(await p.mlflow('POST', 'runs/create', { start_time: 2 })).run.info.run_id;
    for (const [suffix, color] of [['apple', 'red'], ['Banana', 'yellow'], ['cherry', 'red'], ['date', 'brown'], ['elder', 'black']] as const) {
      await createModel(`${P}-${suffix}`, { tags: [{ key: 'color', value: color }] });
      await tick();
    }
    // Distinct milliseconds between versions, so last_updated_timestamp orders them unambiguously.
    await createVersion(`${P}-apple`, { run_id: runA, tags: [{ key: 'ok', value: 'yes' }] });
    await tick();
    await createVersion(`${P}-apple`, { run_id: runB });
    await tick();
    await createVersion(`${P}-apple`, { run_id: runA });
    await tick();
    await createVersion(`${P}-cherry`, { run_id: runB, tags: [{ key: 'ok', value: 'no' }] });
  });

  const models = async (fields: Record<string, unknown>) => expectOk(await p.mlflow('GET', 'registered-models/search', fields));
  const modelNames = (body: any) => (body.registered_models ?? []).map((m: any) => m.name);
  const versions = async (fields: Record<string, unknown>) => expectOk(await p.mlflow('GET', 'model-versions/search', fields));
  const versionIds = (body: any) => (body.model_versions ?? []).map((v: any) => `${v.name.slice(P.length + 1)}/${v.version}`);

  test('registered-models/search: name =, LIKE (case-sensitive), ILIKE, tags; default order name ASC', async () => {
    assert.deepEqual(modelNames(await models({ filter: `name = '${P}-apple'` })), [`${P}-apple`]);
    assert.deepEqual(modelNames(await models({ filter: `name LIKE '${P}-%'` })), [`${P}-Banana`, `${P}-apple`, `${P}-cherry`, `${P}-date`, `${P}-elder`]);
    assert.deepEqual(modelNames(await models({ filter: `name LIKE '${P}-b%'` })), []);
    assert.deepEqual(modelNames(await models({ filter: `name ILIKE '${P.toLowerCase()}-b%'` })), [`${P}-Banana`]);
    assert.deepEqual(modelNames(await models({ filter: `tags.color = 'red' AND name LIKE '${P}-%'` })), [`${P}-apple`, `${P}-cherry`]);
    assert.deepEqual(modelNames(await models({ filter: `name != '${P}-apple' AND name LIKE '${P}-%' AND tags.color LIKE 'b%'` })), [`${P}-date`, `${P}-elder`]);
  });

  test('registered-models/search: order_by and paging with next_page_token', async () => {
    const f = { filter: `name LIKE '${P}-%'` };
    assert.deepEqual(modelNames(await models({ ...f, order_by: ['name DESC'] })), [`${P}-elder`, `${P}-date`, `${P}-cherry`, `${P}-apple`, `${P}-Banana`]);
    // apple got versions last, so it was updated last.
    const byUpdate = modelNames(await models({ ...f, order_by: ['last_updated_timestamp DESC'] }));
    assert.equal(byUpdate[0], `${P}-cherry`);
    assert.equal(byUpdate[1], `${P}-apple`);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const body = await models({ ...f, max_results: 2, ...(token ? { page_token: token } : {}) });
      assert.ok(modelNames(body).length <= 2);
      seen.push(...modelNames(body));
      token = body.next_page_token;
      pages++;
      assert.ok(pages < 10);
    } while (token);
    assert.deepEqual(seen, [`${P}-Banana`, `${P}-apple`, `${P}-cherry`, `${P}-date`, `${P}-elder`]);
    assert.equal(pages, 3);
  });

  test('registered-models/search results carry latest_versions and tags', async () => {
    const [apple] = (await models({ filter: `name = '${P}-apple'` })).registered_models;
    assert.deepEqual(kv(apple.tags), { color: 'red' });
    assert.deepEqual(apple.latest_versions.map((v: any) => [v.current_stage, v.version]), [['None', '3']]);
  });

  test('registered-models/search: bad filters, order keys, tokens and max_results are 400', async () => {
    const bad = async (fields: Record<string, unknown>) => expectError(await p.mlflow('GET', 'registered-models/search', fields), 400, 'INVALID_PARAMETER_VALUE');
    await bad({ filter: 'name = apple' });
    await bad({ filter: "run_id = 'x'" });
    await bad({ filter: "name = 'a' OR name = 'b'" });
    await bad({ order_by: ['color ASC'] });
    await bad({ page_token: 'xyz!' });
    await bad({ max_results: 1001 });
    expectOk(await p.mlflow('GET', 'registered-models/search', { max_results: 1000 }));
    assert.equal((await p.mlflow('POST', 'registered-models/search', {})).status, 405, 'search is GET only');
  });

  test('model-versions/search: by name, run_id, run_id IN, tags, version_number', async () => {
    assert.deepEqual(versionIds(await versions({ filter: `name = '${P}-apple'`, order_by: ['version_number ASC'] })), ['apple/1', 'apple/2', 'apple/3']);
    assert.deepEqual(
      versionIds(await versions({ filter: `run_id = '${runA}'`, order_by: ['version_number DESC'] })),
      ['apple/3', 'apple/1'],
    );
    assert.deepEqual(
      versionIds(await versions({ filter: `run_id IN ('${runA}', '${runB}') AND name LIKE '${P}-%'`, order_by: ['name ASC', 'version_number ASC'] })),
      ['apple/1', 'apple/2', 'apple/3', 'cherry/1'],
    );
    assert.deepEqual(versionIds(await versions({ filter: `tags.ok = 'yes' AND name LIKE '${P}-%'` })), ['apple/1']);
    assert.deepEqual(
      versionIds(await versions({ filter: `name = '${P}-apple' AND version_number >= 2`, order_by: ['version_number ASC'] })),
      ['apple/2', 'apple/3'],
    );
    assert.deepEqual(versionIds(await versions({ filter: `source_path = '${source}' AND name = '${P}-cherry'` })), ['cherry/1']);
  });

  test('model-versions/search: default order newest first, and paging', async () => {
    const f = { filter: `name LIKE '${P}-%'` };
    assert.deepEqual(versionIds(await versions(f)), ['cherry/1', 'apple/3', 'apple/2', 'apple/1']);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const body = await versions({ ...f, order_by: ['name ASC', 'version_number ASC'], max_results: 3, ...(token ? { page_token: token } : {}) });
      seen.push(...versionIds(body));
      token = body.next_page_token;
      pages++;
      assert.ok(pages < 10);
    } while (token);
    assert.deepEqual(seen, ['apple/1', 'apple/2', 'apple/3', 'cherry/1']);
    assert.equal(pages, 2);
  });

  test('model-versions/search: bad filters are 400', async () => {
    const bad = async (filter: string) => expectError(await p.mlflow('GET', 'model-versions/search', { filter }), 400, 'INVALID_PARAMETER_VALUE');
    await bad("version_number = 'one'");
    await bad("name IN ('a')");
    await bad("color = 'red'");
    await bad("name = 'a' OR name = 'b'");
  });
});
