import { readFileSync } from 'node:fs';
import type { TensorSpec } from '../../engines/onnx/types';
import { randomInferenceBodies, sampleInferenceBodies } from '../../services/loadtest/model-requests';
import { findEndpoint } from '../../core/endpoint-files';

/** Distinct random bodies cycled through by a test: enough that a response cache cannot answer them all. */
const RANDOM_BODIES = 256;

export interface ModelTarget {
  url: string;
  headers: Record<string, string>;
  bodies: string[];
}

/**
 * `trellis loadtest --model NAME@ALIAS`: the live endpoint serving that model (announced by `trellis serve`
 * in the data directory), and request bodies made from the signature it reports.
 */
export async function modelTarget(dataDir: string, ref: string, rowsFile?: string): Promise<ModelTarget> {
  const found = findEndpoint(dataDir, ref);
  if (!found) {
    throw new Error(`No running endpoint serves ${ref} (looked in ${dataDir}/endpoints). Start one with: trellis serve --model ${ref}`);
  }
  const { endpoint, model } = found;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${endpoint.token}` };
  const metadataUrl = `${endpoint.url}/v2/models/${encodeURIComponent(model.name)}/versions/${encodeURIComponent(model.version)}`;
  const res = await fetch(metadataUrl, { headers });
  if (!res.ok) throw new Error(`The endpoint for ${ref} answered ${res.status} to ${metadataUrl}: ${(await res.text()).slice(0, 200)}`);
  const { inputs } = (await res.json()) as { inputs: TensorSpec[] };
  const bodies = rowsFile
    ? sampleInferenceBodies(inputs, readFileSync(rowsFile, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== ''))
    : randomInferenceBodies(inputs, RANDOM_BODIES);
  if (bodies.length === 0) throw new Error(`--rows ${rowsFile} has no lines.`);
  return { url: model.infer_url, headers, bodies };
}
