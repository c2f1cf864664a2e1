import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestTrial, parseGrid, parseRandom, sweepTrials } from '../../src/services/jobs/sweep';

test('a grid alone gives every combination, in order', () => {
  const trials = sweepTrials([parseGrid('lr=0.1,0.01'), parseGrid('batch=32,64')], [], { seed: 1 });
  assert.deepEqual(trials, [
    { lr: '0.1', batch: '32' },
    { lr: '0.1', batch: '64' },
    { lr: '0.01', batch: '32' },
    { lr: '0.01', batch: '64' },
  ]);
  assert.throws(() => sweepTrials([parseGrid('lr=0.1,0.01')], [], { trials: 1, seed: 1 }), /grid has 2 combinations but --trials is 1/);
});

test('random params are drawn within their ranges, reproducibly by seed, cycling through the grid', () => {
  const random = [parseRandom('lr=loguniform(1e-4,1e-1)'), parseRandom('layers=int(1,3)'), parseRandom('opt=choice(adam,sgd)'), parseRandom('drop=uniform(0,0.5)')];
  const trials = sweepTrials([parseGrid('batch=32,64')], random, { trials: 50, seed: 42 });
  assert.equal(trials.length, 50);
  assert.deepEqual(trials.slice(0, 4).map((t) => t.batch), ['32', '64', '32', '64']);
  for (const t of trials) {
    assert.ok(Number(t.lr) >= 1e-4 && Number(t.lr) <= 1e-1, t.lr);
    assert.ok(['1', '2', '3'].includes(t.layers!), t.layers);
    assert.ok(['adam', 'sgd'].includes(t.opt!), t.opt);
    assert.ok(Number(t.drop) >= 0 && Number(t.drop) < 0.5, t.drop);
  }
  assert.equal(new Set(trials.map((t) => t.layers)).size, 3, 'every int value comes up in 50 draws');
  // Log-uniform: about a third of the draws in each decade, not nine tenths in the top one.
  assert.ok(trials.filter((t) => Number(t.lr) < 1e-2).length > 15);
  assert.deepEqual(sweepTrials([parseGrid('batch=32,64')], random, { trials: 50, seed: 42 }), trials, 'same seed, same trials');
  assert.notDeepEqual(sweepTrials([parseGrid('batch=32,64')], random, { trials: 50, seed: 43 }), trials);
  assert.equal(sweepTrials([], [parseRandom('lr=uniform(0,1)')], { seed: 1 }).length, 10, '10 trials by default');
});

test('bad sweep specs say how to write them', () => {
  assert.throws(() => parseGrid('lr'), /--grid 'lr' is not NAME=V1,V2/);
  assert.throws(() => parseGrid('lr=0.1,,0.2'), /--grid/);
  assert.throws(() => parseRandom('lr=normal(0,1)'), /uniform\(LOW,HIGH\), loguniform/);
  assert.throws(() => parseRandom('lr=uniform(1,0)'), /LOW < HIGH/);
  assert.throws(() => parseRandom('lr=loguniform(0,1)'), /LOW > 0/);
  assert.throws(() => parseRandom('n=int(1.5,3)'), /whole numbers/);
  assert.throws(() => sweepTrials([parseGrid('lr=1,2')], [parseRandom('lr=uniform(0,1)')], { seed: 1 }), /param 'lr' twice/);
  assert.throws(() => sweepTrials([], [], { seed: 1 }), /at least one --grid or --random/);
});

test('the best trial is the finished one with the lowest or highest metric', () => {
  const results = [
    { runId: 'a', status: 'FINISHED', params: {}, value: 0.5 },
    { runId: 'b', status: 'FAILED', params: {}, value: 0.1 },
    { runId: 'c', status: 'FINISHED', params: {}, value: 0.2 },
    { runId: 'd', status: 'FINISHED', params: {} },
  ];
  assert.equal(bestTrial(results, 'min')?.runId, 'c');
  assert.equal(bestTrial(results, 'max')?.runId, 'a');
  assert.equal(bestTrial([results[1]!, results[3]!], 'max'), undefined);
});
