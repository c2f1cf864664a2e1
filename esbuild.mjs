// Bundles the front ends. Native packages stay external: they load their own .node binaries at run time.
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';

const watch = process.argv.includes('--watch');
// @kubernetes/client-node (~15 MB bundled) is required from node_modules only when a deploy command
// talks to a cluster: bundled, its size alone would slow every command's start-up to parse it.
const external = ['vscode', 'better-sqlite3', 'onnxruntime-node', 'cpu-features', 'ssh2', '@kubernetes/client-node'];

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external,
  logLevel: 'warning',
};

const builds = [
  { ...node, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } },
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

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
