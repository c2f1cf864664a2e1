// Bundles the front ends. Native packages stay external: they load their own .node binaries at run time.
import * as esbuild from 'esbuild';
import { chmodSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

const watch = process.argv.includes('--watch');
// @kubernetes/client-node (~15 MB bundled) is required from node_modules only when a deploy command
// talks to a cluster: bundled, its size alone would slow every command's start-up to parse it.
// @grpc/* (1.2 MB of the Docker chunk) serve only dockerode's BuildKit session, which Trellis never opens
// (its builds are classic ones; see lazyRequires): kept out, they cost no command their parse.
const external = ['vscode', 'better-sqlite3', 'onnxruntime-node', 'cpu-features', 'ssh2', '@kubernetes/client-node', '@grpc/grpc-js', '@grpc/proto-loader'];

// dockerode requires its BuildKit session (@grpc/grpc-js, @grpc/proto-loader) and docker-modem its ssh
// transport (ssh2) when they load, though only `docker build` with BuildKit and ssh:// engines call them:
// 40 ms of every platform start (measured with --cpu-prof). Each becomes a function that requires its
// module on the first call. The build fails if a dependency update changes these lines.
const lazyRequires = [
  { file: /docker-modem[\\/]lib[\\/]modem\.js$/, line: "ssh = require('./ssh'),", lazy: "ssh = function () { return require('./ssh').apply(this, arguments); }," },
  { file: /dockerode[\\/]lib[\\/]docker\.js$/, line: "withSession = require('./session'),", lazy: "withSession = function () { return require('./session').apply(this, arguments); }," },
];
const lazyRequirePlugin = {
  name: 'lazy-requires',
  setup(build) {
    for (const { file, line, lazy } of lazyRequires) {
      build.onLoad({ filter: file }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        if (!source.includes(line)) throw new Error(`${args.path} no longer has \`${line}\`: update lazyRequires in esbuild.mjs`);
        return { contents: source.replace(line, lazy), loader: 'js' };
      });
    }
  },
};

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external,
  plugins: [lazyRequirePlugin],
  logLevel: 'warning',
};

// The CLI is an ES module split at every `await import()`: a command loads only its own chunks, so
// `trellis run` parses commander and the HTTP client, not the platform, dockerode or the model host
// (`trellis --version`: ~75 ms over bare node before, ~25 now, most of it the ES module loader's own work).
// Chunks sit beside the entry, where the banner's __dirname (the workers' and the serving image's paths)
// expects them.
const cliChunkPrefix = 'cli-chunk-';
const esmNodeGlobals = [
  "import { createRequire as __trellisCreateRequire } from 'node:module';",
  "import { fileURLToPath as __trellisFileURLToPath } from 'node:url';",
  "import { dirname as __trellisDirname } from 'node:path';",
  'const require = __trellisCreateRequire(import.meta.url);',
  'const __filename = __trellisFileURLToPath(import.meta.url);',
  'const __dirname = __trellisDirname(__filename);',
].join(' ');
const cli = {
  ...node,
  format: 'esm',
  splitting: true,
  entryPoints: { cli: 'src/cli/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: `${cliChunkPrefix}[hash]`,
  banner: { js: esmNodeGlobals },
};
// dist/cli.js stays the command every caller runs (package.json's bin, the extension, the serving image).
// Run as `trellis` (through the shebang), node starts with NODE_EXTRA_CA_CERTS empty and its value in
// TRELLIS_DEFERRED_CA_CERTS: Node 20 parses that file at start-up, used or not (17-33 ms of every command
// on these machines); the CLI restores it for TLS and child processes (src/cli/deferred-ca-certs.ts).
// --no-memory-reducer: SERVER_NODE_FLAGS (src/core/server-node-flags.ts), for `trellis serve` and `trellis
// server`; a command too short to idle never meets the reducer. `env -S` with ${VAR}: GNU coreutils 8.30+,
// macOS, FreeBSD. `node dist/cli.js` skips the shebang and behaves the same, paying the start-up cost.
const cliLauncher = [
  '#!/usr/bin/env -S TRELLIS_DEFERRED_CA_CERTS=${NODE_EXTRA_CA_CERTS} NODE_EXTRA_CA_CERTS= node --no-memory-reducer',
  '// The CLI is an ES module (dist/cli.mjs and its chunks; see esbuild.mjs).',
  "import('./cli.mjs');",
  '',
].join('\n');

const builds = [
  cli,
  { ...node, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: 'dist' },
  // The load tester's worker_threads entry: the engine (in cli.js or extension.js) starts it from dist/.
  { ...node, entryPoints: { 'loadtest-worker': 'src/services/loadtest/worker.ts' }, outdir: 'dist' },
  // The ONNX engine's inference worker: the engine starts it from dist/ (onnxruntime-node stays external).
  { ...node, entryPoints: { 'onnx-worker': 'src/engines/onnx/onnx-worker.ts' }, outdir: 'dist' },
];
// Webview bundles (browser code of the panels) join as the panels land.
if (existsSync('webview/main.ts')) {
  // Minified: the bundle's parse time is on the path from opening a panel to its first chart.
  // Its CSS imports (uPlot's) come out beside it as dist/webview.css.
  builds.push({ bundle: true, platform: 'browser', format: 'iife', target: 'es2022', sourcemap: true, minify: true,
    entryPoints: { webview: 'webview/main.ts' }, outdir: 'dist', logLevel: 'warning' });
}

// Chunks of earlier builds would pile up (their names are content hashes) and ship in the .vsix.
if (existsSync('dist')) {
  for (const f of readdirSync('dist')) if (f.startsWith(cliChunkPrefix)) rmSync(`dist/${f}`);
}
if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
writeFileSync('dist/cli.js', cliLauncher);
chmodSync('dist/cli.js', 0o755);
