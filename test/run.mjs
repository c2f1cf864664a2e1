// Runs the test suites with node's test runner (TypeScript through tsx).
// `node test/run.mjs [unit|integration|e2e ...]`; no argument runs all three (e2e: the extension in a real
// code-server workbench driven by Chromium; .ci/provision installs both).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// test/support/docker-engine.ts starts a private dockerd on first use when DOCKER_HOST is unset; the
// test files share it, and the run stops it here, unless it was running before the run began (another
// run on this machine may be using it).
const privateEngineDir = join(tmpdir(), 'trellis-test-dockerd');
function privateEnginePid() {
  try {
    const pid = Number(readFileSync(join(privateEngineDir, 'docker.pid'), 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined; // never started, or gone
  }
}
const engineRunningBefore = privateEnginePid() !== undefined;
function stopPrivateDockerEngine() {
  if (process.env.DOCKER_HOST || engineRunningBefore) return;
  const pid = privateEnginePid();
  if (pid === undefined) return;
  process.kill(pid, 'SIGTERM');
  // dockerd stops its containers and removes its pidfile; wait for that (up to 20 s) so the next run starts clean.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    spawnSync('sleep', ['0.2']);
  }
}

const suites = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];
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
// One file at a time: integration suites start servers and processes and must not compete for 2 cores.
// Spec output for people; a TAP copy to count results for the closing line CI reads.
const tapDir = mkdtempSync(join(tmpdir(), 'trellis-tap-'));
const tapFile = join(tapDir, 'results.tap');
const result = spawnSync(
  process.execPath,
  [
    '--import', 'tsx', '--test', '--test-concurrency=1',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { stdio: 'inherit' },
);
stopPrivateDockerEngine();
const tap = readFileSync(tapFile, 'utf8');
rmSync(tapDir, { recursive: true, force: true });
const count = (name) => Number(tap.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
const [pass, fail, skipped, todo] = ['pass', 'fail', 'skipped', 'todo'].map(count);
console.log(`\n${pass} passed, ${fail} failed, ${skipped + todo} skipped`);
process.exit(result.status ?? 1);
