// MLflow REST API: experiments (service.proto `CreateExperiment` … `SetExperimentTag`), written from
// MLflow's protos and handlers (see the protocol reference), not from Trellis's implementation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expectError, expectOk, unique } from '../support/replies';
import { startTestPlatform, type TestPlatform } from '../support/platform';

let p: TestPlatform;

async function createExperiment(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const body = expectOk(await p.mlflow('POST', 'experiments/create', { name, ...extra }));
  assert.equal(typeof body.experiment_id, 'string');
  return body.experiment_id;
}

const getExperiment = async (id: string) => expectOk(await p.mlflow('GET', 'experiments/get', { experiment_id: id })).experiment;
const tagsOf = (e: any): Record<string, string> => Object.fromEntries((e.tags ?? []).map((t: any) => [t.key, t.value]));

before(async () => {
  p = await startTestPlatform();
});
after(async () => {
  await p.stop();
});

describe('default experiment', () => {
  test('experiment "0" named Default exists and is active', async () => {
    const e = await getExperiment('0');
    assert.equal(e.experiment_id, '0');
    assert.equal(e.name, 'Default');
    assert.equal(e.lifecycle_stage, 'active');
    assert.equal(e.artifact_location, 'mlflow-artifacts:/0');
    const byName = expectOk(await p.mlflow('GET', 'experiments/get-by-name', { experiment_name: 'Default' })).experiment;
    assert.equal(byName.experiment_id, '0');
  });
});

describe('experiments/create and get', () => {
  test('creates with an autoincrement string id, mlflow-artifacts location, times and tags', async () => {
    const before = Date.now();
    const id = await createExperiment('exp-create', { tags: [{ key: 'team', value: 'vision' }, { key: 'k2', value: '' }] });
    assert.match(id, /^[1-9]\d*$/);
    const e = await getExperiment(id);
    assert.equal(e.experiment_id, id);
    assert.equal(e.name, 'exp-create');
    assert.equal(e.lifecycle_stage, 'active');
    assert.equal(e.artifact_location, `mlflow-artifacts:/${id}`);
    assert.equal(typeof e.creation_time, 'number');
    assert.equal(typeof e.last_update_time, 'number');
    assert.ok(e.creation_time >= before - 1000 && e.creation_time <= Date.now() + 1000, `creation_time ${e.creation_time} is epoch ms`);
    assert.equal(tagsOf(e).team, 'vision');

    const second = await createExperiment('exp-create-2');
    assert.ok(Number(second) > Number(id), 'ids increase');
  });

  test('an explicit artifact_location is kept', async () => {
    const id = await createExperiment(unique('loc'), { artifact_location: 'mlflow-artifacts:/custom/place' });
    assert.equal((await getExperiment(id)).artifact_location, 'mlflow-artifacts:/custom/place');
  });

  test('artifact_location must not be a runs:/ URI', async () => {
    expectError(await p.mlflow('POST', 'experiments/create', { name: unique('runsloc'), artifact_location: 'runs:/abc/model' }), 400, 'INVALID_PARAMETER_VALUE', /runs:/);
  });

  test('get-by-name finds it', async () => {
    const name = unique('by-name');
    const id = await createExperiment(name);
    const e = expectOk(await p.mlflow('GET', 'experiments/get-by-name', { experiment_name: name })).experiment;
    assert.equal(e.experiment_id, id);
    assert.equal(e.name, name);
  });

  test('experiment_id / experiment_ids may be sent as JSON numbers (MLflow str()-s them before parsing)', async () => {
    const id = await createExperiment(unique('numeric-id'));
    expectOk(await p.mlflow('POST', 'experiments/set-experiment-tag', { experiment_id: Number(id), key: 'n', value: 'v' }));
    assert.equal(tagsOf(await getExperiment(id)).n, 'v');
    const run = expectOk(await p.mlflow('POST', 'runs/create', { experiment_id: Number(id), start_time: 1 })).run;
    assert.equal(run.info.experiment_id, id);
    const found = expectOk(await p.mlflow('POST', 'runs/search', { experiment_ids: [Number(id)] }));
    assert.deepEqual(found.runs.map((r: any) => r.info.run_id), [run.info.run_id]);
  });

  test('a duplicate name is RESOURCE_ALREADY_EXISTS with HTTP 400, also against a deleted experiment', async () => {
    const name = unique('dup');
    const id = await createExperiment(name);
    expectError(await p.mlflow('POST', 'experiments/create', { name }), 400, 'RESOURCE_ALREADY_EXISTS', new RegExp(name));
    expectOk(await p.mlflow('POST', 'experiments/delete', { experiment_id: id }));
    expectError(await p.mlflow('POST', 'experiments/create', { name }), 400, 'RESOURCE_ALREADY_EXISTS');
  });

  test('missing or empty name is rejected naming the field', async () => {
    expectError(await p.mlflow('POST', 'experiments/create', {}), 400, 'INVALID_PARAMETER_VALUE', /Missing value for required parameter 'name'/);
    expectError(await p.mlflow('POST', 'experiments/create', { name: '' }), 400, 'INVALID_PARAMETER_VALUE', /'name'/);
  });

  test('names longer than 500 characters are rejected; 500 is fine', async () => {
    expectError(await p.mlflow('POST', 'experiments/create', { name: 'x'.repeat(501) }), 400, 'INVALID_PARAMETER_VALUE', /name/i);
    await createExperiment('y'.repeat(500));
  });

  test('unknown ids and names are 404 RESOURCE_DOES_NOT_EXIST', async () => {
    expectError(await p.mlflow('GET', 'experiments/get', { experiment_id: '987654' }), 404, 'RESOURCE_DOES_NOT_EXIST', /987654/);
    expectError(await p.mlflow('GET', 'experiments/get-by-name', { experiment_name: 'no such experiment' }), 404, 'RESOURCE_DOES_NOT_EXIST', /no such experiment/);
  });

  test('get requires experiment_id, get-by-name requires experiment_name', async () => {
    expectError(await p.mlflow('GET', 'experiments/get', { other: 'x' }), 400, 'INVALID_PARAMETER_VALUE', /'experiment_id'/);
    expectError(await p.mlflow('GET', 'experiments/get-by-name', { other: 'x' }), 400, 'INVALID_PARAMETER_VALUE', /'experiment_name'/);
  });
});

describe('experiments/update', () => {
  test('renames: the new name resolves, the old one no longer does, last_update_time advances', async () => {
    const oldName = unique('rename-old');
    const newName = unique('rename-new');
    const id = await createExperiment(oldName);
    const before = await getExperiment(id);
    await new Promise((r) => setTimeout(r, 5));
    expectOk(await p.mlflow('POST', 'experiments/update', { experiment_id: id, new_name: newName }));
    const e = await getExperiment(id);
    assert.equal(e.name, newName);
    assert.ok(e.last_update_time >= before.last_update_time);
    assert.equal(expectOk(await p.mlflow('GET', 'experiments/get-by-name', { experiment_name: newName })).experiment.experiment_id, id);
    expectError(await p.mlflow('GET', 'experiments/get-by-name', { experiment_name: oldName }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('renaming onto an existing name is a 400 and changes nothing', async () => {
    const a = unique('ra');
    const b = unique('rb');
    const idA = await createExperiment(a);
    await createExperiment(b);
    const res = await p.mlflow('POST', 'experiments/update', { experiment_id: idA, new_name: b });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.ok(['RESOURCE_ALREADY_EXISTS', 'BAD_REQUEST', 'INVALID_PARAMETER_VALUE'].includes(res.body.error_code), res.body.error_code);
    assert.equal((await getExperiment(idA)).name, a);
  });

  test('an unknown experiment is 404; a missing new_name is a 400', async () => {
    const id = await createExperiment(unique('rename-missing'));
    expectError(await p.mlflow('POST', 'experiments/update', { experiment_id: id }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await p.mlflow('POST', 'experiments/update', { experiment_id: '99999', new_name: unique('x') }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('a missing new_name is reported by its field name', async () => {
    const id = await createExperiment(unique('rename-msg'));
    expectError(await p.mlflow('POST', 'experiments/update', { experiment_id: id }), 400, 'INVALID_PARAMETER_VALUE', /'new_name'/);
  });

  test('a deleted experiment cannot be renamed', async () => {
    const name = unique('rename-deleted');
    const id = await createExperiment(name);
    expectOk(await p.mlflow('POST', 'experiments/delete', { experiment_id: id }));
    const res = await p.mlflow('POST', 'experiments/update', { experiment_id: id, new_name: unique('nope') });
    // MLflow answers INVALID_STATE (HTTP 500); a 400 INVALID_PARAMETER_VALUE is the non-retried equivalent.
    assert.ok(
      (res.status === 500 && res.body.error_code === 'INVALID_STATE') || (res.status === 400 && res.body.error_code === 'INVALID_PARAMETER_VALUE'),
      JSON.stringify(res),
    );
    assert.equal((await getExperiment(id)).name, name);
  });
});

describe('experiments/delete and restore', () => {
  test('delete marks deleted (still readable by id and name), restore reactivates; both guard the current state', async () => {
    const name = unique('lifecycle');
    const id = await createExperiment(name);
    expectOk(await p.mlflow('POST', 'experiments/delete', { experiment_id: id }));
    const deleted = await getExperiment(id);
    assert.equal(deleted.lifecycle_stage, 'deleted');
    assert.equal(expectOk(await p.mlflow('GET', 'experiments/get-by-name', { experiment_name: name })).experiment.lifecycle_stage, 'deleted');
    // Deleting again: only active experiments can be deleted.
    expectError(await p.mlflow('POST', 'experiments/delete', { experiment_id: id }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectOk(await p.mlflow('POST', 'experiments/restore', { experiment_id: id }));
    assert.equal((await getExperiment(id)).lifecycle_stage, 'active');
    expectError(await p.mlflow('POST', 'experiments/restore', { experiment_id: id }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('deleting an experiment deletes its runs; restoring restores them', async () => {
    const id = await createExperiment(unique('with-runs'));
    const run = expectOk(await p.mlflow('POST', 'runs/create', { experiment_id: id, start_time: 1 })).run;
    expectOk(await p.mlflow('POST', 'experiments/delete', { experiment_id: id }));
    assert.equal(expectOk(await p.mlflow('GET', 'runs/get', { run_id: run.info.run_id })).run.info.lifecycle_stage, 'deleted');
    expectOk(await p.mlflow('POST', 'experiments/restore', { experiment_id: id }));
    assert.equal(expectOk(await p.mlflow('GET', 'runs/get', { run_id: run.info.run_id })).run.info.lifecycle_stage, 'active');
  });

  test('unknown ids are 404, a missing id is a 400 naming experiment_id', async () => {
    expectError(await p.mlflow('POST', 'experiments/delete', { experiment_id: '424242' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('POST', 'experiments/restore', { experiment_id: '424242' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('POST', 'experiments/delete', {}), 400, 'INVALID_PARAMETER_VALUE', /'experiment_id'/);
  });
});

describe('experiments/set-experiment-tag', () => {
  test('sets and overwrites (upsert)', async () => {
    const id = await createExperiment(unique('tags'));
    expectOk(await p.mlflow('POST', 'experiments/set-experiment-tag', { experiment_id: id, key: 'stage', value: 'one' }));
    expectOk(await p.mlflow('POST', 'experiments/set-experiment-tag', { experiment_id: id, key: 'stage', value: 'two' }));
    expectOk(await p.mlflow('POST', 'experiments/set-experiment-tag', { experiment_id: id, key: 'mlflow.note.content', value: 'notes' }));
    const e = await getExperiment(id);
    assert.deepEqual(tagsOf(e), { stage: 'two', 'mlflow.note.content': 'notes' });
    assert.equal(e.tags.filter((t: any) => t.key === 'stage').length, 1);
  });

  test('a deleted experiment refuses tags with 400 INVALID_PARAMETER_VALUE', async () => {
    const id = await createExperiment(unique('tags-deleted'));
    expectOk(await p.mlflow('POST', 'experiments/delete', { experiment_id: id }));
    expectError(await p.mlflow('POST', 'experiments/set-experiment-tag', { experiment_id: id, key: 'k', value: 'v' }), 400, 'INVALID_PARAMETER_VALUE', /active/);
  });

  test('missing key, unknown experiment and over-long keys are rejected', async () => {
    const id = await createExperiment(unique('tags-bad'));
    expectError(await p.mlflow('POST', 'experiments/set-experiment-tag', { experiment_id: id, value: 'v' }), 400, 'INVALID_PARAMETER_VALUE', /'key'/);
    expectError(await p.mlflow('POST', 'experiments/set-experiment-tag', { experiment_id: '777777', key: 'k', value: 'v' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    expectError(await p.mlflow('POST', 'experiments/set-experiment-tag', { experiment_id: id, key: 'k'.repeat(251), value: 'v' }), 400, 'INVALID_PARAMETER_VALUE', /key|name/i);
    assert.deepEqual(tagsOf(await getExperiment(id)), {});
  });
});

describe('experiments/search', () => {
  // A fresh, known set: names share a prefix so filters can isolate them from the experiments above.
  const ids: Record<string, string> = {};
  const P = 'srch';
  before(async () => {
    for (const [name, tag] of [
      ['alpha', 'red'],
      ['Beta', 'blue'],
      ['gamma', 'red'],
      ['delta', 'green'],
      ['epsilon', 'blue'],
    ] as const) {
      ids[name] = await createExperiment(`${P}-${name}`, { tags: [{ key: 'color', value: tag }, { key: 'extra-key', value: `${name}!` }] });
      await new Promise((r) => setTimeout(r, 3)); // distinct creation_time for ordering
    }
    expectOk(await p.mlflow('POST', 'experiments/delete', { experiment_id: ids.delta! }));
  });

  const search = async (fields: Record<string, unknown>, method: 'POST' | 'GET' = 'POST') =>
    expectOk(await p.mlflow(method, 'experiments/search', { max_results: 1000, ...fields }));
  const names = (body: any): string[] => (body.experiments ?? []).map((e: any) => e.name);

  test('filter on name with =, LIKE (case-sensitive) and ILIKE; active only by default', async () => {
    assert.deepEqual(names(await search({ filter: `name = '${P}-alpha'` })), [`${P}-alpha`]);
    assert.deepEqual(names(await search({ filter: `attribute.name = '${P}-alpha'` })), [`${P}-alpha`]);
    assert.deepEqual(names(await search({ filter: `name LIKE '${P}-%a'`, order_by: ['name ASC'] })), [`${P}-Beta`, `${P}-alpha`, `${P}-gamma`].sort());
    assert.deepEqual(names(await search({ filter: `name LIKE '${P}-b%'` })), []);
    assert.deepEqual(names(await search({ filter: `name ILIKE '${P}-b%'` })), [`${P}-Beta`]);
    assert.deepEqual(names(await search({ filter: `name != '${P}-alpha' AND name LIKE '${P}-%'`, order_by: ['name ASC'] })), [`${P}-Beta`, `${P}-epsilon`, `${P}-gamma`]);
  });

  test('filter on tags, including a backticked key with a dash', async () => {
    assert.deepEqual(names(await search({ filter: `tags.color = 'red' AND name LIKE '${P}-%'`, order_by: ['name ASC'] })), [`${P}-alpha`, `${P}-gamma`]);
    assert.deepEqual(names(await search({ filter: "tags.`extra-key` = 'gamma!'" })), [`${P}-gamma`]);
    assert.deepEqual(names(await search({ filter: `tag.color ILIKE 'BL%' AND name LIKE '${P}-%'`, order_by: ['name ASC'] })), [`${P}-Beta`, `${P}-epsilon`]);
  });

  test('filter on creation_time numerically', async () => {
    const alpha = await getExperiment(ids.alpha!);
    const found = names(await search({ filter: `creation_time > ${alpha.creation_time} AND name LIKE '${P}-%'`, order_by: ['name ASC'] }));
    assert.ok(!found.includes(`${P}-alpha`));
    assert.ok(found.includes(`${P}-epsilon`));
  });

  test('view_type ACTIVE_ONLY, DELETED_ONLY and ALL', async () => {
    const f = { filter: `name LIKE '${P}-%'` };
    assert.ok(!names(await search(f)).includes(`${P}-delta`));
    assert.deepEqual(names(await search({ ...f, view_type: 'DELETED_ONLY' })), [`${P}-delta`]);
    const all = names(await search({ ...f, view_type: 'ALL' }));
    assert.equal(all.length, 5);
    assert.ok(all.includes(`${P}-delta`));
  });

  test('order_by name ASC/DESC and the default newest-first order', async () => {
    const f = { filter: `name LIKE '${P}-%'` };
    const asc = names(await search({ ...f, order_by: ['name ASC'] }));
    assert.deepEqual(asc, [...asc].sort());
    assert.equal(asc.length, 4);
    assert.deepEqual(names(await search({ ...f, order_by: ['name DESC'] })), [...asc].reverse());
    // Default: creation_time DESC.
    assert.deepEqual(names(await search(f)), [`${P}-epsilon`, `${P}-gamma`, `${P}-Beta`, `${P}-alpha`]);
    assert.deepEqual(names(await search({ ...f, order_by: ['creation_time ASC'] })), [`${P}-alpha`, `${P}-Beta`, `${P}-gamma`, `${P}-epsilon`]);
    assert.deepEqual(names(await search({ ...f, order_by: ['experiment_id DESC'] })), [`${P}-epsilon`, `${P}-gamma`, `${P}-Beta`, `${P}-alpha`]);
  });

  test('GET with query parameters works like POST (repeated order_by)', async () => {
    const body = await search({ filter: `name LIKE '${P}-%'`, order_by: ['name DESC'], view_type: 'ALL' }, 'GET');
    assert.deepEqual(names(body), [`${P}-gamma`, `${P}-epsilon`, `${P}-delta`, `${P}-alpha`, `${P}-Beta`]);
  });

  test('pages with max_results and next_page_token; the last page has no token', async () => {
    const f = { filter: `name LIKE '${P}-%'`, order_by: ['name ASC'], view_type: 'ALL', max_results: 2 };
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const body = await search({ ...f, ...(token ? { page_token: token } : {}) });
      const page = names(body);
      assert.ok(page.length <= 2);
      seen.push(...page);
      token = body.next_page_token;
      pages++;
      assert.ok(pages < 10, 'paging terminates');
    } while (token);
    assert.deepEqual(seen, [`${P}-Beta`, `${P}-alpha`, `${P}-delta`, `${P}-epsilon`, `${P}-gamma`]);
    assert.equal(pages, 3);
    // Exactly one full page: experiments fetch max+1, so no token when nothing follows.
    const exact = await search({ filter: `name LIKE '${P}-%'`, max_results: 4 });
    assert.equal(names(exact).length, 4);
    assert.equal(exact.next_page_token, undefined);
  });

  test('max_results unset returns results (treated as the default), over 50000 is rejected', async () => {
    const res = await p.mlflow('POST', 'experiments/search', { filter: `name = '${P}-alpha'` });
    assert.deepEqual(names(expectOk(res)), [`${P}-alpha`]);
    expectError(await p.mlflow('POST', 'experiments/search', { max_results: 50001 }), 400, 'INVALID_PARAMETER_VALUE', /max_results/);
  });

  test('bad filters, order_by keys, view types and page tokens are 400 INVALID_PARAMETER_VALUE', async () => {
    expectError(await p.mlflow('POST', 'experiments/search', { max_results: 10, filter: 'name = ' }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await p.mlflow('POST', 'experiments/search', { max_results: 10, filter: "bogus.name = 'x'" }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await p.mlflow('POST', 'experiments/search', { max_results: 10, filter: "name = 'a' OR name = 'b'" }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await p.mlflow('POST', 'experiments/search', { max_results: 10, filter: "creation_time > 'abc'" }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await p.mlflow('POST', 'experiments/search', { max_results: 10, order_by: ['color ASC'] }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await p.mlflow('POST', 'experiments/search', { max_results: 10, view_type: 'SOMETIMES' }), 400, 'INVALID_PARAMETER_VALUE');
    expectError(await p.mlflow('POST', 'experiments/search', { max_results: 10, page_token: 'not-a-token!' }), 400, 'INVALID_PARAMETER_VALUE', /page token/i);
  });

  test('returned experiments carry the full Experiment shape', async () => {
    const [e] = (await search({ filter: `name = '${P}-gamma'` })).experiments;
    assert.equal(e.experiment_id, ids.gamma);
    assert.equal(e.artifact_location, `mlflow-artifacts:/${ids.gamma}`);
    assert.equal(e.lifecycle_stage, 'active');
    assert.equal(typeof e.creation_time, 'number');
    assert.equal(typeof e.last_update_time, 'number');
    assert.deepEqual(tagsOf(e), { color: 'red', 'extra-key': 'gamma!' });
  });
});
