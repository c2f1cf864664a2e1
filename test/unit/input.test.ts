import { test } from 'node:test';
import assert from 'node:assert/strict';
import { int64, keyValues, parseJsonBody, requiredDouble, requiredStr, strList, toJson, fieldsOfQuery } from '../../src/server/input';
import { TrellisError } from '../../src/core/errors';

test('bare NaN and Infinity tokens (Python json) are read as protobuf strings, strings left alone', () => {
  const f = parseJsonBody('{"a": NaN, "b": -Infinity, "c": Infinity, "s": "NaN Infinity \\" NaN"}');
  assert.ok(Number.isNaN(requiredDouble(f, 'a')));
  assert.equal(requiredDouble(f, 'b'), -Infinity);
  assert.equal(requiredDouble(f, 'c'), Infinity);
  assert.equal(f.s, 'NaN Infinity " NaN');
});

test('malformed bodies and non-objects are refused with a clear error', () => {
  assert.throws(() => parseJsonBody('{"a":'), (e: unknown) => e instanceof TrellisError && /Malformed JSON/.test(e.message));
  assert.throws(() => parseJsonBody('[1,2]'), /must be a JSON object/);
  assert.deepEqual(parseJsonBody('  '), {});
});

test('int64 accepts numbers and decimal strings; refuses fractions and words, naming the field', () => {
  assert.equal(int64({ step: 5 }, 'step'), 5);
  assert.equal(int64({ step: '-12' }, 'step'), -12);
  assert.equal(int64({}, 'step'), undefined);
  assert.throws(() => int64({ step: 1.5 }, 'step'), /'step'/);
  assert.throws(() => int64({ step: 'ten' }, 'step'), /'step'/);
});

test('required strings, lists and key/value messages', () => {
  assert.throws(() => requiredStr({ name: '' }, 'name'), /Missing value for required parameter 'name'/);
  assert.throws(() => requiredStr({ name: 3 }, 'name'), /Invalid value 3 for parameter 'name'/);
  assert.deepEqual(strList({ ids: 'a' }, 'ids'), ['a']);
  assert.deepEqual(strList(fieldsOfQuery(new URLSearchParams('ids=a&ids=b')), 'ids'), ['a', 'b']);
  assert.deepEqual(keyValues({ tags: [{ key: 'k' }] }, 'tags'), [{ key: 'k', value: '' }]);
  assert.throws(() => keyValues({ tags: [{ value: 'v' }] }, 'tags'), /'tags.key'/);
});

test('replies write non-finite doubles the way protobuf does', () => {
  assert.equal(toJson({ v: NaN, w: -Infinity, x: 1 }), '{"v":"NaN","w":"-Infinity","x":1}');
});
