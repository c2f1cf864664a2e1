import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrellisError } from '../../src/core/errors';
import {
  parseExperimentFilter,
  parseModelVersionFilter,
  parseOrderBy,
  parseRegisteredModelFilter,
  parseRunFilter,
  type Clause,
  type SearchEntity,
} from '../../src/core/search/filter';
import { decodePageToken, encodePageToken } from '../../src/core/search/page-token';

/** Asserts that `fn` throws INVALID_PARAMETER_VALUE with a message matching `message`. */
function assertInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TrellisError, `expected a TrellisError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_PARAMETER_VALUE');
    assert.match(error.message, message);
    return true;
  });
}

const clause = (type: Clause['type'], key: string, comparator: Clause['comparator'], value: Clause['value']): Clause => ({
  type,
  key,
  comparator,
  value,
});

// ---------------------------------------------------------------------------------------------
// Runs: valid forms

test('an empty, blank or missing filter has no clauses', () => {
  assert.deepEqual(parseRunFilter(''), []);
  assert.deepEqual(parseRunFilter('   '), []);
  assert.deepEqual(parseRunFilter(undefined), []);
});

test('clauses are joined by AND in any case', () => {
  assert.deepEqual(parseRunFilter("metrics.acc > 0.9 AND params.lr = '0.01' and tags.team != 'x'"), [
    clause('metric', 'acc', '>', 0.9),
    clause('parameter', 'lr', '=', '0.01'),
    clause('tag', 'team', '!=', 'x'),
  ]);
});

test('every prefix alias maps to its type', () => {
  const cases: [string, Clause['type']][] = [
    ['metric.a > 1', 'metric'],
    ['metrics.a > 1', 'metric'],
    ["param.a = 'x'", 'parameter'],
    ["params.a = 'x'", 'parameter'],
    ["parameter.a = 'x'", 'parameter'],
    ["parameters.a = 'x'", 'parameter'],
    ["tag.a = 'x'", 'tag'],
    ["tags.a = 'x'", 'tag'],
    ["`tags`.a = 'x'", 'tag'],
  ];
  for (const [filter, type] of cases) assert.equal(parseRunFilter(filter)[0]?.type, type, filter);
  for (const prefix of ['attribute', 'attributes', 'attr', 'run']) {
    assert.deepEqual(parseRunFilter(`${prefix}.status = 'FINISHED'`), [clause('attribute', 'status', '=', 'FINISHED')]);
  }
  for (const prefix of ['dataset', 'datasets']) {
    assert.deepEqual(parseRunFilter(`${prefix}.digest = 'abc'`), [clause('dataset', 'digest', '=', 'abc')]);
  }
});

test('keys may be quoted with backticks or double quotes, and keep their dots', () => {
  assert.deepEqual(parseRunFilter('metrics.`my metric` >= 1'), [clause('metric', 'my metric', '>=', 1)]);
  assert.deepEqual(parseRunFilter('params."a b" = \'x\''), [clause('parameter', 'a b', '=', 'x')]);
  assert.deepEqual(parseRunFilter("tags.mlflow.runName = 'x'"), [clause('tag', 'mlflow.runName', '=', 'x')]);
  assert.deepEqual(parseRunFilter("tags.`mlflow.source.type` = 'x'"), [clause('tag', 'mlflow.source.type', '=', 'x')]);
  assert.deepEqual(parseRunFilter('metrics.`val-loss` < 0.5'), [clause('metric', 'val-loss', '<', 0.5)]);
  assert.deepEqual(parseRunFilter('metrics.`it``s` < 1'), [clause('metric', 'it`s', '<', 1)]);
  assert.deepEqual(parseRunFilter('metrics.ünïcode_1 = 1'), [clause('metric', 'ünïcode_1', '=', 1)]);
});

test('string values take single or double quotes, with doubled or escaped quotes inside', () => {
  assert.deepEqual(parseRunFilter("params.a = 'x y'"), [clause('parameter', 'a', '=', 'x y')]);
  assert.deepEqual(parseRunFilter('params.a = "x y"'), [clause('parameter', 'a', '=', 'x y')]);
  assert.deepEqual(parseRunFilter("params.a = 'it''s'"), [clause('parameter', 'a', '=', "it's")]);
  assert.deepEqual(parseRunFilter("params.a = 'it\\'s'"), [clause('parameter', 'a', '=', "it's")]);
  assert.deepEqual(parseRunFilter('params.a = "say ""hi"""'), [clause('parameter', 'a', '=', 'say "hi"')]);
  assert.deepEqual(parseRunFilter("params.a = 'C:\\data'"), [clause('parameter', 'a', '=', 'C:\\data')]);
  assert.deepEqual(parseRunFilter("params.a = ''"), [clause('parameter', 'a', '=', '')]);
});

test('metric values accept every number form sqlparse does', () => {
  const values: [string, number][] = [
    ['1', 1],
    ['-1', -1],
    ['1.5', 1.5],
    ['1.', 1],
    ['.5', 0.5],
    ['-.5', -0.5],
    ['1e3', 1000],
    ['2.5E-2', 0.025],
  ];
  for (const [text, value] of values) {
    assert.deepEqual(parseRunFilter(`metrics.a = ${text}`), [clause('metric', 'a', '=', value)], text);
  }
  assert.deepEqual(parseRunFilter('metrics.a>=-1'), [clause('metric', 'a', '>=', -1)]);
});

test('comparators: all six for metrics, LIKE/ILIKE in any case for strings', () => {
  for (const op of ['=', '!=', '<', '<=', '>', '>='] as const) {
    assert.deepEqual(parseRunFilter(`metrics.a ${op} 2`), [clause('metric', 'a', op, 2)]);
  }
  assert.deepEqual(parseRunFilter("params.a like 'x%'"), [clause('parameter', 'a', 'LIKE', 'x%')]);
  assert.deepEqual(parseRunFilter("tags.a ILike '%x'"), [clause('tag', 'a', 'ILIKE', '%x')]);
});

test('run attributes, their aliases and numeric attributes', () => {
  assert.deepEqual(parseRunFilter("attributes.run_id = 'abc'"), [clause('attribute', 'run_id', '=', 'abc')]);
  assert.deepEqual(parseRunFilter("run_name LIKE 'a%'"), [clause('attribute', 'run_name', 'LIKE', 'a%')]);
  assert.deepEqual(parseRunFilter("attributes.`Run name` = 'x'"), [clause('attribute', 'run_name', '=', 'x')]);
  assert.deepEqual(parseRunFilter("`Run Name` = 'x'"), [clause('attribute', 'run_name', '=', 'x')]);
  assert.deepEqual(parseRunFilter("\"run name\" ILIKE 'x'"), [clause('attribute', 'run_name', 'ILIKE', 'x')]);
  assert.deepEqual(parseRunFilter("user_id != 'ann'"), [clause('attribute', 'user_id', '!=', 'ann')]);
  assert.deepEqual(parseRunFilter("artifact_uri LIKE 'file:%'"), [clause('attribute', 'artifact_uri', 'LIKE', 'file:%')]);
  assert.deepEqual(parseRunFilter('attributes.start_time >= 100'), [clause('attribute', 'start_time', '>=', 100)]);
  assert.deepEqual(parseRunFilter('end_time < 5'), [clause('attribute', 'end_time', '<', 5)]);
  assert.deepEqual(parseRunFilter('created > 5'), [clause('attribute', 'start_time', '>', 5)]);
  assert.deepEqual(parseRunFilter('attributes.Created > 5'), [clause('attribute', 'start_time', '>', 5)]);
});

test('IN and NOT IN take a list of quoted strings for run_id and datasets', () => {
  assert.deepEqual(parseRunFilter("attributes.run_id IN ('a', 'b')"), [clause('attribute', 'run_id', 'IN', ['a', 'b'])]);
  assert.deepEqual(parseRunFilter("run_id in ('a')"), [clause('attribute', 'run_id', 'IN', ['a'])]);
  assert.deepEqual(parseRunFilter("run_id NOT IN ('a','b' , \"c\")"), [
    clause('attribute', 'run_id', 'NOT IN', ['a', 'b', 'c']),
  ]);
  assert.deepEqual(parseRunFilter("datasets.name IN ('mnist', 'cifar') AND datasets.context = 'train'"), [
    clause('dataset', 'name', 'IN', ['mnist', 'cifar']),
    clause('dataset', 'context', '=', 'train'),
  ]);
  assert.deepEqual(parseRunFilter("run_id IN ('a') AND metrics.x > 1"), [
    clause('attribute', 'run_id', 'IN', ['a']),
    clause('metric', 'x', '>', 1),
  ]);
});

// ---------------------------------------------------------------------------------------------
// Runs: errors

test('OR is rejected: only AND joins clauses', () => {
  assertInvalid(() => parseRunFilter('metrics.a = 1 OR metrics.b = 2'), /Invalid clause\(s\).*'OR'.*Only AND is supported/);
  assertInvalid(() => parseRunFilter('metrics.a = 1 or metrics.b = 2'), /Only AND is supported/);
});

test('structural errors say what was expected and where', () => {
  assertInvalid(
    () => parseRunFilter('metrics.a = 1; metrics.b = 2'),
    /Search filter contained multiple expression .*Provide AND-ed expression list/,
  );
  assertInvalid(() => parseRunFilter('metrics.a > 1 AND'), /expected an identifier .*found the end of the filter/);
  assertInvalid(() => parseRunFilter('(metrics.a = 1)'), /expected an identifier .* at position 1, found '\('/);
  assertInvalid(() => parseRunFilter('metrics.a = 1 metrics.b = 2'), /expected AND between clauses at position 15/);
  assertInvalid(() => parseRunFilter('metrics.a 1'), /expected a comparator .*found '1'/);
  assertInvalid(() => parseRunFilter('metrics.a'), /expected a comparator .*found the end of the filter/);
  assertInvalid(() => parseRunFilter('metrics.a >'), /expected a number, found the end of the filter/);
  assertInvalid(() => parseRunFilter('params.a ='), /expected a quoted string value, found the end/);
  assertInvalid(() => parseRunFilter("= 'x'"), /expected an identifier/);
});

test('lexical errors: bad characters, unterminated quotes, empty keys', () => {
  assertInvalid(
    () => parseRunFilter('metrics.val-loss > 1'),
    /unexpected character '-' at position 12\. Keys with spaces or special characters must be wrapped in backticks/,
  );
  assertInvalid(() => parseRunFilter("params.a = 'open"), /unterminated ' quote starting at position 12/);
  assertInvalid(() => parseRunFilter('params.`open = 1'), /unterminated ` quote/);
  assertInvalid(() => parseRunFilter('metrics. = 1'), /expected a key after 'metrics\.'/);
  assertInvalid(() => parseRunFilter('metrics.`` = 1'), /Invalid identifier 'metrics\.': empty key/);
  assertInvalid(() => parseRunFilter('metrics.a = 1 & metrics.b = 2'), /unexpected character '&'/);
});

test('comparator errors list the comparators allowed for that identifier', () => {
  assertInvalid(() => parseRunFilter('metrics.a <> 1'), /Invalid comparator '<>'.*not one of '=', '!=', '<'/);
  assertInvalid(() => parseRunFilter('metrics.a == 1'), /Invalid comparator '=='/);
  assertInvalid(() => parseRunFilter("params.a NOT LIKE 'x'"), /Invalid comparator 'NOT LIKE'/);
  assertInvalid(
    () => parseRunFilter("params.a > 'x'"),
    /Invalid comparator '>' for params\.a, not one of '=', '!=', 'LIKE', 'ILIKE'$/,
  );
  assertInvalid(() => parseRunFilter("tags.a IN ('x')"), /Invalid comparator 'IN' for tags\.a/);
  assertInvalid(
    () => parseRunFilter("metrics.a LIKE '1'"),
    /Invalid comparator 'LIKE' for metrics\.a, not one of '=', '!=', '<', '<=', '>', '>='$/,
  );
  assertInvalid(() => parseRunFilter("start_time LIKE '1'"), /Invalid comparator 'LIKE' for start_time/);
  assertInvalid(() => parseRunFilter("status > 'A'"), /Invalid comparator '>' for status/);
});

test('value type errors use MLflow wording', () => {
  assertInvalid(() => parseRunFilter("metrics.a = '1'"), /^Expected numeric value type for metric\. Found '1'$/);
  assertInvalid(() => parseRunFilter('metrics.a = NaN'), /Expected numeric value type for metric\. Found NaN/);
  assertInvalid(
    () => parseRunFilter("start_time > '5'"),
    /^Expected numeric value type for numeric attribute: start_time\. Found '5'$/,
  );
  assertInvalid(
    () => parseRunFilter('params.a = 1'),
    /^Expected a quoted string value for parameter \(e\.g\. 'my-value'\)\. Got value 1$/,
  );
  assertInvalid(() => parseRunFilter('tags.a = 1'), /Expected a quoted string value for tag/);
  assertInvalid(() => parseRunFilter('status = 1'), /Expected a quoted string value for attributes/);
  assertInvalid(() => parseRunFilter('datasets.name = 1'), /Expected a quoted string value for dataset attributes/);
  for (const bare of ['abc', '`abc`', 'a.b']) {
    assertInvalid(
      () => parseRunFilter(`params.a = ${bare}`),
      /Parameter value is either not quoted or unidentified quote types used for string value .*Use either single or double quotes/,
    );
  }
});

test('list errors', () => {
  assertInvalid(
    () => parseRunFilter("status IN ('a')"),
    /^Only the 'run_id' attribute supports comparison with a list of quoted string values\.$/,
  );
  assertInvalid(() => parseRunFilter("run_id IN 'a'"), /expected a parenthesized list of quoted strings/);
  assertInvalid(() => parseRunFilter("run_id = ('a')"), /A list of values can only be compared with IN or NOT IN, not '='/);
  assertInvalid(
    () => parseRunFilter('run_id IN ()'),
    /expected a non-empty list of string values, but got empty list/,
  );
  assertInvalid(() => parseRunFilter('run_id IN (1)'), /expected string value, punctuation, or whitespace, but got different type in list: '1'/);
  assertInvalid(() => parseRunFilter("run_id IN ('a' 'b')"), /got ill-formed list: expected ',' or '\)' at ''b''/);
  assertInvalid(() => parseRunFilter("run_id IN ('a',"), /got different type in list: the end of the filter/);
  assertInvalid(() => parseRunFilter("run_id IN ('a'"), /ill-formed list.*the end of the filter/);
});

test('unknown prefixes, attributes and dataset keys list the valid ones', () => {
  assertInvalid(
    () => parseRunFilter('foo.a = 1'),
    /^Invalid entity type 'foo'\. Valid values are \['metric', 'parameter', 'tag', 'attribute', 'dataset'\]$/,
  );
  assertInvalid(() => parseRunFilter('Metrics.a = 1'), /Invalid entity type 'Metrics'/);
  assertInvalid(() => parseRunFilter('"metrics".a = 1'), /Invalid entity type 'metrics'/);
  assertInvalid(
    () => parseRunFilter("attributes.foo = 'x'"),
    /^Invalid attribute key 'foo' specified\. Valid keys are '.*'artifact_uri', .*'run_id', .*'user_id'$/,
  );
  assertInvalid(() => parseRunFilter("run_uuid = 'x'"), /Invalid attribute key 'run_uuid'/);
  assertInvalid(() => parseRunFilter('constructor.x = 1'), /Invalid entity type 'constructor'/);
  assertInvalid(() => parseRunFilter("toString = 'x'"), /Invalid attribute key 'toString'/);
  assertInvalid(() => parseOrderBy('__proto__.x', 'run'), /Invalid entity type '__proto__'/);
  assertInvalid(() => parseOrderBy('hasOwnProperty', 'experiment'), /Invalid attribute key 'hasOwnProperty'/);
  assertInvalid(() => parseRunFilter("lifecycle_stage = 'x'"), /Invalid attribute key 'lifecycle_stage'/);
  assertInvalid(
    () => parseRunFilter("datasets.source = 'x'"),
    /^Invalid dataset key 'source' specified\. Valid keys are 'name', 'digest', 'context'$/,
  );
});

// ---------------------------------------------------------------------------------------------
// Experiments and the registry

test('experiment filters: name, times and tags', () => {
  assert.deepEqual(parseExperimentFilter("name LIKE 'exp%'"), [clause('attribute', 'name', 'LIKE', 'exp%')]);
  assert.deepEqual(parseExperimentFilter("attribute.name = 'a'"), [clause('attribute', 'name', '=', 'a')]);
  assert.deepEqual(parseExperimentFilter("attributes.name != 'a'"), [clause('attribute', 'name', '!=', 'a')]);
  assert.deepEqual(parseExperimentFilter('creation_time > 5 AND last_update_time <= 9'), [
    clause('attribute', 'creation_time', '>', 5),
    clause('attribute', 'last_update_time', '<=', 9),
  ]);
  assert.deepEqual(parseExperimentFilter("tags.team ILIKE '%x%' AND tag.`a b` = 'y'"), [
    clause('tag', 'team', 'ILIKE', '%x%'),
    clause('tag', 'a b', '=', 'y'),
  ]);
});

test('experiment filter errors', () => {
  assertInvalid(
    () => parseExperimentFilter('metrics.a > 1'),
    /^Invalid entity type 'metrics'\. Valid entity types are \('attribute', 'tag', 'tags'\)$/,
  );
  assertInvalid(
    () => parseExperimentFilter("experiment_id = '1'"),
    /Invalid attribute key 'experiment_id' specified\. Valid keys are 'creation_time', 'last_update_time', 'name'/,
  );
  assertInvalid(() => parseExperimentFilter("name IN ('a')"), /Invalid comparator 'IN' for name/);
  assertInvalid(() => parseExperimentFilter("creation_time LIKE '1'"), /Invalid comparator 'LIKE' for creation_time/);
  assertInvalid(() => parseExperimentFilter("creation_time > 'x'"), /Expected numeric value type for numeric attribute: creation_time/);
  assertInvalid(() => parseExperimentFilter("tags.a > 'x'"), /Invalid comparator '>' for tags\.a/);
  assertInvalid(() => parseExperimentFilter("name = 'a' OR name = 'b'"), /Only AND is supported/);
});

test('registered model filters: name and tags only', () => {
  assert.deepEqual(parseRegisteredModelFilter("name = 'm'"), [clause('attribute', 'name', '=', 'm')]);
  assert.deepEqual(parseRegisteredModelFilter("name ILIKE '%m%' AND tags.stage = 'prod'"), [
    clause('attribute', 'name', 'ILIKE', '%m%'),
    clause('tag', 'stage', '=', 'prod'),
  ]);
  assertInvalid(() => parseRegisteredModelFilter("run_id = 'x'"), /Invalid attribute key 'run_id' specified\. Valid keys are 'name'/);
  assertInvalid(() => parseRegisteredModelFilter("name > 'a'"), /Invalid comparator '>' for name/);
  assertInvalid(() => parseRegisteredModelFilter("params.a = 'x'"), /Invalid entity type 'params'/);
  assertInvalid(() => parseRegisteredModelFilter("name IN ('a')"), /Invalid comparator 'IN' for name/);
});

test('model version filters: name, run_id (with IN), source_path, version_number, tags', () => {
  assert.deepEqual(parseModelVersionFilter("name = 'm' AND version_number > 2"), [
    clause('attribute', 'name', '=', 'm'),
    clause('attribute', 'version_number', '>', 2),
  ]);
  assert.deepEqual(parseModelVersionFilter("version_number = '3'"), [clause('attribute', 'version_number', '=', 3)]);
  assert.deepEqual(parseModelVersionFilter("run_id IN ('a', 'b')"), [clause('attribute', 'run_id', 'IN', ['a', 'b'])]);
  assert.deepEqual(parseModelVersionFilter("source_path LIKE 's3://%'"), [
    clause('attribute', 'source_path', 'LIKE', 's3://%'),
  ]);
  assert.deepEqual(parseModelVersionFilter("tags.`k` != 'v'"), [clause('tag', 'k', '!=', 'v')]);
  assertInvalid(() => parseModelVersionFilter("run_id NOT IN ('a')"), /Invalid comparator 'NOT IN' for run_id/);
  assertInvalid(() => parseModelVersionFilter("name IN ('a')"), /Invalid comparator 'IN' for name/);
  assertInvalid(() => parseModelVersionFilter("version_number = 'x'"), /Expected numeric value type for numeric attribute: version_number/);
  assertInvalid(() => parseModelVersionFilter("version_number LIKE '1'"), /Invalid comparator 'LIKE' for version_number/);
  assertInvalid(
    () => parseModelVersionFilter("status = 'READY'"),
    /Invalid attribute key 'status' specified\. Valid keys are 'name', 'run_id', 'source_path', 'version_number'/,
  );
});

// ---------------------------------------------------------------------------------------------
// order_by

test('run order_by: identifiers like filters, optional direction in any case', () => {
  assert.deepEqual(parseOrderBy('metrics.acc', 'run'), { type: 'metric', key: 'acc', ascending: true });
  assert.deepEqual(parseOrderBy('metrics.acc DESC', 'run'), { type: 'metric', key: 'acc', ascending: false });
  assert.deepEqual(parseOrderBy('metric.`a b` asc', 'run'), { type: 'metric', key: 'a b', ascending: true });
  assert.deepEqual(parseOrderBy('"metrics.a b" desc', 'run'), { type: 'metric', key: 'a b', ascending: false });
  assert.deepEqual(parseOrderBy('params.lr Desc', 'run'), { type: 'parameter', key: 'lr', ascending: false });
  assert.deepEqual(parseOrderBy('tags.mlflow.runName', 'run'), { type: 'tag', key: 'mlflow.runName', ascending: true });
  assert.deepEqual(parseOrderBy('start_time DESC', 'run'), { type: 'attribute', key: 'start_time', ascending: false });
  assert.deepEqual(parseOrderBy('attributes.run_name', 'run'), { type: 'attribute', key: 'run_name', ascending: true });
  assert.deepEqual(parseOrderBy('created', 'run'), { type: 'attribute', key: 'start_time', ascending: true });
  for (const name of ['end_time', 'status', 'user_id', 'artifact_uri', 'run_id']) {
    assert.equal(parseOrderBy(`attr.${name}`, 'run').key, name);
  }
});

test('run order_by errors', () => {
  assertInvalid(() => parseOrderBy('', 'run'), /^Invalid order_by clause ''\. Could not be parsed\.$/);
  assertInvalid(() => parseOrderBy('metrics.a DESC x', 'run'), /Invalid order_by clause 'metrics\.a DESC x'\. Could not be parsed\./);
  assertInvalid(() => parseOrderBy('DESC', 'run'), /Could not be parsed/);
  assertInvalid(() => parseOrderBy('metrics.a = 1', 'run'), /Invalid order_by clause 'metrics\.a = 1'\. Could not be parsed/);
  assertInvalid(() => parseOrderBy('metrics.a =', 'run'), /Invalid ordering key in order_by clause 'metrics\.a ='.*found '='/);
  assertInvalid(() => parseOrderBy('metrics.a FOO', 'run'), /Invalid ordering key .*expected ASC or DESC, found 'FOO'/);
  assertInvalid(() => parseOrderBy("metrics.'a", 'run'), /Could not be parsed/);
  assertInvalid(() => parseOrderBy('foo', 'run'), /^Invalid attribute key 'foo' specified\. Valid keys are '.*'start_time'/);
  assertInvalid(() => parseOrderBy('bar.x', 'run'), /Invalid entity type 'bar'/);
  assertInvalid(() => parseOrderBy('datasets.name', 'run'), /^Invalid order_by entity: dataset$/);
});

test('experiment, registered model and model version order_by keys', () => {
  const ok: [string, SearchEntity, string, boolean][] = [
    ['name', 'experiment', 'name', true],
    ['attribute.experiment_id DESC', 'experiment', 'experiment_id', false],
    ['creation_time desc', 'experiment', 'creation_time', false],
    ['last_update_time', 'experiment', 'last_update_time', true],
    ['name DESC', 'registered_model', 'name', false],
    ['timestamp DESC', 'registered_model', 'last_updated_timestamp', false],
    ['last_updated_timestamp', 'registered_model', 'last_updated_timestamp', true],
    ['creation_timestamp', 'registered_model', 'creation_timestamp', true],
    ['version_number DESC', 'model_version', 'version_number', false],
    ['creation_timestamp', 'model_version', 'creation_timestamp', true],
    ['last_updated_timestamp ASC', 'model_version', 'last_updated_timestamp', true],
    ['name', 'model_version', 'name', true],
  ];
  for (const [clause, entity, key, ascending] of ok) {
    assert.deepEqual(parseOrderBy(clause, entity), { type: 'attribute', key, ascending }, `${entity}: ${clause}`);
  }
  assertInvalid(() => parseOrderBy('tags.a', 'experiment'), /^Invalid order_by entity: tag$/);
  assertInvalid(() => parseOrderBy('metrics.a', 'experiment'), /Invalid entity type 'metrics'\. Valid entity types are/);
  assertInvalid(() => parseOrderBy('artifact_location', 'experiment'), /Invalid attribute key 'artifact_location'/);
  assertInvalid(
    () => parseOrderBy('version', 'registered_model'),
    /^Invalid order by key 'version' specified\. Valid keys are 'creation_timestamp', 'last_updated_timestamp', 'name', 'timestamp'$/,
  );
  assertInvalid(() => parseOrderBy('version', 'model_version'), /Invalid order by key 'version' specified\. Valid keys are .*'version_number'/);
  assertInvalid(() => parseOrderBy('tags.a', 'model_version'), /Invalid order_by entity: tag/);
});

// ---------------------------------------------------------------------------------------------
// Page tokens

test('page tokens round-trip and use MLflow\'s base64 {"offset": N} format', () => {
  assert.equal(decodePageToken(undefined), 0);
  assert.equal(decodePageToken(''), 0);
  assert.equal(decodePageToken(encodePageToken(0)), 0);
  assert.equal(decodePageToken(encodePageToken(1000)), 1000);
  assert.equal(Buffer.from(encodePageToken(100), 'base64').toString(), '{"offset":100}');
  // A token written by MLflow itself (json.dumps puts a space after the colon).
  assert.equal(decodePageToken(Buffer.from('{"offset": 25}').toString('base64')), 25);
  assert.equal(decodePageToken(Buffer.from('{"offset": "25"}').toString('base64')), 25);
});

test('malformed page tokens are rejected', () => {
  assertInvalid(() => decodePageToken('not base64!'), /Invalid page token 'not base64!', could not base64-decode/);
  assertInvalid(() => decodePageToken(Buffer.from('nope').toString('base64')), /Invalid page token, decoded value=nope/);
  for (const json of ['{}', '{"offset": -1}', '{"offset": 1.5}', '{"offset": "x"}', '[1]', 'null', '7']) {
    assertInvalid(() => decodePageToken(Buffer.from(json).toString('base64')), /Invalid page token, parsed value=/);
  }
});
