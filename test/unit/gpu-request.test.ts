import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGpuRequest } from '../../src/engines/docker/gpu-request';
import { containerCreateBody } from '../../src/engines/docker/containers';

// The bodies `docker run --gpus` sends (docker/cli opts/gpus.go), with the driver named: HostConfig.DeviceRequests[0].
const gpu = { Driver: 'nvidia', Capabilities: [['gpu']], Options: {} };

test('--gpus all asks for every GPU (Count -1)', () => {
  assert.deepEqual(parseGpuRequest('all'), { ...gpu, Count: -1, DeviceIDs: null });
});

test('--gpus 2 asks for two GPUs', () => {
  assert.deepEqual(parseGpuRequest('2'), { ...gpu, Count: 2, DeviceIDs: null });
  assert.deepEqual(parseGpuRequest('count=2'), { ...gpu, Count: 2, DeviceIDs: null });
});

test('--gpus device=0,1 names devices, quoted as Docker documents it or not', () => {
  const expected = { ...gpu, Count: 0, DeviceIDs: ['0', '1'] };
  assert.deepEqual(parseGpuRequest('"device=0,1"'), expected);
  assert.deepEqual(parseGpuRequest('device=0,1'), expected);
  assert.deepEqual(parseGpuRequest('device=GPU-3a23c669-1f69'), { ...gpu, Count: 0, DeviceIDs: ['GPU-3a23c669-1f69'] });
});

test('capabilities are added to gpu, the driver can be named, no count means one', () => {
  assert.deepEqual(parseGpuRequest('"capabilities=compute,utility",driver=amd'), {
    Driver: 'amd', Count: 1, DeviceIDs: null, Capabilities: [['compute', 'utility', 'gpu']], Options: {},
  });
});

test('bad --gpus values are refused with the forms that work', () => {
  for (const bad of ['', 'none', '0', '-1', '1.5', 'all,all', 'colour=red', '2,"device=0"', '"device=0']) {
    assert.throws(() => parseGpuRequest(bad), (err: Error) => /--gpus/.test(err.message) && /--gpus all/.test(err.message), bad);
  }
});

test('the request lands in HostConfig.DeviceRequests of the create body, and only when GPUs are asked for', () => {
  const spec = { name: 'n', image: 'i', command: ['true'], env: {}, labels: {}, mounts: [] };
  assert.deepEqual(containerCreateBody({ ...spec, gpus: parseGpuRequest('"device=0,1"') }).HostConfig?.DeviceRequests, [
    { Driver: 'nvidia', Count: 0, DeviceIDs: ['0', '1'], Capabilities: [['gpu']], Options: {} },
  ]);
  assert.equal(containerCreateBody(spec).HostConfig?.DeviceRequests, undefined);
});
