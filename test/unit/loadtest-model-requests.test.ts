import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInferenceBodies, sampleInferenceBodies } from '../../src/services/loadtest/model-requests';
import type { TensorSpec } from '../../src/engines/onnx/types';

const mlp: TensorSpec[] = [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }];

test('random bodies follow the signature: names, datatypes, dynamic dims as 1, element counts', () => {
  const specs: TensorSpec[] = [...mlp, { name: 'ids', datatype: 'INT64', shape: [-1, 2] }, { name: 'mask', datatype: 'BOOL', shape: [3] }];
  const bodies = randomInferenceBodies(specs, 5).map((b) => JSON.parse(b));
  assert.equal(bodies.length, 5);
  for (const body of bodies) {
    assert.deepEqual(body.inputs.map((i: any) => [i.name, i.datatype, i.shape]), [['x', 'FP32', [1, 4]], ['ids', 'INT64', [1, 2]], ['mask', 'BOOL', [3]]]);
    assert.equal(body.inputs[0].data.length, 4);
    assert.ok(body.inputs[1].data.every((v: unknown) => Number.isInteger(v)));
    assert.ok(body.inputs[2].data.every((v: unknown) => typeof v === 'boolean'));
  }
  assert.notEqual(JSON.stringify(bodies[0]), JSON.stringify(bodies[1]), 'bodies differ');
});

test('sample rows become bodies; the batch dim comes from the value count; bad rows are named', () => {
  const [one, two] = sampleInferenceBodies(mlp, ['[1,2,3,4]', '{"x": [[1,2,3,4],[5,6,7,8]]}']).map((b) => JSON.parse(b));
  assert.deepEqual(one.inputs[0], { name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] });
  assert.deepEqual(two.inputs[0].shape, [2, 4]);
  assert.throws(() => sampleInferenceBodies(mlp, ['[1,2,3]']), /line 1: 3 values for input 'x' do not fill its shape/);
  assert.throws(() => sampleInferenceBodies(mlp, ['{"y": [1]}']), /line 1 has no values for input 'x'/);
  assert.throws(() => sampleInferenceBodies(mlp, ['nope']), /line 1 is not JSON/);
});
