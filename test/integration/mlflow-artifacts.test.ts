// Proxied artifacts (/api/2.0/mlflow-artifacts/artifacts) exactly as MLflow's HttpArtifactRepository /
// MlflowArtifactsRepository use them, the tracking /artifacts/list, and the path-safety cases.
// Written from MLflow's mlflow_artifacts.proto, handlers and client (see the protocol reference).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectOk } from '../support/replies';
import { startTestPlatform, tempDir, type TestPlatform } from '../support/platform';

const API = '/api/2.0/mlflow-artifacts/artifacts';

let p: TestPlatform;
let outside: { dir: string; cleanup: () => void };

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
  text: string;
  json: any;
}

/**
 * An HTTP request with the path sent byte for byte (fetch's URL parser would resolve `..` and `%2e%2e`
 * segments before they leave the client, as MLflow's `requests` does not).
 */
function raw(method: string, path: string, body?: Buffer | string | AsyncIterable<Buffer>, headers: Record<string, string> = {}): Promise<RawReply> {
  const url = new URL(p.server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const text = bytes.toString('utf8');
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, text, json });
      });
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else {
      (async () => {
        for await (const chunk of body) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch(reject);
    }
  });
}

let exp: string;
let runId: string;
let artifactUri: string;
/** `<exp>/<run>/artifacts`: what MlflowArtifactsRepository puts after the API prefix. */
let runPath: string;

before(async () => {
  p = await startTestPlatform();
  outside = tempDir('trellis-outside-');
  exp = expectOk(await p.mlflow('POST', 'experiments/create', { name: 'artifacts' })).experiment_id;
  const run = expectOk(await p.mlflow('POST', 'runs/create', { experiment_id: exp, start_time: Date.now() })).run;
  runId = run.info.run_id;
  artifactUri = run.info.artifact_uri;
  assert.equal(artifactUri, `mlflow-artifacts:/${exp}/${runId}/artifacts`);
  runPath = artifactUri.slice('mlflow-artifacts:/'.length);
});
after(async () => {
  await p.stop();
  outside.cleanup();
});

/** HttpArtifactRepository.log_artifact: PUT {base}/{artifact_path}/{filename}, body = file bytes. */
async function logArtifact(relPath: string, content: Buffer | string, contentType = 'application/octet-stream'): Promise<void> {
  const res = await raw('PUT', `${API}/${runPath}/${relPath}`, content, { 'Content-Type': contentType });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, {});
}

/** HttpArtifactRepository.list_artifacts: GET ?path=<run path>[/p]; paths joined with p, sorted. */
async function listArtifacts(rel = ''): Promise<{ path: string; is_dir: boolean; file_size?: number }[]> {
  const query = new URLSearchParams({ path: rel ? `${runPath}/${rel}` : runPath });
  const res = await raw('GET', `${API}?${query}`);
  assert.equal(res.status, 200, res.text);
  const files = (res.json.files ?? []) as any[];
  return files
    .map((f) => {
      assert.equal(typeof f.path, 'string');
      assert.ok(!f.path.includes('/'), `entries are basenames: ${f.path}`);
      assert.equal(typeof f.is_dir, 'boolean', `is_dir must be present: ${JSON.stringify(f)}`);
      return { path: rel ? `${rel}/${f.path}` : f.path, is_dir: f.is_dir, ...(f.file_size !== undefined ? { file_size: Number(f.file_size) } : {}) };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}

describe('HttpArtifactRepository verbs', () => {
  const binary = randomBytes(256 * 1024);
  before(async () => {
    await logArtifact('metrics.txt', 'accuracy: 0.9\n', 'text/plain');
    await logArtifact('model/MLmodel', 'artifact_path: model\nflavors: {}\n', 'text/plain');
    await logArtifact('model/model.pkl', binary);
    await logArtifact('plots/deep/er/curve.png', Buffer.from([0x89, 0x50, 0x4e, 0x47]), 'image/png');
  });

  test('PUT then GET round-trips bytes exactly, with download headers', async () => {
    const res = await raw('GET', `${API}/${runPath}/model/model.pkl`);
    assert.equal(res.status, 200);
    assert.ok(res.bytes.equals(binary), 'binary content is byte-identical');
    assert.match(String(res.headers['content-disposition']), /^attachment; filename="?model\.pkl"?$/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    const text = await raw('GET', `${API}/${runPath}/metrics.txt`);
    assert.equal(text.text, 'accuracy: 0.9\n');
  });

  test('PUT accepts any Content-Type (or none) and overwrites', async () => {
    await logArtifact('notes.md', 'v1', 'text/markdown');
    const res = await raw('PUT', `${API}/${runPath}/notes.md`, 'version two');
    assert.equal(res.status, 200, res.text);
    assert.equal((await raw('GET', `${API}/${runPath}/notes.md`)).text, 'version two');
  });

  test('an empty file uploads and downloads as empty', async () => {
    await logArtifact('empty.bin', Buffer.alloc(0));
    const res = await raw('GET', `${API}/${runPath}/empty.bin`);
    assert.equal(res.status, 200);
    assert.equal(res.bytes.length, 0);
  });

  test('list (?path=) gives basenames, is_dir always, file_size for files only', async () => {
    const root = await listArtifacts();
    const byPath = Object.fromEntries(root.map((f) => [f.path, f]));
    assert.deepEqual(byPath['metrics.txt'], { path: 'metrics.txt', is_dir: false, file_size: 14 });
    assert.deepEqual(byPath.model, { path: 'model', is_dir: true });
    assert.deepEqual(byPath.plots, { path: 'plots', is_dir: true });
    assert.deepEqual(await listArtifacts('model'), [
      { path: 'model/MLmodel', is_dir: false, file_size: Buffer.byteLength('artifact_path: model\nflavors: {}\n') },
      { path: 'model/model.pkl', is_dir: false, file_size: binary.length },
    ]);
    assert.deepEqual(await listArtifacts('plots/deep'), [{ path: 'plots/deep/er', is_dir: true }]);
  });

  test('listing a missing folder or a file answers {} (no files key)', async () => {
    for (const rel of ['nope', 'metrics.txt']) {
      const res = await raw('GET', `${API}?${new URLSearchParams({ path: `${runPath}/${rel}` })}`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, {});
    }
  });

  test('downloading a missing file is a 404 RESOURCE_DOES_NOT_EXIST (JSON)', async () => {
    const res = await raw('GET', `${API}/${runPath}/does/not/exist.txt`);
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json?.error_code, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('tracking artifacts/list: paths relative to the run root, is_dir always present, root_uri = artifact_uri', async () => {
    const body = expectOk(await p.mlflow('GET', 'artifacts/list', { run_id: runId }));
    assert.equal(body.root_uri, artifactUri);
    const byPath = Object.fromEntries(body.files.map((f: any) => [f.path, f]));
    assert.deepEqual(byPath['metrics.txt'], { path: 'metrics.txt', is_dir: false, file_size: 14 });
    assert.deepEqual(byPath.model, { path: 'model', is_dir: true });
    for (const f of body.files) assert.equal(typeof f.is_dir, 'boolean');
    const model = expectOk(await p.mlflow('GET', 'artifacts/list', { run_uuid: runId, path: 'model' }));
    assert.deepEqual(
      [...model.files].sort((a: any, b: any) => a.path.localeCompare(b.path)),
      [
        { path: 'model/MLmodel', is_dir: false, file_size: Buffer.byteLength('artifact_path: model\nflavors: {}\n') },
        { path: 'model/model.pkl', is_dir: false, file_size: binary.length },
      ],
    );
    const deep = expectOk(await p.mlflow('GET', 'artifacts/list', { run_id: runId, path: 'plots/deep/er' }));
    assert.deepEqual(deep.files, [{ path: 'plots/deep/er/curve.png', is_dir: false, file_size: 4 }]);
    const missing = expectOk(await p.mlflow('GET', 'artifacts/list', { run_id: runId, path: 'nothing/here' }));
    assert.equal(missing.root_uri, artifactUri);
    assert.deepEqual(missing.files ?? [], []);
    assert.equal(missing.next_page_token, undefined);
  });

  test('tracking artifacts/list: a run with no artifacts lists nothing; an unknown run is 404', async () => {
    const fresh = expectOk(await p.mlflow('POST', 'runs/create', { experiment_id: exp, start_time: 1 })).run.info;
    const body = expectOk(await p.mlflow('GET', 'artifacts/list', { run_id: fresh.run_id }));
    assert.equal(body.root_uri, fresh.artifact_uri);
    assert.deepEqual(body.files ?? [], []);
    const res = await p.mlflow('GET', 'artifacts/list', { run_id: '1'.repeat(32) });
    assert.equal(res.status, 404);
    assert.equal(res.body.error_code, 'RESOURCE_DOES_NOT_EXIST');
  });
});

describe('path safety', () => {
  const SQLITE_MAGIC = 'SQLite format 3';

  const assertRefused = (res: RawReply, what: string) => {
    assert.ok(res.status >= 400 && res.status < 500, `${what}: expected a 4xx, got ${res.status}: ${res.text.slice(0, 200)}`);
    assert.ok(!res.text.includes(SQLITE_MAGIC), `${what}: must not leak the database`);
    assert.ok(!res.text.includes('root:'), `${what}: must not leak /etc/passwd`);
  };

  test('.. segments (percent-encoded, raw, backslashed) never read outside the artifact root', async () => {
    // The database lives in the data directory, one level above the artifact root.
    assert.ok(existsSync(join(p.dataDir, 'trellis.db')));
    const dbAbs = join(p.dataDir, 'trellis.db');
    const attempts = [
      `${API}/%2e%2e/trellis.db`,
      `${API}/%2E%2E/trellis.db`,
      `${API}/..%2Ftrellis.db`,
      `${API}/%2e%2e%2ftrellis.db`,
      `${API}/${exp}/%2e%2e%2f%2e%2e%2ftrellis.db`,
      `${API}/${runPath}/..%2F..%2F..%2F..%2Ftrellis.db`,
      `${API}/../trellis.db`,
      `${API}/${exp}/../../trellis.db`,
      `${API}/..%5Ctrellis.db`,
      `${API}/%2Fetc%2Fpasswd`,
      `${API}//etc/passwd`,
      `${API}/${encodeURIComponent(dbAbs)}`,
      `${API}/${runPath}/%00x`,
    ];
    for (const path of attempts) assertRefused(await raw('GET', path), `GET ${path}`);
    for (const q of ['..', '../', `${exp}/../..`, '/etc', dbAbs, '..\\']) {
      assertRefused(await raw('GET', `${API}?${new URLSearchParams({ path: q })}`), `list ?path=${q}`);
    }
  });

  test('.. and absolute paths never write outside the artifact root', async () => {
    const target = join(outside.dir, 'abs-planted.txt');
    const attempts = [
      `${API}/%2e%2e/escaped-1.txt`,
      `${API}/..%2Fescaped-2.txt`,
      `${API}/${exp}/%2e%2e%2f%2e%2e%2fescaped-3.txt`,
      `${API}/../escaped-4.txt`,
      `${API}/${encodeURIComponent(target)}`,
      `${API}/%2F${encodeURIComponent(target.slice(1))}`,
    ];
    for (const path of attempts) {
      const res = await raw('PUT', path, 'pwned');
      assert.ok(res.status >= 400 && res.status < 500, `PUT ${path}: expected a 4xx, got ${res.status}`);
    }
    const stray = readdirSync(p.dataDir).filter((n) => n.startsWith('escaped'));
    assert.deepEqual(stray, [], 'nothing created beside the artifact root');
    assert.ok(!existsSync(join(p.dataDir, '..', 'escaped-1.txt')));
    assert.deepEqual(readdirSync(outside.dir), []);
  });

  const listRefused = async (paths: string[]) => {
    for (const path of paths) {
      const res = await p.mlflow('GET', 'artifacts/list', { run_id: runId, path });
      assert.equal(res.status, 400, `path=${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error_code, 'INVALID_PARAMETER_VALUE');
    }
  };

  test('tracking artifacts/list refuses .. paths with 400', async () => {
    await listRefused(['..', '../..', '../../../../etc', 'model/../../..', '..\\..']);
  });

  test('tracking artifacts/list refuses absolute paths with 400', async () => {
    await listRefused(['/etc', '/']);
  });

  test('a symlink planted inside the root (to a folder outside) can be neither read, listed nor written through', async () => {
    writeFileSync(join(outside.dir, 'secret.txt'), 'TOP SECRET');
    const linkDir = join(p.dataDir, 'artifacts', exp);
    mkdirSync(linkDir, { recursive: true });
    symlinkSync(outside.dir, join(linkDir, 'evil-dir'));
    symlinkSync(join(outside.dir, 'secret.txt'), join(linkDir, 'evil-file.txt'));

    for (const path of [`${API}/${exp}/evil-dir/secret.txt`, `${API}/${exp}/evil-file.txt`]) {
      const res = await raw('GET', path);
      assert.ok(res.status >= 400 && res.status < 500, `GET ${path}: expected a 4xx, got ${res.status}`);
      assert.ok(!res.text.includes('TOP SECRET'), `GET ${path} leaked the file`);
    }
    const listed = await raw('GET', `${API}?${new URLSearchParams({ path: `${exp}/evil-dir` })}`);
    assert.ok(!listed.text.includes('secret.txt'), `listing through the link revealed: ${listed.text}`);

    const put = await raw('PUT', `${API}/${exp}/evil-dir/planted.txt`, 'written through a link');
    assert.ok(put.status >= 400 && put.status < 500, `PUT through a directory link: expected a 4xx, got ${put.status}`);
    const nested = await raw('PUT', `${API}/${exp}/evil-dir/sub/planted.txt`, 'written through a link');
    assert.ok(nested.status >= 400 && nested.status < 500, `PUT below a directory link: expected a 4xx, got ${nested.status}`);
    // Writing onto a file link may replace the link inside the root, but must never write the target.
    await raw('PUT', `${API}/${exp}/evil-file.txt`, 'overwritten through a link');
    assert.equal(readFileSync(join(outside.dir, 'secret.txt'), 'utf8'), 'TOP SECRET');
    assert.deepEqual(readdirSync(outside.dir).sort(), ['secret.txt']);
  });

  test('a file being uploaded is never seen half-written', async () => {
    const path = `${API}/${runPath}/big/weights.bin`;
    const first = Buffer.alloc(2 * 1024 * 1024, 0x41);
    await logArtifact('big/weights.bin', first);
    const second = Buffer.alloc(2 * 1024 * 1024, 0x42);
    let release!: () => void;
    const halfSent = new Promise<void>((r) => (release = r));
    async function* slowBody(): AsyncIterable<Buffer> {
      const chunk = 256 * 1024;
      for (let off = 0; off < second.length; off += chunk) {
        yield second.subarray(off, off + chunk);
        if (off >= second.length / 2) release();
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const upload = raw('PUT', path, slowBody(), { 'Content-Length': String(second.length) });
    await halfSent;
    const readers = await Promise.all(Array.from({ length: 4 }, () => raw('GET', path)));
    for (const r of readers) {
      assert.equal(r.status, 200);
      assert.ok(r.bytes.equals(first) || r.bytes.equals(second), `a reader saw ${r.bytes.length} bytes of a mixed/partial file`);
    }
    assert.equal((await upload).status, 200);
    const after = await raw('GET', path);
    assert.ok(after.bytes.equals(second));
    // No temporary files are left behind in the listing.
    assert.deepEqual(await listArtifacts('big'), [{ path: 'big/weights.bin', is_dir: false, file_size: second.length }]);
  });
});
