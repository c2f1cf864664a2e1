// `trellis loadtest --model NAME@ALIAS`: the built CLI finds the endpoint `trellis serve` announced,
// makes bodies from the served model's signature, and every request is a valid inference.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/core/store';
import { startServingServer, type ServingServer } from '../../src/server/serving-server';
import { mlpModel, MLP_INPUT } from '../fixtures/onnx-models';
import { cli, ensureBuilt } from '../fixtures/processes';
import { tempDir } from '../support/platform';
import { registerModel } from '../support/models';

describe('loadtest --model', () => {
  const { dir, cleanup } = tempDir('trellis-loadtest-model-');
  let store: Store;
  let serving: ServingServer;

  before(async () => {
    ensureBuilt();
    store = openStore(dir);
    await registerModel(store, 'digits', mlpModel({ seed: 3 }).bytes, { alias: 'champion' });
    store.close();
    serving = await startServingServer({ dataDir: dir, models: ['digits@champion'], port: 0, workers: 1, announce: true, version: 'test' });
  });
  after(async () => {
    await serving?.close();
    cleanup();
  });

  test('random bodies from the signature: every request is answered 200 and the run records the model', async () => {
    const res = await cli(dir, 'loadtest', '--model', 'digits@champion', '-c', '2', '-n', '40', '--json');
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.equal(out.result.requests, 40);
    assert.equal(out.result.ok, 40, JSON.stringify(out.result.errors));
    assert.match(out.target, /\/v2\/models\/digits\/versions\/1\/infer$|\/v2\/models\/digits\/infer$/);
    store = openStore(dir);
    try {
      const run = store.runs.get(out.run_id);
      assert.ok(run.data.params.some((p) => p.key === 'model' && p.value === 'digits@champion'), JSON.stringify(run.data.params));
    } finally {
      store.close();
    }
  });

  test('--rows: sample rows become the bodies', async () => {
    const rows = join(dir, 'rows.jsonl');
    writeFileSync(rows, [0, 1, 2].map((k) => JSON.stringify(Array.from({ length: MLP_INPUT }, (_, i) => ((i + k) % 7) / 7))).join('\n'));
    const res = await cli(dir, 'loadtest', '--model', 'digits@champion', '--rows', rows, '-c', '1', '-n', '9', '--no-record', '--json');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(JSON.parse(res.stdout).result.ok, 9);
  });

  test('a model nobody serves, or a URL and --model together, fail before any traffic with a clear message', async () => {
    const none = await cli(dir, 'loadtest', '--model', 'digits@staging', '-n', '5', '--no-record');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /No running endpoint serves digits@staging.*trellis serve --model digits@staging/s);
    const both = await cli(dir, 'loadtest', 'http://127.0.0.1:1/', '--model', 'digits@champion', '-n', '5', '--no-record');
    assert.equal(both.code, 1);
    assert.match(both.stderr, /either the endpoint URL or --model/);
  });
});
