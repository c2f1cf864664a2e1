import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

// The lint rule of `npm run check` that keeps the layers of ARCHITECTURE.md apart, exercised on real source text.
const eslint = new ESLint({ cwd: process.cwd() });
const ruleErrors = async (filePath: string, code: string) =>
  (await eslint.lintText(code, { filePath }))[0]!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);

test('only src/extension may import vscode', async () => {
  assert.match((await ruleErrors('src/core/x.ts', "import * as vscode from 'vscode';\nexport const v = vscode;\n"))[0] ?? '', /Only src\/extension/);
  assert.match((await ruleErrors('src/cli/x.ts', "import * as vscode from 'vscode';\nexport const v = vscode;\n"))[0] ?? '', /Only src\/extension/);
  assert.deepEqual(await ruleErrors('src/extension/x.ts', "import * as vscode from 'vscode';\nexport const v = vscode;\n"), []);
});

test('an inner layer cannot import an outer one; outer may import inner', async () => {
  assert.match((await ruleErrors('src/core/x.ts', "import { a } from '../server/app';\nexport const b = a;\n"))[0] ?? '', /must not import src\/server/);
  assert.match((await ruleErrors('src/server/x.ts', "import { a } from '../client/trellis-client';\nexport const b = a;\n"))[0] ?? '', /must not import src\/client/);
  assert.match((await ruleErrors('src/cli/x.ts', "import { a } from '../extension/extension';\nexport const b = a;\n"))[0] ?? '', /must not import src\/extension/);
  assert.deepEqual(await ruleErrors('src/server/x.ts', "import { a } from '../core/store';\nexport const b = a;\n"), []);
});
