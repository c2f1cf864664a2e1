// The built CLI (`node dist/cli.js`) as a child process against a temp data directory: through a running
// server found in server.json, and in process when there is none.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/platform';
import { cli, ensureBuilt, parseExposition, readServerJson, sampleValue, startServerProcess, type Finished, type ServerProcess } from '../fixtures/processes';

const ok = (r: Finished, what: string): string => {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
};
const json = (r: Finished, what: string): any => JSON.parse(ok(r, what));

describe('trellis CLI', () => {
  const { dir, cleanup } = tempDir('trellis-cli-');
  let server: ServerProcess | undefined;
  const runs: Record<string, string> = {}; // run name → id
  let experimentId = '';

  const mlflow = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${server!.info.url}/api/2.0/mlflow/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const parsed = (await res.json()) as any;
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(parsed)}`);
    return parsed;
  };
  const searchCount = async (): Promise<number> => {
    const text = await (await fetch(`${server!.info.url}/metrics`)).text();
    return sampleValue(parseExposition(text), 'trellis_http_requests_total', { route: '/api/2.0/mlflow/runs/search', method: 'POST', status: '200' });
  };

  before(() => ensureBuilt());
  after(async () => {
    await server?.stop('SIGKILL');
    cleanup();
  });

  test('--help at the top level and for every command group exits 0 and lists the subcommands', async () => {
    const expected: [string[], string[]][] = [
      [[], ['server', 'experiments', 'runs', 'models']],
      [['experiments'], ['list', 'create']],
      [['runs'], ['list', 'show']],
      [['models'], ['list', 'show', 'register', 'alias']],
      [['models', 'alias'], ['set', 'delete']],
      [['server'], ['--host', '--port']],
      [['runs', 'list'], ['--experiment', '--filter', '--order-by', '--json']],
      [['models', 'register'], ['--name']],
    ];
    const results = await Promise.all(expected.map(([cmd]) => cli(dir, ...cmd, '--help')));
    expected.forEach(([cmd, names], i) => {
      const out = ok(results[i]!, `${cmd.join(' ')} --help`);
      assert.match(out, /^Usage: trellis/m);
      for (const name of names) {
        // A subcommand starts its line; an option may follow its short form (`-e, --experiment`).
        const listed = name.startsWith('--') ? new RegExp(`^\\s+(-\\w, )?${name}\\b`, 'm') : new RegExp(`^\\s+${name}\\b`, 'm');
        assert.match(out, listed, `'${cmd.join(' ')} --help' lists ${name}`);
      }
    });
  });

  test('an unknown command exits non-zero', async () => {
    const r = await cli(dir, 'frobnicate');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown command/i);
  });

  test('experiments create X (no server: in process), then experiments list --json shows it', async () => {
    assert.equal(existsSync(join(dir, 'server.json')), false);
    const created = json(await cli(dir, 'experiments', 'create', 'X', '--json'), 'experiments create');
    assert.equal(created.name, 'X');
    experimentId = created.experiment_id;
    assert.match(experimentId, /^\d+$/);
    const list = json(await cli(dir, 'experiments', 'list', '--json'), 'experiments list');
    const x = list.find((e: any) => e.name === 'X');
    assert.equal(x?.experiment_id, experimentId);
    assert.equal(x.lifecycle_stage, 'active');

    const again = await cli(dir, 'experiments', 'create', 'X');
    assert.notEqual(again.code, 0, 'a duplicate name fails');
    assert.match(again.stderr, /X/);
  });

  test('the CLI finds the running server in server.json and lists runs logged over HTTP, filtered and ordered', async () => {
    server = await startServerProcess(dir);
    assert.equal(readServerJson(dir)?.pid, server.child.pid);
    for (const [name, acc] of [['low', 0.3], ['best', 0.9], ['mid', 0.7], ['edge', 0.6], ['half', 0.5]] as const) {
      const run = await mlflow('POST', 'runs/create', { experiment_id: experimentId, run_name: name });
      runs[name] = run.run.info.run_id;
      await mlflow('POST', 'runs/log-batch', {
        run_id: runs[name],
        metrics: [
          { key: 'acc', value: acc / 2, timestamp: 1, step: 0 },
          { key: 'acc', value: acc, timestamp: 2, step: 1 },
        ],
        params: [{ key: 'lr', value: '0.01' }, { key: 'layers', value: String(Math.round(acc * 10)) }],
      });
    }
    const searchesBefore = await searchCount();
    const list = json(
      await cli(dir, 'runs', 'list', '--experiment', 'X', '--filter', 'metrics.acc > 0.5', '--order-by', 'metrics.acc DESC', '--json'),
      'runs list',
    );
    assert.deepEqual(
      list.map((r: any) => r.info.run_name),
      ['best', 'mid', 'edge'],
    );
    assert.deepEqual(list.map((r: any) => r.info.run_id), [runs.best, runs.mid, runs.edge]);
    assert.equal(list[0].data.metrics.find((m: any) => m.key === 'acc').value, 0.9, 'latest value, not the first');
    assert.equal(await searchCount(), searchesBefore + 1, 'the CLI searched through the running server');

    const byId = json(await cli(dir, 'runs', 'list', '-e', experimentId, '--order-by', 'metrics.acc ASC', '--json'), 'runs list by id');
    assert.deepEqual(byId.map((r: any) => r.info.run_name), ['low', 'half', 'edge', 'mid', 'best']);

    const text = ok(await cli(dir, 'runs', 'list', '--experiment', 'X', '--filter', "params.lr = '0.01' AND metrics.acc >= 0.7"), 'runs list (table)');
    assert.match(text, /RUN ID/);
    assert.match(text, new RegExp(runs.best!));
    assert.match(text, new RegExp(runs.mid!));
    assert.doesNotMatch(text, new RegExp(runs.low!));
  });

  test('runs show <id> prints params, latest metrics and artifacts', async () => {
    const id = runs.best!;
    const put = await fetch(`${server!.info.url}/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${id}/artifacts/model/model.onnx`, {
      method: 'PUT',
      body: Buffer.from('not really onnx, 28 bytes..'),
    });
    assert.equal(put.status, 200);
    const text = ok(await cli(dir, 'runs', 'show', id), 'runs show');
    assert.match(text, new RegExp(`Run ${id} \\(best\\)`));
    assert.match(text, /^Params$/m);
    assert.match(text, /^lr\s+0\.01$/m);
    assert.match(text, /^layers\s+9$/m);
    assert.match(text, /^Metrics \(latest\)$/m);
    assert.match(text, /^acc\s+0\.90*\s+1$/m);
    assert.match(text, /^Artifacts$/m);
    assert.match(text, /^model\/\s*$/m);

    const shown = json(await cli(dir, 'runs', 'show', id, '--json'), 'runs show --json');
    assert.equal(shown.info.run_id, id);
    assert.deepEqual(shown.data.params.map((p: any) => p.key).sort(), ['layers', 'lr']);
    assert.deepEqual(shown.artifacts, [{ path: 'model', is_dir: true }]);
  });

  test('models register creates version 1, then 2; a missing artifact path fails naming the path', async () => {
    const id = runs.best!;
    const v1 = json(await cli(dir, 'models', 'register', id, 'model/model.onnx', '--name', 'M', '--json'), 'models register');
    assert.equal(v1.name, 'M');
    assert.equal(v1.version, '1');
    assert.equal(v1.run_id, id);
    assert.equal(v1.source, `mlflow-artifacts:/${experimentId}/${id}/artifacts/model/model.onnx`);
    const v2 = ok(await cli(dir, 'models', 'register', id, 'model/model.onnx', '--name', 'M'), 'models register (2)');
    assert.match(v2, /version 2/);

    const missing = await cli(dir, 'models', 'register', id, 'model/missing.onnx', '--name', 'M');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /model\/missing\.onnx/);
    const noDir = await cli(dir, 'models', 'register', id, 'nowhere/model.onnx', '--name', 'M');
    assert.notEqual(noDir.code, 0);
    assert.match(noDir.stderr, /nowhere\/model\.onnx/);

    const shown = json(await cli(dir, 'models', 'show', 'M', '--json'), 'models show');
    assert.deepEqual(shown.versions.map((v: any) => v.version), ['2', '1'], 'the failed registrations created no version');
  });

  test('models alias set / show / delete', async () => {
    ok(await cli(dir, 'models', 'alias', 'set', 'M', 'champion', '1'), 'alias set');
    let shown = json(await cli(dir, 'models', 'show', 'M', '--json'), 'models show');
    assert.deepEqual(shown.aliases, [{ alias: 'champion', version: '1' }]);
    assert.deepEqual(shown.versions.find((v: any) => v.version === '1').aliases, ['champion']);

    ok(await cli(dir, 'models', 'alias', 'set', 'M', 'champion', '2'), 'alias move');
    shown = json(await cli(dir, 'models', 'show', 'M', '--json'), 'models show');
    assert.deepEqual(shown.aliases, [{ alias: 'champion', version: '2' }]);

    const text = ok(await cli(dir, 'models', 'list'), 'models list');
    assert.match(text, /^M\s+2\s+champion→v2/m);

    ok(await cli(dir, 'models', 'alias', 'delete', 'M', 'champion'), 'alias delete');
    shown = json(await cli(dir, 'models', 'show', 'M', '--json'), 'models show');
    assert.deepEqual(shown.aliases, []);

    const badVersion = await cli(dir, 'models', 'alias', 'set', 'M', 'champion', '7');
    assert.notEqual(badVersion.code, 0);
    assert.match(badVersion.stderr, /7/);
  });

  test('an unknown run id exits non-zero with an error on stderr', async () => {
    const r = await cli(dir, 'runs', 'show', 'no-such-run');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no-such-run/);
    assert.match(r.stderr, /RESOURCE_DOES_NOT_EXIST|not found/);
    assert.equal(r.stdout, '');
    const reg = await cli(dir, 'models', 'register', 'no-such-run', 'model/model.onnx', '--name', 'M');
    assert.notEqual(reg.code, 0);
    assert.match(reg.stderr, /no-such-run/);
  });

  test('a bad filter exits non-zero with the grammar error', async () => {
    const r = await cli(dir, 'runs', 'list', '--experiment', 'X', '--filter', 'metrics.acc >>> 0.5');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /INVALID_PARAMETER_VALUE/);
    assert.match(r.stderr, /comparator '>>>'/);
    const r2 = await cli(dir, 'runs', 'list', '--experiment', 'X', '--filter', 'bogus.acc > 1');
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /bogus/);
    const r3 = await cli(dir, 'runs', 'list', '--experiment', 'no-such-experiment');
    assert.notEqual(r3.code, 0);
    assert.match(r3.stderr, /no-such-experiment/);
  });

  test('after the server stops, the CLI works in process on the same data dir', async () => {
    const stopped = await server!.stop('SIGTERM');
    assert.equal(stopped.code, 0);
    assert.equal(existsSync(join(dir, 'server.json')), false);
    server = undefined;
    const list = json(
      await cli(dir, 'runs', 'list', '--experiment', 'X', '--filter', 'metrics.acc > 0.5', '--order-by', 'metrics.acc DESC', '--json'),
      'runs list (in process)',
    );
    assert.deepEqual(list.map((r: any) => r.info.run_id), [runs.best, runs.mid, runs.edge]);
    const shown = json(await cli(dir, 'models', 'show', 'M', '--json'), 'models show (in process)');
    assert.deepEqual(shown.versions.map((v: any) => v.version), ['2', '1']);
    ok(await cli(dir, 'models', 'register', runs.best!, 'model/model.onnx', '--name', 'M'), 'register (in process)');
    const after = json(await cli(dir, 'models', 'show', 'M', '--json'), 'models show');
    assert.equal(after.versions[0].version, '3');
  });

  test('a stale server.json (killed server) does not stop the CLI', async () => {
    const killed = await startServerProcess(dir);
    await killed.stop('SIGKILL');
    assert.equal(readServerJson(dir)?.pid, killed.info.pid, 'server.json of the killed server remains');
    const list = json(await cli(dir, 'experiments', 'list', '--json'), 'experiments list (stale server.json)');
    assert.ok(list.some((e: any) => e.name === 'X'));
    const shown = json(await cli(dir, 'runs', 'show', runs.mid!, '--json'), 'runs show (stale server.json)');
    assert.equal(shown.info.run_name, 'mid');
  });
});
