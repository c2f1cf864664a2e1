import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseStages } from '../../src/services/loadtest/parse';
import { compileTemplate } from '../../src/services/loadtest/template';
import { TrellisError } from '../../src/core/errors';

test('parseDuration reads ms, s, m, h, decimals, compounds and bare seconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration(' 2S '), 2000);
  assert.equal(parseDuration('10'), 10_000);
  assert.equal(parseDuration('0s'), 0);
});

test('parseDuration refuses what is not a duration, with the text in the message', () => {
  for (const bad of ['', 's', '10x', '-5s', '1.2.3s', '5 s', 'abc', '1m 30s']) {
    assert.throws(() => parseDuration(bad), (err: unknown) => err instanceof TrellisError && err.code === 'INVALID_PARAMETER_VALUE', bad);
  }
  assert.throws(() => parseDuration('10x'), /'10x'/);
});

test('parseStages reads duration:rate lists', () => {
  assert.deepEqual(parseStages('30s:100,60s:500'), [
    { durationMs: 30_000, targetRps: 100 },
    { durationMs: 60_000, targetRps: 500 },
  ]);
  assert.deepEqual(parseStages('0s:0, 1m:250.5'), [
    { durationMs: 0, targetRps: 0 },
    { durationMs: 60_000, targetRps: 250.5 },
  ]);
  assert.deepEqual(parseStages('500ms:10'), [{ durationMs: 500, targetRps: 10 }]);
});

test('parseStages refuses malformed stages and plans that last no time', () => {
  for (const bad of ['', '30s', '30s:', ':100', '30s:-1', '30s:abc', '30s:100,,60s:5', '0s:100', '30s:1:2']) {
    assert.throws(() => parseStages(bad), (err: unknown) => err instanceof TrellisError, bad);
  }
  assert.throws(() => parseStages('30s:100,oops'), /'oops'/);
});

test('templates fill every placeholder per request', () => {
  const t = compileTemplate({
    template: '{"seq":{{seq}},"id":"{{ uuid }}","n":{{random_int:-2:3}},"x":{{random_float:0.5:1.5}},"row":"{{row}}"}}',
    rows: ['a', 'b', 'c'],
  });
  assert.equal(t.constant, false);
  const seen = new Set<string>();
  for (let seq = 1; seq <= 200; seq++) {
    const text = t.render(seq);
    assert.ok(text.endsWith('}}'), 'a literal brace after a placeholder stays');
    const v = JSON.parse(text.slice(0, -1));
    assert.equal(v.seq, seq);
    assert.match(v.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!seen.has(v.id));
    seen.add(v.id);
    assert.ok(Number.isInteger(v.n) && v.n >= -2 && v.n <= 3);
    assert.ok(v.x >= 0.5 && v.x < 1.5);
    assert.equal(v.row, ['a', 'b', 'c'][(seq - 1) % 3]);
  }
});

test('random_int covers both ends of its range', () => {
  const t = compileTemplate({ template: '{{random_int:1:3}}' });
  const values = new Set(Array.from({ length: 300 }, (_, i) => t.render(i + 1)));
  assert.deepEqual([...values].sort(), ['1', '2', '3']);
});

test('a template without placeholders is constant; unknown or malformed placeholders are refused', () => {
  const t = compileTemplate({ template: '{"a":{"b":1}} {{ not closed' });
  assert.equal(t.constant, true);
  assert.equal(t.render(7), '{"a":{"b":1}} {{ not closed');
  assert.throws(() => compileTemplate({ template: '{{sequence}}' }), /Unknown template placeholder \{\{sequence\}\}/);
  assert.throws(() => compileTemplate({ template: '{{random_int:1}}' }), /2 argument/);
  assert.throws(() => compileTemplate({ template: '{{random_int:5:1}}' }), /lo ≤ hi/);
  assert.throws(() => compileTemplate({ template: '{{random_int:1.5:3}}' }), /integers/);
  assert.throws(() => compileTemplate({ template: '{{seq:1:2}}' }), /0 argument/);
  assert.throws(() => compileTemplate({ template: '{{row}}' }), /sample rows/);
  assert.throws(() => compileTemplate({ template: '{{row}}', rows: [] }), /sample rows/);
});
