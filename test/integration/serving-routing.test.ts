// Routing and rollout on the real model server (onnxruntime engines, real HTTP): weighted canary split,
// sticky by a header, shadow traffic, an alias moved in the registry by another connection taking over
// without a failed request (the old version drains), local replicas sharing the load, and remote
// replicas (other real serving servers) with one killed: ejected, and no request lost.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/core/store';
import { startServingServer, type ServingServer } from '../../src/server/serving-server';
import { chooseTarget } from '../../src/services/serving/traffic-route';
import { heavyModel, mlpModel, MLP_INPUT } from '../fixtures/onnx-models';
import { registerModel } from '../support/models';
import { tempDir } from '../support/platform';

const tmp = tempDir('trellis-routing-');
let store: Store;
const mlp = mlpModel();
const row = Array.from({ length: MLP_INPUT }, (_, i) => (i % 7) / 7);
const body = JSON.stringify({ inputs: [{ name: 'x', shape: [1, MLP_INPUT], datatype: 'FP32', data: row }] });

before(async () => {
  store = openStore(tmp.dir);
  // Two versions of the same MLP (the version in each reply tells them apart) and a slow model for draining.
  await registerModel(store, 'mlp', mlp.bytes, { alias: 'champion' });
  await registerModel(store, 'mlp', mlpModel({ seed: 2 }).bytes, { alias: 'challenger' });
  const heavy = heavyModel({ width: 256, depth: 48 });
  await registerModel(store, 'slow', heavy.bytes, { alias: 'prod' });
  await registerModel(store, 'slow', heavy.bytes);
});
after(() => {
  store.db.close();
  tmp.cleanup();
});

const serve = (options: Partial<Parameters<typeof startServingServer>[0]>) =>
  startServingServer({ dataDir: tmp.dir, models: [], announce: false, version: 'test', log: () => {}, ...options });

async function infer(server: ServingServer, path = '/v2/models/mlp/infer', headers: Record<string, string> = {}, payload = body): Promise<{ status: number; version: string }> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload });
  const reply = (await res.json()) as { model_version?: string; error?: string };
  return { status: res.status, version: reply.model_version ?? reply.error ?? '' };
}

/** Requests with at most 8 in flight: the test measures routing, not admission. */
async function inferMany(server: ServingServer, count: number, headers: (i: number) => Record<string, string> = () => ({})): Promise<{ status: number; version: string }[]> {
  const out: { status: number; version: string }[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await infer(server, undefined, headers(i));
    }
  }));
  return out;
}

const metric = async (server: ServingServer, pattern: RegExp): Promise<number> => {
  const m = pattern.exec(await (await fetch(`${server.url}/metrics`)).text());
  return m ? Number(m[1]) : 0;
};

test('sticky routing: the same header value always picks the same target, spread in proportion to weight', () => {
  const spec = { targets: [{ ref: 'a', weight: 90 }, { ref: 'b', weight: 10 }, { ref: 'c', weight: 0 }] };
  let b = 0;
  for (let i = 0; i < 2000; i++) {
    const first = chooseTarget(spec, `u${i}`);
    assert.equal(chooseTarget(spec, `u${i}`), first);
    assert.notEqual(first, 'c', 'a zero weight is never chosen');
    if (first === 'b') b++;
  }
  // 10 % of 2000 = 200; binomial σ ≈ 13.4: ±5σ.
  assert.ok(b > 133 && b < 267, `b took ${b} of 2000`);
});

test('canary: about the weighted share of requests without a version goes to the challenger; sticky clients stay put', async () => {
  const server = await serve({ models: ['mlp@champion'], routes: { mlp: { targets: [{ ref: 'mlp@champion', weight: 75 }, { ref: 'mlp@challenger', weight: 25 }], stickyHeader: 'x-user' } } });
  try {
    const replies = await inferMany(server, 400, (i) => ({ 'x-user': `u${i}` }));
    assert.ok(replies.every((r) => r.status === 200));
    const challenger = replies.filter((r) => r.version === '2').length;
    // 25 % of 400 = 100; σ ≈ 8.7: ±5σ.
    assert.ok(challenger > 56 && challenger < 144, `challenger served ${challenger} of 400`);
    for (const i of [0, 1, 2, 3, 4, 5]) {
      const again = await Promise.all(Array.from({ length: 5 }, () => infer(server, undefined, { 'x-user': `u${i}` })));
      assert.deepEqual(new Set(again.map((r) => r.version)), new Set([replies[i]!.version]), `u${i} stays on version ${replies[i]!.version}`);
    }
    // An explicit version bypasses the route.
    assert.equal((await infer(server, '/v2/models/mlp/versions/2/infer')).version, '2');
    assert.equal(await metric(server, /trellis_inference_requests_total\{model="mlp",version="2",outcome="ok"\} (\d+)/), challenger + 1 + replies.slice(0, 6).filter((r) => r.version === '2').length * 5);
  } finally {
    await server.close();
  }
});

test('shadow: every request is copied to the shadow, measured, and its reply discarded', async () => {
  const server = await serve({ models: ['mlp@champion'], routes: { mlp: { targets: [{ ref: 'mlp@champion', weight: 1 }], shadow: 'mlp@challenger' } } });
  try {
    const replies = await inferMany(server, 20);
    assert.deepEqual(new Set(replies.map((r) => r.version)), new Set(['1']), 'clients only see the primary');
    let shadowed = 0;
    for (let i = 0; i < 100 && shadowed < 20; i++) {
      shadowed = await metric(server, /trellis_shadow_requests_total\{model="mlp",version="2",outcome="ok"\} (\d+)/);
      if (shadowed < 20) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(shadowed, 20);
    assert.ok((await metric(server, /trellis_shadow_duration_seconds_count\{model="mlp",version="2"\} (\d+)/)) === 20);
    assert.equal(await metric(server, /trellis_inference_requests_total\{model="mlp",version="2",outcome="ok"\} (\d+)/), 0, 'shadow copies are not counted as served requests');
  } finally {
    await server.close();
  }
});

test('route API: set, read and refuse bad routes with the reason', async () => {
  const server = await serve({ models: ['mlp@champion', 'mlp@challenger'] });
  const put = (route: unknown) => fetch(`${server.url}/api/trellis/serving/routes/mlp`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(route) });
  try {
    let res = await put({ targets: [{ ref: 'mlp@champion', weight: 0 }, { ref: 'mlp@challenger', weight: 0 }] });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /add up to 0/);
    res = await put({ targets: [{ ref: 'mlp@nope', weight: 1 }] });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /'mlp@nope' is not a served reference.*mlp@champion/);
    res = await put({ targets: [{ ref: 'mlp@champion', weight: 0 }, { ref: 'mlp@challenger', weight: 100 }] });
    assert.equal(res.status, 200);
    const routes = (await (await fetch(`${server.url}/api/trellis/serving/routes`)).json()) as { routes: { name: string; targets: { ref: string; version: string }[] }[] };
    assert.deepEqual(routes.routes[0]!.targets.map((t) => [t.ref, t.version]), [['mlp@champion', '1'], ['mlp@challenger', '2']]);
    const replies = await inferMany(server, 10);
    assert.deepEqual(new Set(replies.map((r) => r.version)), new Set(['2']), 'all traffic on the challenger');
  } finally {
    await server.close();
  }
});

test('promote by moving an alias: the new version takes over, no request fails, the old one drains and closes', async () => {
  const lines: string[] = [];
  const server = await serve({ models: ['slow@prod'], aliasCheckMs: 50, workers: 2, log: (l) => lines.push(l), batching: false });
  const slowBody = JSON.stringify({ inputs: [{ name: 'x', shape: [4, 256], datatype: 'FP32', data: Array.from({ length: 1024 }, (_, i) => (i % 13) / 13) }] });
  try {
    const results: { status: number; version: string }[] = [];
    let moved = false;
    // Eight clients keep requests in flight across the move.
    const clients = Array.from({ length: 8 }, async () => {
      while (!moved || results.filter((r) => r.version === '2').length < 16) {
        results.push(await infer(server, '/v2/models/slow/infer', {}, slowBody));
        if (results.length > 2000) break;
      }
    });
    while (results.length < 16) await new Promise((r) => setTimeout(r, 5));
    // Another connection moves the alias, as `trellis models alias set` would.
    const other = openStore(tmp.dir);
    other.registry.setAlias('slow', 'prod', '2');
    other.db.close();
    moved = true;
    await Promise.all(clients);
    assert.deepEqual(results.filter((r) => r.status !== 200), [], 'no request failed during the move');
    const firstNew = results.findIndex((r) => r.version === '2');
    assert.ok(firstNew > 0, 'version 1 served before the move');
    // At most the 8 requests in flight at the switch finish on version 1 after version 2 started answering.
    const lateOld = results.slice(firstNew).filter((r) => r.version === '1').length;
    assert.ok(lateOld <= 8, `${lateOld} version-1 replies after the first version-2 reply`);
    assert.equal(results.at(-1)!.version, '2');
    for (let i = 0; i < 100 && !lines.some((l) => l.includes('version 1 drained and closed')); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(lines.some((l) => /slow@prod moved from version 1 to 2/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes('slow version 1 drained and closed')), lines.join('\n'));
    assert.deepEqual(server.modelServer.models().map((m) => m.version), ['2']);
  } finally {
    await server.close();
    const restore = openStore(tmp.dir);
    restore.registry.setAlias('slow', 'prod', '1');
    restore.db.close();
  }
});

test('local replicas: concurrent requests are spread over every replica (fewest outstanding first)', async () => {
  const server = await serve({ models: ['mlp/1'], replicas: 3, batching: false });
  try {
    const replies = await inferMany(server, 60);
    assert.ok(replies.every((r) => r.status === 200));
    const state = server.modelServer.get('mlp', '1').pool.state();
    assert.equal(state.length, 3);
    assert.equal(state.reduce((n, r) => n + r.requests, 0), 60);
    assert.ok(state.every((r) => r.requests > 0), `each replica served some: ${state.map((r) => r.requests).join(', ')}`);
  } finally {
    await server.close();
  }
});

test('remote replicas: a replica that dies is ejected and its requests go to the live one; none fails', async () => {
  const a = await serve({ models: ['mlp/1'] });
  const b = await serve({ models: ['mlp/1'] });
  const front = await serve({ models: ['mlp/1'], remoteReplicas: { urls: [a.url, b.url] } });
  try {
    const warm = await inferMany(front, 20);
    assert.ok(warm.every((r) => r.status === 200 && r.version === '1'));
    const before = front.modelServer.get('mlp', '1').pool.state();
    assert.ok(before.every((r) => r.requests > 0 && r.healthy), JSON.stringify(before));
    await b.close();
    const afterKill = [];
    for (let i = 0; i < 30; i++) afterKill.push(await infer(front));
    assert.deepEqual(afterKill.filter((r) => r.status !== 200), [], 'requests are retried on the live replica');
    const models = (await (await fetch(`${front.url}/api/trellis/serving/models`)).json()) as { models: { replicas: { id: string; healthy: boolean; ejections: number }[] }[] };
    const dead = models.models[0]!.replicas.find((r) => r.id === b.url)!;
    assert.equal(dead.healthy, false);
    assert.ok(dead.ejections >= 1);
    assert.equal(await metric(front, new RegExp(`trellis_replica_healthy\\{model="mlp",version="1",replica="${b.url.replace(/[.:/]/g, '\\$&')}"\\} (\\d+)`)), 0);
  } finally {
    await front.close();
    await a.close();
    await b.close();
  }
});

test('bad flags of a route: a canary with no stable version of the same model is refused', async () => {
  await assert.rejects(serve({ models: ['mlp@champion'], routes: { mlp: { targets: [{ ref: 'mlp@champion', weight: -1 }] } } }), /whole number from 0/);
});
