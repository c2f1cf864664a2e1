// Runs the test suites with node's test runner (TypeScript through tsx).
// `node test/run.mjs [unit|integration|e2e ...]`; no argument runs unit and integration.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const suites = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration'];
const files = suites.flatMap((suite) => find(join('test', suite)));

function find(dir) {
  let out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(find(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

if (files.length === 0) {
  console.error(`no test files under ${suites.map((s) => `test/${s}`).join(', ')}`);
  process.exit(1);
}
// One file at a time: integration suites start servers and containers and measure nothing in parallel.
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
