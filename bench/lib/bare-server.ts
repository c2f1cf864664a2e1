/**
 * The reference server: bare node:http that reads the whole body, JSON.parse-s it and answers `{}`,
 * the ceiling of this runtime for a JSON request. A body in KServe's binary tensor extension
 * (`Inference-Header-Content-Length`) has only its JSON header parsed: the tensor bytes need no work. Announces itself like `trellis server` does:
 *   node --import tsx bench/lib/bare-server.ts <dir> [reply-file]   → writes <dir>/server.json {pid, url, token}
 * With a reply file it answers that file's bytes instead of `{}` (bench/serving: a reply the size of a
 * real inference reply).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: bare-server.ts <dir> [reply-file]\n');
  process.exit(2);
}
const reply = process.argv[3] ? readFileSync(process.argv[3]) : Buffer.from('{}');

let parsed = 0;
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let status = 200;
    try {
      const bytes = Buffer.concat(chunks);
      const headerLength = Number(req.headers['inference-header-content-length'] ?? bytes.length);
      const body = JSON.parse(bytes.subarray(0, headerLength).toString('utf8')) as unknown;
      if (typeof body === 'object' && body !== null) parsed++;
    } catch {
      status = 400;
    }
    const text = status === 200 ? reply : Buffer.from('{"error_code":"MALFORMED_REQUEST"}');
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': text.length });
    res.end(text);
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'server.json');
  writeFileSync(`${file}.tmp`, JSON.stringify({ pid: process.pid, url: `http://127.0.0.1:${port}`, token: '', version: 'bare' }));
  renameSync(`${file}.tmp`, file);
});

const stop = () => {
  rmSync(join(dir, 'server.json'), { force: true });
  process.stderr.write(`bare server: ${parsed} bodies parsed\n`);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
