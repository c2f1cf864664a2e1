// The clients' HTTP (node:http, not fetch) against a real server on 127.0.0.1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { send } from '../../src/client/http-transport';
import { ApiError, TrellisClient } from '../../src/client/trellis-client';

let server: Server;
let url = '';
const seen: { method: string; headers: Record<string, string | string[] | undefined>; body: string }[] = [];

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, headers: req.headers, body });
      if (req.url === '/stream') {
        // Two chunks a moment apart: the body is read as it arrives, not at the end.
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write('{"n":1}\n');
        setTimeout(() => res.end('{"n":2}\n'), 50);
      } else if (req.url === '/hang') {
        // never answers
      } else if (req.url === '/api/trellis/jobs?follow=true') {
        // As a server before ?follow=true answers: the job once started, as plain JSON.
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ job: { job_id: 'j1', status: 'RUNNING' } }));
      } else if (req.url === '/api/trellis/jobs/j1/logs?follow=true') {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.end('{"stream":"stdout","line":"hello","time":1}\n{"end":true,"job":{"job_id":"j1","status":"FINISHED"}}\n');
      } else if (req.url!.startsWith('/api/')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no such run"}');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body, method: req.method }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('a POST carries its body with its length; the reply reads as text', async () => {
  const res = await send(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"név":"ü"}' });
  assert.equal(res.status, 200);
  assert.equal(res.ok, true);
  assert.deepEqual(JSON.parse(await res.text()), { echo: '{"név":"ü"}', method: 'POST' });
  const last = seen[seen.length - 1]!;
  assert.equal(last.headers['content-length'], String(Buffer.byteLength('{"név":"ü"}')), 'bytes, not characters');
});

test('a streamed body arrives chunk by chunk', async () => {
  const res = await send(`${url}/stream`);
  const chunks: string[] = [];
  for await (const c of res.body) chunks.push(Buffer.from(c).toString());
  assert.equal(chunks.join(''), '{"n":1}\n{"n":2}\n');
  assert.ok(chunks.length >= 2, `the first line came before the second was written (${chunks.length} chunks)`);
});

test('an abort signal ends a request that gets no answer', async () => {
  await assert.rejects(send(`${url}/hang`, { signal: AbortSignal.timeout(100) }), /abort/i);
});

test('a server that is not there: the client says where it looked and what to do', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const client = new TrellisClient(`http://127.0.0.1:${port}`);
  assert.equal(await client.health(), false);
  await assert.rejects(client.getRun('x'), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 'UNREACHABLE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED.*trellis server`));
    return true;
  });
});

test('an API error keeps its code, message and status', async () => {
  await assert.rejects(new TrellisClient(url).getRun('r1'), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 'RESOURCE_DOES_NOT_EXIST');
    assert.equal(err.message, 'no such run');
    assert.equal(err.status, 404);
    return true;
  });
});

test('trellis run against a server that predates the streamed submit: the job is followed through its logs', async () => {
  const named: string[] = [];
  const lines: string[] = [];
  const end = await new TrellisClient(url).runJob({ experiment_name: 'e', image: 'busybox', command: ['true'] } as never, {
    onSubmitted: (job) => named.push(job.job_id),
    onLine: (l) => lines.push(l.line),
  });
  assert.deepEqual(named, ['j1']);
  assert.deepEqual(lines, ['hello']);
  assert.equal(end.status, 'FINISHED');
});
