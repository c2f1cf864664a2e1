// Reference rows from JSON (inputs by name, or a KServe v2 request body) and CSV, and the profiles built from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReferenceProfile, parseReferenceFile, referenceFormatOf, summarizeProfile } from '../../src/services/serving/drift-profile';
import { profileProblem } from '../../src/core/drift-references';
import { prng } from '../support/prng';

function range(n: number): number[];
function range<T>(n: number, f: (i: number) => T): T[];
function range(n: number, f: (i: number) => unknown = (i) => i): unknown[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

test('JSON rows by input name: nested rows are flattened, a list of numbers is a one-feature input', () => {
  const text = JSON.stringify({ inputs: { img: range(12, (i) => [[i, 1], [2, 3]]), flag: range(12, (i) => i % 2 === 0) } });
  const [img, flag] = parseReferenceFile(text, 'json', 'ref.json');
  assert.equal(img!.input, 'img');
  assert.deepEqual(img!.featureNames, ['img[0]', 'img[1]', 'img[2]', 'img[3]']);
  assert.equal(img!.rows, 12);
  assert.deepEqual([...img!.values.slice(4, 8)], [1, 1, 2, 3]);
  assert.deepEqual(flag!.featureNames, ['flag']);
  assert.deepEqual([...flag!.values.slice(0, 3)], [1, 0, 1], 'booleans as 0/1');
});

test('a KServe v2 request body: shape[0] rows, the rest features; BYTES tensors skipped', () => {
  const text = JSON.stringify({
    inputs: [
      { name: 'x', shape: [10, 2, 2], datatype: 'FP32', data: range(40) },
      { name: 'ids', shape: [10], datatype: 'INT64', data: range(10) },
      { name: 'text', shape: [10], datatype: 'BYTES', data: range(10).map(String) },
    ],
  });
  const tables = parseReferenceFile(text, 'json', 'req.json');
  assert.deepEqual(tables.map((t) => [t.input, t.rows, t.featureNames.length]), [['x', 10, 4], ['ids', 10, 1]]);
  assert.deepEqual(tables[0]!.featureNames, ['x[0]', 'x[1]', 'x[2]', 'x[3]']);
  assert.deepEqual(tables[1]!.featureNames, ['ids']);
  assert.deepEqual(parseReferenceFile(text, 'json', 'req.json', 'ids').map((t) => t.input), ['ids'], '--input keeps one input');
});

test('CSV: the header names the features; the input comes from --input or from NAME[i] columns', () => {
  const csv = ['a,"b, quoted",c', ...range(10, (i) => [i, i * 2, 1]).map((r) => r.join(','))].join('\r\n') + '\n';
  const [t] = parseReferenceFile(csv, 'csv', 'ref.csv', 'x');
  assert.equal(t!.input, 'x');
  assert.deepEqual(t!.featureNames, ['a', 'b, quoted', 'c']);
  assert.deepEqual([...t!.values.slice(3, 6)], [1, 2, 1]);
  const named = ['x[0],x[1]', ...range(10, (i) => `${i},${-i}`)].join('\n');
  assert.equal(parseReferenceFile(named, 'csv', 'ref.csv')[0]!.input, 'x');
  assert.throws(() => parseReferenceFile(csv, 'csv', 'ref.csv'), /ref.csv: cannot tell which model input its columns belong to\. Name the input \(--input NAME\)/);
});

test('bad reference files are refused with the place and the problem', () => {
  const json = (body: unknown) => () => parseReferenceFile(JSON.stringify(body), 'json', 'ref.json');
  assert.throws(() => parseReferenceFile('{"inputs": ', 'json', 'ref.json'), /ref.json is not valid JSON/);
  assert.throws(json({ rows: [] }), /expected \{"inputs": \{"<input name>": \[\[row\], …\]\}\} or a KServe v2 request/);
  assert.throws(json({ inputs: { x: range(12, (i) => (i === 5 ? [1, 2, 3] : [1, 2])) } }), /input 'x': row 5 has 3 values but row 0 has 2/);
  assert.throws(json({ inputs: { x: range(12, (i) => (i === 3 ? ['7', 1] : [1, 2])) } }), /input 'x' row 3: "7" is not a finite number/);
  assert.throws(json({ inputs: { x: [1, [2, 3], ...range(10)] } }), /mixes single values and lists/);
  assert.throws(json({ inputs: { x: range(5, () => [1]) } }), /input 'x' has 5 rows; a reference needs at least 10/);
  assert.throws(json({ inputs: [{ name: 'x', shape: [10, 3], datatype: 'FP32', data: range(20) }] }), /inputs\[0\] \('x'\): shape \[10, 3\] holds 30 values but "data" has 20/);
  assert.throws(json({ inputs: [{ name: 'x', shape: 'big', data: [] }] }), /"shape" must be a list of whole numbers with the rows first/);
  assert.throws(() => parseReferenceFile(JSON.stringify({ inputs: { x: range(10) } }), 'json', 'ref.json', 'y'), /no input named 'y' \(it has 'x'\)/);
  const csv = (lines: string[]) => () => parseReferenceFile(lines.join('\n'), 'csv', 'ref.csv', 'x');
  assert.throws(csv(['a,b', ...range(10, () => '1,2'), '1']), /ref.csv line 12: 1 fields but the header has 2/);
  assert.throws(csv(['a,b', ...range(10, () => '1,2'), '1,abc']), /ref.csv line 12, column 'b': 'abc' is not a finite number/);
  assert.throws(csv(['a,a', ...range(10, () => '1,2')]), /column 'a' appears twice/);
  assert.throws(() => referenceFormatOf('rows.parquet'), /give a \.json file .* or a \.csv file/);
});

test('a built profile: ≤ 20 distinct values is categorical, otherwise quantile bins and a sorted sample', () => {
  const rand = prng(3);
  const rows = range(3000, () => [rand() * 100, Math.floor(rand() * 20), Math.floor(rand() * 21), 5]);
  const table = { input: 'x', featureNames: ['x[0]', 'x[1]', 'x[2]', 'x[3]'], rows: rows.length, values: Float64Array.from(rows.flat()) };
  const profile = buildReferenceProfile('m', '2', [table], 'ref.json');
  assert.equal(profileProblem(profile), undefined);
  const [cont, twenty, twentyOne, constant] = profile.inputs[0]!.features;
  assert.equal(cont!.kind, 'continuous');
  assert.ok(cont!.kind === 'continuous' && cont!.edges.length === 9 && cont!.sample.length === 1000);
  assert.ok(cont!.proportions.every((p) => Math.abs(p - 0.1) < 1e-9), 'distinct values: exactly a tenth per bin');
  assert.equal(twenty!.kind, 'categorical');
  assert.ok(twenty!.kind === 'categorical' && twenty!.categories.length === 20);
  assert.equal(twentyOne!.kind, 'continuous', '21 distinct values');
  assert.deepEqual(constant, { name: 'x[3]', kind: 'categorical', categories: [5], proportions: [1] });
  assert.ok(Math.abs(twenty!.proportions.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.deepEqual(summarizeProfile(profile), [{ input: 'x', rows: 3000, features: 4, continuous: 2, categorical: 2 }]);
});
