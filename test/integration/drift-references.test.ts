// Drift reference profiles as files in a real data directory: save/load, refused path escapes, profiles
// built from a registered version's run artifacts, and `trellis models reference` on a real store.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Command } from 'commander';
import { ArtifactStore } from '../../src/core/artifacts';
import { loadReferenceProfile, referenceProfilePath, saveReferenceProfile, type ReferenceProfile } from '../../src/core/drift-references';
import { openStore, type Store } from '../../src/core/store';
import { buildReferenceProfile, profileFromRunArtifacts } from '../../src/services/serving/drift-profile';
import { modelsCommand } from '../../src/cli/commands/models';
import { modelsReferenceCommand } from '../../src/cli/commands/models-reference';
import { twoInputModel } from '../fixtures/onnx-models';
import { registerModel } from '../support/models';
import { tempDir } from '../support/platform';
import { prng } from '../support/prng';

const rand = prng(42);
const rows = (n: number, width: number, offset = 0) => Array.from({ length: n }, () => Array.from({ length: width }, () => offset + rand()));
const profileOf = (model: string, version: string): ReferenceProfile => {
  const values = rows(50, 2);
  return buildReferenceProfile(model, version, [{ input: 'x', featureNames: ['x[0]', 'x[1]'], rows: 50, values: Float64Array.from(values.flat()) }], 'test');
};

const errorCode = (code: string, message: RegExp) => (err: unknown) => {
  assert.equal((err as { code?: string }).code, code, String(err));
  assert.match((err as Error).message, message);
  return true;
};

describe('drift reference profiles on disk', () => {
  const { dir, cleanup } = tempDir('trellis-drift-');
  after(cleanup);

  test('save then load gives the same profile; a version without one loads as undefined', async () => {
    const profile = profileOf('digits', '3');
    const path = await saveReferenceProfile(dir, profile);
    assert.equal(path, join(dir, 'drift', 'digits', '3.json'));
    assert.deepEqual(await loadReferenceProfile(dir, 'digits', '3'), profile);
    assert.equal(await loadReferenceProfile(dir, 'digits', '4'), undefined);
    // Overwriting replaces the file whole and leaves no temporary file behind.
    const again = profileOf('digits', '3');
    await saveReferenceProfile(dir, again);
    assert.deepEqual(await loadReferenceProfile(dir, 'digits', '3'), again);
    assert.deepEqual(readdirSync(join(dir, 'drift', 'digits')), ['3.json']);
  });

  test('model names with slashes and spaces stay one folder inside drift/', async () => {
    const path = await saveReferenceProfile(dir, profileOf('team/fraud model', '1'));
    assert.equal(path, join(dir, 'drift', 'team%2Ffraud%20model', '1.json'));
    assert.equal((await loadReferenceProfile(dir, 'team/fraud model', '1'))?.model, 'team/fraud model');
  });

  test('names that would leave the drift folder are refused, and nothing is written', async () => {
    for (const [model, version] of [
      ['..', '1'],
      ['.', '1'],
      ['', '1'],
      ['m', '../../escape'],
      ['m', '1/../../x'],
      ['m', '0'],
      ['a\0b', '1'],
    ] as const) {
      assert.throws(() => referenceProfilePath(dir, model, version), errorCode('INVALID_PARAMETER_VALUE', /Invalid model (name|version)/), `${model} ${version}`);
      await assert.rejects(loadReferenceProfile(dir, model, version), errorCode('INVALID_PARAMETER_VALUE', /Invalid model/));
    }
    await assert.rejects(saveReferenceProfile(dir, profileOf('..', '1')), errorCode('INVALID_PARAMETER_VALUE', /Invalid model name '\.\.'/));
    await assert.rejects(saveReferenceProfile(dir, profileOf('m', '../../escape')), errorCode('INVALID_PARAMETER_VALUE', /Invalid model version/));
    assert.ok(!existsSync(join(dir, 'escape.json')) && !existsSync(join(dir, '..', 'escape.json')));
    // '..' percent-encoded is just a name: it cannot climb either.
    assert.equal(referenceProfilePath(dir, '../m', '1'), join(dir, 'drift', '..%2Fm', '1.json'));
  });

  test('an invalid profile is refused on save; a damaged file on load says how to rebuild it', async () => {
    const bad = profileOf('m', '1');
    (bad.inputs[0]!.features[0] as { proportions: number[] }).proportions = [2];
    await assert.rejects(saveReferenceProfile(dir, bad), errorCode('INVALID_PARAMETER_VALUE', /input 'x' feature 'x\[0\]': proportions must be numbers in \[0, 1\]/));
    await saveReferenceProfile(dir, profileOf('m', '1'));
    writeFileSync(referenceProfilePath(dir, 'm', '1'), '{"format": 1, "model": "m"');
    await assert.rejects(loadReferenceProfile(dir, 'm', '1'), errorCode('INVALID_STATE', /is not valid JSON .*rebuild it with 'trellis models reference m 1 --file/));
    writeFileSync(referenceProfilePath(dir, 'm', '1'), JSON.stringify(profileOf('other', '7')));
    await assert.rejects(loadReferenceProfile(dir, 'm', '1'), errorCode('INVALID_STATE', /belongs to other version 7, not m version 1/));
  });
});

describe('profiles of registered versions', () => {
  const { dir, cleanup } = tempDir('trellis-drift-store-');
  let store: Store;
  const write = (path: string, text: string) => store.artifacts.write(path, Readable.from([Buffer.from(text)]));
  const runRoot = (name: string, version: string) => ArtifactStore.relativeOfUri(store.runs.info(store.registry.getVersion(name, version).run_id).artifact_uri)!;

  before(() => {
    store = openStore(dir);
  });
  after(() => {
    store.close();
    cleanup();
  });

  test('drift_reference.json beside the ONNX file gives the version a profile', async () => {
    const version = await registerModel(store, 'two', twoInputModel().bytes);
    await write(`${runRoot('two', version)}/model/drift_reference.json`, JSON.stringify({ inputs: { a: rows(200, 3), b: rows(200, 3, 5) } }));
    const built = await profileFromRunArtifacts(store, store.registry.getVersion('two', version));
    assert.ok(built);
    const loaded = await loadReferenceProfile(dir, 'two', version);
    assert.deepEqual(loaded, built);
    assert.deepEqual(
      loaded!.inputs.map((i) => [i.name, i.rows, i.features.map((f) => `${f.name}:${f.kind}`).join(' ')]),
      [
        ['a', 200, 'a[0]:continuous a[1]:continuous a[2]:continuous'],
        ['b', 200, 'b[0]:continuous b[1]:continuous b[2]:continuous'],
      ],
    );
    assert.match(loaded!.source, /model\/drift_reference\.json$/);
  });

  test("a CSV reference at the run's artifact root is found too", async () => {
    const version = await registerModel(store, 'two', twoInputModel().bytes);
    const csv = ['a[0],a[1],a[2]', ...rows(100, 3).map((r) => r.join(','))].join('\n');
    await write(`${runRoot('two', version)}/drift_reference.csv`, csv);
    const profile = await profileFromRunArtifacts(store, store.registry.getVersion('two', version));
    assert.deepEqual(profile?.inputs.map((i) => [i.name, i.rows, i.features.length]), [['a', 100, 3]]);
    assert.equal((await loadReferenceProfile(dir, 'two', version))?.version, version);
  });

  test('a version without a reference file gets no profile; a malformed one is an error naming the file', async () => {
    const plain = await registerModel(store, 'plain', twoInputModel().bytes);
    assert.equal(await profileFromRunArtifacts(store, store.registry.getVersion('plain', plain)), undefined);
    assert.equal(await loadReferenceProfile(dir, 'plain', plain), undefined);
    const broken = await registerModel(store, 'broken', twoInputModel().bytes);
    await write(`${runRoot('broken', broken)}/model/drift_reference.json`, JSON.stringify({ inputs: { a: [[1, 2, 3], [1, 2]] } }));
    await assert.rejects(
      profileFromRunArtifacts(store, store.registry.getVersion('broken', broken)),
      errorCode('INVALID_PARAMETER_VALUE', /Reference file '.*\/model\/drift_reference\.json': input 'a': row 1 has 2 values but row 0 has 3/),
    );
  });

  test('trellis models reference builds, saves and summarizes a profile; an unknown version is refused', async () => {
    const version = await registerModel(store, 'cli-model', twoInputModel().bytes);
    const file = join(dir, 'reference.json');
    writeFileSync(file, JSON.stringify({ inputs: { a: rows(150, 3), b: rows(150, 3).map((r) => [r[0]!, 1, Math.round(r[2]! * 3)]) } }));
    const run = async (...args: string[]) => {
      const program = new Command('trellis').option('-d, --data-dir <dir>').exitOverride();
      const globals = () => ({ dataDir: dir });
      modelsCommand(program, globals);
      modelsReferenceCommand(program, globals);
      const out: string[] = [];
      const write = process.stdout.write;
      process.stdout.write = ((chunk: string) => out.push(String(chunk)) > 0) as unknown as typeof process.stdout.write;
      try {
        await program.parseAsync(args, { from: 'user' });
      } finally {
        process.stdout.write = write;
      }
      return out.join('');
    };
    const text = await run('models', 'reference', 'cli-model', version, '--file', file);
    assert.match(text, new RegExp(`Saved the drift reference of cli-model version ${version} to .*drift/cli-model/${version}\\.json`));
    assert.match(text, /^a\s+150\s+3\s+3\s+0$/m);
    assert.match(text, /^b\s+150\s+3\s+1\s+2$/m);
    assert.equal((await loadReferenceProfile(dir, 'cli-model', version))?.inputs.length, 2);
    const json = JSON.parse(await run('models', 'reference', 'cli-model', version, '--file', file, '--input', 'b', '--json'));
    assert.deepEqual(json.inputs, [{ input: 'b', rows: 150, features: 3, continuous: 1, categorical: 2 }]);
    await assert.rejects(run('models', 'reference', 'cli-model', '99', '--file', file), /Model 'cli-model' has no version 99 \(its versions: 1\)/);
    await assert.rejects(run('models', 'reference', 'cli-model', version, '--file', join(dir, 'missing.json')), /Reference file '.*missing\.json' does not exist/);
    assert.equal(await loadReferenceProfile(dir, 'cli-model', '99'), undefined);
  });
});
