// Runs test/extension (the in-host suite) inside the real extension host of a code-server workbench,
// through the workbench URL's extensionTestsPath, and reports each in-host test here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { outputDir, repoRoot, startWorkbench } from '../support/workbench';
import { ensureBusyboxImage, testDockerEngine } from '../support/docker-engine';
import type { Result } from '../extension/harness';

test('extension-host integration tests (test/extension) pass inside a real workbench', { timeout: 180_000 }, async (t) => {
  const built = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(built.status, 0, `node esbuild.mjs failed:\n${built.stderr}`);
  const root = mkdtempSync(join(tmpdir(), 'trellis-ext-tests-'));
  const workspace = join(root, 'workspace');
  const results = join(root, 'results.json');
  const bundle = join(root, 'tests', 'index.js');
  await esbuild.build({
    entryPoints: [join(repoRoot, 'test/extension/index.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['vscode'],
    logLevel: 'warning',
  });
  spawnSync('mkdir', ['-p', workspace]);
  const out = outputDir('e2e', 'extension-host');
  // The Jobs test runs a container: the private test engine and its local busybox image, through the
  // environment the extension host (and the platform server it spawns) inherits.
  const engine = await testDockerEngine();
  const image = await ensureBusyboxImage(engine.docker);
  const workbench = await startWorkbench({
    workspace,
    extensionTestsPath: bundle,
    outDir: out,
    env: { TRELLIS_EXTENSION_TEST_RESULTS: results, DOCKER_HOST: engine.host, TRELLIS_TEST_IMAGE: image },
  });
  try {
    const deadline = Date.now() + 120_000;
    while (!existsSync(results) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.ok(existsSync(results), `the in-host suite wrote no results within 120 s; code-server log:\n${workbench.log().slice(-4000)}`);
  } finally {
    await workbench.stop();
  }
  const report = JSON.parse(readFileSync(results, 'utf8')) as Result[];
  rmSync(root, { recursive: true, force: true });
  assert.ok(report.length >= 5, `expected the whole in-host suite, got ${report.length} results`);
  for (const r of report) {
    for (const n of r.notes) t.diagnostic(`${r.name}: ${n}`);
    await t.test(r.name, () => assert.ok(r.ok, r.error));
  }
});
