import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointUrlOf, modelNameOf, runIdOf, runIdsOf } from '../../src/extension/panels/args';

test('a panel command takes a run id, a tree item with runId, or a run as the API returns it', () => {
  assert.equal(runIdOf('abc'), 'abc');
  assert.equal(runIdOf({ runId: 'abc' }), 'abc');
  assert.equal(runIdOf({ run: { info: { run_id: 'abc' } } }), 'abc');
  assert.equal(runIdOf(['abc', 'def']), 'abc');
  assert.equal(runIdOf('  '), undefined);
  assert.equal(runIdOf(42), undefined);
});

test('compare takes a list of ids or items, without repeats, in the order given', () => {
  assert.deepEqual(runIdsOf(['b', { runId: 'a' }, 'b', null]), ['b', 'a']);
  assert.deepEqual(runIdsOf(undefined), []);
  assert.deepEqual(runIdsOf('a'), ['a']);
});

test('a model is named by a string or an item', () => {
  assert.equal(modelNameOf('digits'), 'digits');
  assert.equal(modelNameOf({ modelName: 'digits' }), 'digits');
  assert.equal(modelNameOf({ model: { name: 'digits' } }), 'digits');
  assert.equal(modelNameOf({}), undefined);
});

test('an endpoint is an http(s) URL, given as such or on an announced endpoint', () => {
  assert.equal(endpointUrlOf('http://127.0.0.1:8080/'), 'http://127.0.0.1:8080');
  assert.equal(endpointUrlOf({ url: 'https://h:1' }), 'https://h:1');
  assert.equal(endpointUrlOf('file:///etc/passwd'), undefined);
  assert.equal(endpointUrlOf(undefined), undefined);
});
