import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateAlias, validateBatchSize, validateKey, validateValueLength } from '../../src/core/validation';
import { TrellisError } from '../../src/core/errors';

const rejects = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof TrellisError && err.code === 'INVALID_PARAMETER_VALUE' && pattern.test(err.message));

test('keys: MLflow characters allowed, path tricks refused', () => {
  for (const ok of ['loss', 'val/acc', 'epoch time: s', 'a-b_c.d']) assert.equal(validateKey('metric', ok), ok);
  for (const bad of ['../x', '/abs', 'a//b', 'a/./b', 'trailing/', '.', 'semi;colon', 'q"uote']) rejects(() => validateKey('metric', bad), /Invalid value/);
  rejects(() => validateKey('param', 'k'.repeat(251)), /exceeded length limit of 250/);
  rejects(() => validateKey('tag', ''), /Missing value/);
});

test('value lengths and batch sizes follow MLflow limits', () => {
  validateValueLength('param', 'p', 'x'.repeat(6000));
  rejects(() => validateValueLength('param', 'p', 'x'.repeat(6001)), /6000/);
  rejects(() => validateValueLength('tag', 't', 'x'.repeat(5001)), /5000/);
  validateBatchSize(1000, 0, 0);
  rejects(() => validateBatchSize(1001, 0, 0), /at most 1000 metrics/);
  rejects(() => validateBatchSize(0, 101, 0), /at most 100 params/);
  rejects(() => validateBatchSize(0, 0, 101), /at most 100 tags/);
  rejects(() => validateBatchSize(900, 100, 1), /at most 1000 total/);
});

test('aliases: letters, digits, _ and -; latest and v<digits> reserved', () => {
  for (const ok of ['champion', 'prod-2', 'A_b']) assert.equal(validateAlias(ok), ok);
  rejects(() => validateAlias('latest'), /reserved/);
  rejects(() => validateAlias('LATEST'), /reserved/);
  rejects(() => validateAlias('v12'), /reserved/);
  rejects(() => validateAlias('has space'), /Invalid alias/);
  rejects(() => validateAlias('a'.repeat(256)), /255/);
});
