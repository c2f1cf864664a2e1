import type { Command } from 'commander';
import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { connect, type GlobalOptions } from '../connect';
import { print, table } from '../format';

/**
 * `trellis models reference NAME VERSION --file F [--input NAME]`: the drift reference profile of a version,
 * built from a file of reference rows and saved under `<data dir>/drift/`, where the model server reads it.
 * Registered onto the `models` command, so call it after modelsCommand.
 */
export function modelsReferenceCommand(program: Command, globals: () => GlobalOptions): void {
  const models = program.commands.find((c) => c.name() === 'models');
  if (!models) throw new Error('modelsReferenceCommand: register the models command first.');
  models
    .command('reference <name> <version>')
    .description('Build the drift reference profile of a model version from reference rows (JSON or CSV) and save it in the data directory')
    .requiredOption('--file <path>', 'reference rows: {"inputs": {"<input>": [[row], ...]}}, a KServe v2 request body, or a CSV with a header of feature names')
    .option('--input <name>', 'the model input of a CSV file (JSON: profile only this input)')
    .option('--json', 'print JSON')
    .action(async (name: string, version: string, opts: { file: string; input?: string; json?: boolean }) => {
      const g = globals();
      if (g.url) {
        throw new Error(`'models reference' writes the profile into the local data directory (--data-dir), which a server at --url does not read; run it where that server's data directory is.`);
      }
      // Loaded here, not at the CLI's start (see esbuild.mjs).
      const [{ saveReferenceProfile }, { buildReferenceProfile, summarizeProfile }] = await Promise.all([
        import('../../core/drift-references.js'),
        import('../../services/serving/drift-profile.js'),
      ]);
      const profile = buildReferenceProfile(name, version, await readReferenceRows(opts.file, opts.input), resolve(opts.file));
      await requireVersion(g, name, version);
      const path = await saveReferenceProfile(resolve(g.dataDir), profile);
      const summary = summarizeProfile(profile);
      print({ path, inputs: summary }, !!opts.json, () =>
        [
          `Saved the drift reference of ${name} version ${version} to ${path}`,
          '',
          table(
            ['INPUT', 'ROWS', 'FEATURES', 'CONTINUOUS', 'CATEGORICAL'],
            summary.map((s) => [s.input, s.rows, s.features, s.continuous, s.categorical]),
          ),
        ].join('\n'),
      );
    });
}

async function readReferenceRows(file: string, input: string | undefined) {
  const { MAX_REFERENCE_BYTES, parseReferenceFile, referenceFormatOf } = await import('../../services/serving/drift-profile.js');
  const format = referenceFormatOf(file);
  let size: number;
  try {
    size = (await fsp.stat(file)).size;
  } catch {
    throw new Error(`Reference file '${file}' does not exist or cannot be read.`);
  }
  if (size > MAX_REFERENCE_BYTES) throw new Error(`Reference file '${file}' is ${size} bytes; the limit is ${MAX_REFERENCE_BYTES}. Keep a sample of the rows (a few thousand are plenty).`);
  return parseReferenceFile(await fsp.readFile(file, 'utf8'), format, `Reference file '${file}'`, input);
}

/** The profile is only useful for a version that exists: ask the platform before writing anything. */
async function requireVersion(g: GlobalOptions, name: string, version: string): Promise<void> {
  const { client, release } = await connect(g);
  try {
    await client.getModel(name);
    const versions = await client.searchVersions(`name = '${name.replace(/'/g, "\\'")}'`);
    if (!versions.some((v) => v.version === version)) {
      throw new Error(`Model '${name}' has no version ${version} (its versions: ${versions.map((v) => v.version).sort((a, b) => Number(a) - Number(b)).join(', ') || 'none'}).`);
    }
  } finally {
    await release();
  }
}
