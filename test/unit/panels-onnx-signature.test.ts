import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeModel, floatInitializer, node, valueInfo } from '../fixtures/onnx-models';
import { readOnnxSignature } from '../../src/extension/panels/onnx-signature';

test('the signature is read from the ONNX graph: names, types, fixed and symbolic dims', () => {
  const bytes = encodeModel({
    name: 'g',
    node: [node('MatMul', ['x', 'w'], ['y'])],
    initializer: [floatInitializer('w', [4, 2], new Float32Array(8))],
    // Older exporters list weights among the inputs too: they are not part of the signature.
    input: [valueInfo('x', 'FP32', ['batch', 4]), valueInfo('w', 'FP32', [4, 2])],
    output: [valueInfo('y', 'FP32', ['batch', 2])],
  });
  const sig = readOnnxSignature(bytes, 'model/model.onnx');
  assert.deepEqual(sig.inputs, [{ name: 'x', datatype: 'FLOAT', shape: [-1, 4], dimNames: ['batch', null] }]);
  assert.deepEqual(sig.outputs, [{ name: 'y', datatype: 'FLOAT', shape: [-1, 2], dimNames: ['batch', null] }]);
  assert.equal(sig.source, 'model/model.onnx');
});

test('bytes that are not an ONNX model are refused with the file named', () => {
  assert.throws(() => readOnnxSignature(new TextEncoder().encode('hello'), 'x.onnx'), /x\.onnx is not/);
});
