// The cluster-facing layer (on @kubernetes/client-node) against a MOCK Kubernetes API server (node:https
// on 127.0.0.1 with a throwaway CA the kubeconfig carries; no API server can run here): kubeconfig
// contexts, server-side apply requests (field manager trellis), error mapping, watch, and a rollout
// watched to its end over recorded objects (test/fixtures/k8s).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from '../../src/engines/kubernetes/kube-client';
import { loadKubeConnection } from '../../src/engines/kubernetes/kubeconfig';
import { parseCluster } from '../../src/services/deploy/cluster-config';
import { applyState, watchRollout } from '../../src/services/deploy/cluster-ops';
import { tempDir } from '../support/platform';
import { mockDiscovery } from '../fixtures/k8s/mock-api-server';
import { mockClusterEntry, mockTls } from '../fixtures/k8s/mock-tls';

interface Seen { method: string; url: string; headers: IncomingMessage['headers']; body: string }
const seen: Seen[] = [];
let respond: (req: Seen, res: ServerResponse) => void = (_req, res) => res.end('{}');
let server: Server;
let url = '';
const tmp = tempDir('trellis-kube-');

before(async () => {
  server = createServer({ cert: mockTls().cert, key: mockTls().key }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(s);
      res.setHeader('Content-Type', 'application/json');
      // client-node finds a kind's path through API discovery, as kubectl does.
      const discovery = mockDiscovery(s.url, { gatewayApi: true });
      if (discovery) return res.end(JSON.stringify(discovery));
      respond(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server.close();
  tmp.cleanup();
});

function kubeconfig(name: string, users: unknown[], cluster: Record<string, unknown> = mockClusterEntry(url)): string {
  const path = join(tmp.dir, name);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'dev',
      clusters: [{ name: 'dev-cluster', cluster }],
      contexts: [{ name: 'dev', context: { cluster: 'dev-cluster', user: 'dev-user', namespace: 'ml' } }, { name: 'cloud', context: { cluster: 'dev-cluster', user: 'cloud-user' } }],
      users,
    }),
  );
  return path;
}

test('kubeconfig: current or named context, token and CA read; unknown contexts and files refused with what to do', () => {
  const path = kubeconfig('config', [{ name: 'dev-user', user: { token: 'sekret' } }, { name: 'cloud-user', user: { exec: { command: 'gke-gcloud-auth-plugin' } } }]);
  const c = loadKubeConnection({ kubeconfig: path });
  assert.deepEqual([c.context, c.server, c.namespace, c.config.getCurrentUser()?.token], ['dev', url, 'ml', 'sekret']);
  assert.equal(Buffer.from(c.config.getCurrentCluster()!.caData!, 'base64').toString(), mockTls().ca);
  const cloud = loadKubeConnection({ kubeconfig: path, context: 'cloud' });
  assert.deepEqual([cloud.context, cloud.namespace, cloud.config.getCurrentContext()], ['cloud', undefined, 'cloud']);
  assert.throws(() => loadKubeConnection({ kubeconfig: path, context: 'prod' }), /No context 'prod' in the kubeconfig \(contexts: dev, cloud\)/);
  assert.throws(() => loadKubeConnection({ kubeconfig: join(tmp.dir, 'nope') }), /Cannot read the kubeconfig .*nope \(ENOENT\)\. Set KUBECONFIG/);
  const saved = { HOME: process.env.HOME, KUBECONFIG: process.env.KUBECONFIG };
  try {
    process.env.HOME = tmp.dir; // no .kube/config there
    delete process.env.KUBECONFIG;
    assert.throws(() => loadKubeConnection(), /No kubeconfig found .*Set KUBECONFIG or --kubeconfig/);
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
  const noServer = join(tmp.dir, 'no-server');
  writeFileSync(noServer, JSON.stringify({ clusters: [{ name: 'x', cluster: {} }], contexts: [], users: [] }));
  assert.throws(() => loadKubeConnection({ kubeconfig: noServer }), /The kubeconfig .*no-server cannot be used: clusters\[0\]\.cluster\.server is missing\. Fix the file/);
});

test('credentials client-node cannot use fail at the first request, saying what to do', async () => {
  const path = kubeconfig('c-creds', [{ name: 'dev-user', user: { 'client-certificate': 'certs/client.crt', 'client-key': 'certs/client.key' } }, { name: 'cloud-user', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'trellis-no-such-auth-plugin' } } }]);
  const certs = new KubeClient(loadKubeConnection({ kubeconfig: path }));
  await assert.rejects(certs.list('v1', 'Pod', 'ml'), /The kubeconfig of context 'dev' names .*certs\/client\.crt, which cannot be read \(ENOENT\)\. Fix the path/);
  const plugin = new KubeClient(loadKubeConnection({ kubeconfig: path, context: 'cloud' }));
  await assert.rejects(plugin.list('v1', 'Pod', 'ml'), /Context 'cloud' logs in through the exec plugin trellis-no-such-auth-plugin, which could not run \(ENOENT\)\. Install it/);
  const untrusted = new KubeClient(loadKubeConnection({ kubeconfig: kubeconfig('c-no-ca', [{ name: 'dev-user', user: { token: 't' } }], { server: url }) }));
  await assert.rejects(untrusted.list('v1', 'Pod', 'ml'), /TLS with the API server of context 'dev' .* failed \(\w+.*\)\. Check the cluster's certificate-authority/);
});

test('server-side apply: PATCH with apply-patch+yaml, fieldManager=trellis and force, bearer token', async () => {
  const client = new KubeClient(loadKubeConnection({ kubeconfig: kubeconfig('c2', [{ name: 'dev-user', user: { token: 'sekret' } }]) }));
  seen.length = 0;
  respond = (req, res) => res.end(req.body);
  const obj = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'mnist-v3', namespace: 'ml' }, spec: { replicas: 2 } };
  const back = await client.apply(obj);
  assert.deepEqual(back, obj);
  assert.equal(seen[0]!.url, '/apis/apps/v1', 'the kind\'s path comes from API discovery');
  const r = seen.find((s) => s.method === 'PATCH');
  assert.equal(r!.method, 'PATCH');
  assert.equal(r!.url, '/apis/apps/v1/namespaces/ml/deployments/mnist-v3?fieldManager=trellis&force=true');
  assert.equal(r!.headers['content-type'], 'application/apply-patch+yaml');
  assert.equal(r!.headers.authorization, 'Bearer sekret');
});

test('API errors: 403 names RBAC, 404 on delete is false, an API server that is down says so', async () => {
  const client = new KubeClient(loadKubeConnection({ kubeconfig: kubeconfig('c3', [{ name: 'dev-user', user: { token: 't' } }]) }));
  respond = (req, res) => {
    res.statusCode = req.method === 'DELETE' ? 404 : 403;
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'deployments.apps "x" is forbidden: User "dev" cannot patch resource "deployments" in API group "apps" in the namespace "ml"', reason: 'Forbidden', code: 403 }));
  };
  await assert.rejects(client.apply({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', namespace: 'ml' } }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PERMISSION_DENIED');
    assert.match(err.message, /cannot patch resource "deployments".*needs RBAC permission/);
    return true;
  });
  assert.equal(await client.delete('apps/v1', 'Deployment', 'ml', 'x'), false);
  const down = new KubeClient(loadKubeConnection({ kubeconfig: kubeconfig('c3-down', [{ name: 'dev-user', user: { token: 't' } }], mockClusterEntry('https://127.0.0.1:1')) }));
  await assert.rejects(down.list('v1', 'Pod', 'ml'), /No Kubernetes API server answers at https:\/\/127\.0\.0\.1:1 \(context 'dev': ECONNREFUSED\)/);
});

test('list by label, API discovery and watch events', async () => {
  const client = new KubeClient(loadKubeConnection({ kubeconfig: kubeconfig('c4', [{ name: 'dev-user', user: { token: 't' } }]) }));
  seen.length = 0;
  respond = (req, res) => {
    if (req.url === '/apis') return res.end(JSON.stringify({ kind: 'APIGroupList', groups: [{ name: 'gateway.networking.k8s.io', versions: [{ groupVersion: 'gateway.networking.k8s.io/v1', version: 'v1' }] }] }));
    if (req.url.includes('watch=true')) {
      res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'p1' } } })}\n`);
      res.end(`${JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'p1' } } })}\n`);
      return;
    }
    res.end(JSON.stringify({ kind: 'PodList', items: [{ metadata: { name: 'p1' } }] }));
  };
  assert.deepEqual(await client.list('v1', 'Pod', 'ml', { labelSelector: 'trellis.model=mnist' }), [{ metadata: { name: 'p1' } }]);
  assert.deepEqual(seen.map((s) => s.url), ['/api/v1', '/api/v1/namespaces/ml/pods?labelSelector=trellis.model%3Dmnist']);
  assert.equal(await client.servesApi('gateway.networking.k8s.io/v1'), true);
  assert.equal(await client.servesApi('gateway.networking.k8s.io/v1beta1'), false);
  const events: string[] = [];
  await client.watch<{ metadata: { name: string } }>('v1', 'Pod', 'ml', {}, (e) => events.push(`${e.type} ${e.object.metadata.name}`), new AbortController().signal);
  assert.deepEqual(events, ['ADDED p1', 'MODIFIED p1']);
  respond = (_req, res) => {
    res.statusCode = 403;
    res.end(JSON.stringify({ kind: 'Status', code: 403, message: 'pods is forbidden' }));
  };
  await assert.rejects(client.watch('v1', 'Pod', 'ml', {}, () => undefined, new AbortController().signal), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PERMISSION_DENIED');
    assert.match(err.message, /refused: Forbidden\. The context's user needs RBAC permission/);
    return true;
  });
});

test('applyState creates the token Secret once and applies every object; watchRollout ends on the recorded objects\' decision', async () => {
  const client = new KubeClient(loadKubeConnection({ kubeconfig: kubeconfig('c5', [{ name: 'dev-user', user: { token: 't' } }]) }));
  const fixture = (name: string) => JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'k8s', `${name}.json`), 'utf8'));
  let scenario = fixture('ready');
  seen.length = 0;
  respond = (req, res) => {
    const path = req.url.split('?')[0]!;
    if (req.method === 'GET' && path.endsWith('/secrets/mnist-token')) {
      res.statusCode = 404;
      return res.end(JSON.stringify({ kind: 'Status', code: 404, message: 'secrets "mnist-token" not found' }));
    }
    if (req.method === 'PATCH') return res.end(req.body);
    if (path.endsWith('/deployments/mnist-v3')) return res.end(JSON.stringify(scenario.deployment));
    if (path.endsWith('/replicasets')) return res.end(JSON.stringify(scenario.replicaSets));
    if (path.endsWith('/pods') && req.url.includes('watch=true')) return res.end();
    if (path.endsWith('/pods')) return res.end(JSON.stringify(scenario.pods));
    if (path.endsWith('/events')) return res.end(JSON.stringify(scenario.events));
    res.statusCode = 404;
    res.end('{}');
  };
  const cluster = parseCluster({ name: 'dev', namespace: 'ml', registry: 'r.io' });
  const lines: string[] = [];
  await applyState(client, { cluster, modelName: 'mnist', stable: { version: '3', image: 'r.io/trellis-serving/mnist:v3-0123456789ab', replicas: 2 }, traffic: 'replicas' }, (l) => lines.push(l));
  const patches = seen.filter((s) => s.method === 'PATCH');
  assert.deepEqual(patches.map((p) => p.url.split('?')[0]), [
    '/api/v1/namespaces/ml/secrets/mnist-token',
    '/api/v1/namespaces/ml/services/mnist',
    '/apis/apps/v1/namespaces/ml/deployments/mnist-v3',
    '/apis/autoscaling/v2/namespaces/ml/horizontalpodautoscalers/mnist',
    '/apis/policy/v1/namespaces/ml/poddisruptionbudgets/mnist',
  ]);
  assert.match(JSON.parse(patches[0]!.body).stringData.token, /^[0-9a-f]{48}$/);
  assert.ok(lines.includes('created Secret mnist-token (the serving token)'));

  const ready = await watchRollout(client, 'ml', 'mnist-v3', { timeoutMs: 60_000, onLine: (l) => lines.push(l), pollMs: 10 });
  assert.equal(ready.state, 'ready');
  scenario = fixture('crash-loop-backoff');
  const failed = await watchRollout(client, 'ml', 'mnist-v3', { timeoutMs: 60_000, onLine: (l) => lines.push(l), pollMs: 10 });
  assert.equal(failed.state, 'failed');
  assert.ok(lines.some((l) => /^failed \(CrashLoopBackOff\)/.test(l)));
});
