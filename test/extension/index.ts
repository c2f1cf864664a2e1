// The extension-host test entry in @vscode/test-electron's layout: the host loads this module and awaits
// run(). Here it runs through code-server's extensionTestsPath (test/e2e/extension-host.test.ts builds
// and drives it); on a machine with internet the same bundle runs under @vscode/test-electron.
import { writeFileSync } from 'node:fs';
import { runAll } from './harness';
import './platform-suite';
import './serving-suite';

export async function run(): Promise<void> {
  const results = await runAll();
  const out = process.env.TRELLIS_EXTENSION_TEST_RESULTS;
  if (out) writeFileSync(out, JSON.stringify(results, null, 2));
  const failed = results.filter((r) => !r.ok);
  for (const r of results) console.log(`${r.ok ? 'ok' : 'not ok'} - ${r.name} (${r.ms} ms)${r.notes.map((n) => `\n  # ${n}`).join('')}${r.error ? `\n  ${r.error}` : ''}`);
  if (failed.length) throw new Error(`${failed.length} of ${results.length} extension-host tests failed`);
}
