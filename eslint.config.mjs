import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

// The layers of ../shared/design/ARCHITECTURE.md: an inner layer never imports an outer one,
// and only src/extension imports `vscode`.
const rank = { core: 1, engines: 2, services: 3, server: 4, client: 5, cli: 6, extension: 6 };
const forbidden = (layer) =>
  Object.keys(rank).filter((o) => o !== layer && rank[o] >= rank[layer]);
const layerRule = (layer) => ({
  files: [`src/${layer}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      paths: layer === 'extension' ? [] : [{ name: 'vscode', message: 'Only src/extension may import vscode.' }],
      patterns: forbidden(layer).map((o) => ({
        group: [`**/${o}/**`, `../${o}/*`, `../../${o}/*`],
        message: `src/${layer} must not import src/${o} (see the layers in ARCHITECTURE.md).`,
      })),
    }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'out/**', '.trellis/**', '.test-tmp/**', 'examples/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...Object.keys(rank).map(layerRule),
  { files: ['**/*.mjs', 'scripts/**', 'test/**', 'bench/**'], languageOptions: { globals: globals.node } },
  // Tests read loosely typed JSON replies; asserting their shape is the test's job.
  { files: ['test/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
