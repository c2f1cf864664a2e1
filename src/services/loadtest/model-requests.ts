import type { Datatype, TensorSpec } from '../../engines/onnx/types';

/**
 * Request bodies for a served model (Open Inference Protocol), made from its signature: random tensors
 * of the right names, datatypes and shapes, or rows of a sample file. Dynamic dimensions get 1.
 */

/** `count` distinct bodies of random values: floats in [0, 1), integers in [0, 10), random booleans. */
export function randomInferenceBodies(inputs: readonly TensorSpec[], count: number, random: () => number = Math.random): string[] {
  return Array.from({ length: count }, () =>
    JSON.stringify({
      inputs: inputs.map((spec) => {
        const shape = concreteShape(spec);
        const size = shape.reduce((a, b) => a * b, 1);
        return { name: spec.name, datatype: spec.datatype, shape, data: Array.from({ length: size }, () => randomValue(spec.datatype, random)) };
      }),
    }),
  );
}

/**
 * One body per sample line. A line is a JSON array (the values of the model's single input, or of
 * its first input when it has one) or an object mapping input names to value arrays.
 */
export function sampleInferenceBodies(inputs: readonly TensorSpec[], lines: readonly string[]): string[] {
  return lines.map((line, i) => {
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`sample line ${i + 1} is not JSON: give a JSON array of values, or an object of input name → values.`);
    }
    const byName: Record<string, unknown> = Array.isArray(row) ? { [inputs[0]!.name]: row } : (row as Record<string, unknown>);
    if (typeof byName !== 'object' || byName === null) throw new Error(`sample line ${i + 1}: expected a JSON array or object.`);
    return JSON.stringify({
      inputs: inputs.map((spec) => {
        const values = byName[spec.name];
        if (!Array.isArray(values)) throw new Error(`sample line ${i + 1} has no values for input '${spec.name}' (inputs: ${inputs.map((s) => s.name).join(', ')}).`);
        const flat = values.flat(Infinity);
        return { name: spec.name, datatype: spec.datatype, shape: shapeFor(spec, flat.length, i + 1), data: flat };
      }),
    });
  });
}

/** Dynamic dimensions become 1: one example per request. */
const concreteShape = (spec: TensorSpec): number[] => spec.shape.map((d) => (d < 0 ? 1 : d));

/** The shape a row's values fill: fixed dims as declared, the one dynamic dim (the batch) from the count. */
function shapeFor(spec: TensorSpec, count: number, line: number): number[] {
  const fixed = spec.shape.reduce((a, d) => (d < 0 ? a : a * d), 1);
  const dynamic = spec.shape.filter((d) => d < 0).length;
  if (count % fixed !== 0 || (dynamic === 0 && count !== fixed)) {
    throw new Error(`sample line ${line}: ${count} values for input '${spec.name}' do not fill its shape [${spec.shape.join(', ')}].`);
  }
  let rest = count / fixed;
  return spec.shape.map((d) => {
    if (d >= 0) return d;
    const v = rest;
    rest = 1;
    return v;
  });
}

function randomValue(datatype: Datatype, random: () => number): number | boolean | string {
  switch (datatype) {
    case 'FP16':
    case 'FP32':
    case 'FP64':
      return random();
    case 'BOOL':
      return random() < 0.5;
    case 'BYTES':
      return Math.floor(random() * 1e6).toString(36);
    default:
      return Math.floor(random() * 10);
  }
}
