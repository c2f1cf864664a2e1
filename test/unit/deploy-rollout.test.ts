// Rollout decisions from recorded Kubernetes API objects (test/fixtures/k8s: a Deployment with its
// ReplicaSets, Pods and Events as the API server lists them). The fixtures themselves are checked against
// the Kubernetes schemas first, so they keep the real API's shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { currentPods, decideRollout, describeDecision, type RolloutObjects } from '../../src/services/deploy/rollout';

const DIR = join(__dirname, '..', 'fixtures', 'k8s');
const START = Date.parse('2026-11-23T10:00:00Z');
const clock = { startedAt: START, now: START + 60_000, timeoutMs: 300_000 };

function load(name: string): RolloutObjects {
  const raw = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8'));
  return { deployment: raw.deployment, replicaSets: raw.replicaSets.items, pods: raw.pods.items, events: raw.events.items };
}

const FIXTURES = ['progressing', 'ready', 'image-pull-backoff', 'crash-loop-backoff', 'crash-loop-oom', 'unschedulable-gpu', 'unschedulable-scaling-up', 'progress-deadline-exceeded', 'generation-not-observed'];

test('every fixture object is valid against the Kubernetes schemas', async () => {
  const { Deployment, ReplicaSet } = await import('kubernetes-models/apps/v1');
  const { Pod, Event } = await import('kubernetes-models/v1');
  for (const name of FIXTURES) {
    const o = load(name);
    new Deployment(o.deployment as never).validate();
    o.replicaSets.forEach((r) => new ReplicaSet(r as never).validate());
    o.pods.forEach((p) => new Pod(p as never).validate());
    o.events.forEach((e) => new Event(e as never).validate());
  }
});

test('a rollout with 1 of 2 replicas ready is progressing, with the probe warnings', () => {
  const d = decideRollout(load('progressing'), clock);
  assert.equal(d.state, 'progressing');
  assert.deepEqual([d.ready, d.desired, d.updated], [1, 2, 2]);
  assert.match(d.message, /1\/2 ready/);
  assert.equal(d.warnings.length, 1);
  assert.match(d.warnings[0]!, /^Pod\/mnist-v3-7d9f8c6b5-p7c4m Unhealthy: Startup probe failed: \(x3\)$/);
});

test('all replicas updated, ready and available is ready', () => {
  const d = decideRollout(load('ready'), clock);
  assert.equal(d.state, 'ready');
  assert.match(describeDecision(d), /mnist-v3: 2\/2 replicas ready/);
});

test('counts of a generation the controller has not observed yet are not taken as ready', () => {
  assert.equal(decideRollout(load('generation-not-observed'), clock).state, 'progressing');
});

test('ImagePullBackOff (of the init container) fails with the registry\'s reason and what to do', () => {
  const d = decideRollout(load('image-pull-backoff'), clock);
  assert.equal(d.state, 'failed');
  if (d.state !== 'failed') return;
  assert.equal(d.reason, 'ImagePullBackOff');
  assert.equal(d.pod, 'mnist-v3-7d9f8c6b5-q8w2z');
  // The newest Failed event carries the registry's answer.
  assert.match(d.message, /cannot pull registry\.example\.com\/ml\/trellis-serving\/mnist:v3-0123456789ab: Failed to pull image .*: not found$/);
  assert.match(d.fix, /pullSecret/);
  assert.match(d.fix, /127\.0\.0\.1 or localhost is each node itself/);
});

test('CrashLoopBackOff fails with the last exit and where to read the logs; OOMKilled says to raise the memory limit', () => {
  const d = decideRollout(load('crash-loop-backoff'), clock);
  assert.equal(d.state, 'failed');
  if (d.state !== 'failed') return;
  assert.equal(d.reason, 'CrashLoopBackOff');
  assert.match(d.message, /restarted 4 times \(last exit: code 1, Error: error: Model 'mnist' has no version 3/);
  assert.equal(d.fix, 'Read its output: kubectl -n ml logs mnist-v3-7d9f8c6b5-r5t6y -c server --previous');
  assert.equal(d.warnings.length, 1);

  const oom = decideRollout(load('crash-loop-oom'), clock);
  assert.equal(oom.state, 'failed');
  if (oom.state !== 'failed') return;
  assert.match(oom.message, /code 137, OOMKilled/);
  assert.match(oom.fix, /resources\.limits\.memory/);
});

test('a pod no node can take (Insufficient nvidia.com/gpu) fails as Unschedulable with GPU advice', () => {
  const d = decideRollout(load('unschedulable-gpu'), clock);
  assert.equal(d.state, 'failed');
  if (d.state !== 'failed') return;
  assert.equal(d.reason, 'Unschedulable');
  assert.match(d.message, /0\/3 nodes are available: 3 Insufficient nvidia\.com\/gpu/);
  assert.match(d.fix, /lower --gpus/);
});

test('an unschedulable pod the cluster autoscaler is adding a node for is still progressing', () => {
  const d = decideRollout(load('unschedulable-scaling-up'), clock);
  assert.equal(d.state, 'progressing');
  assert.match(d.message, /1 pending/);
});

test('the Deployment\'s ProgressDeadlineExceeded condition is a failure', () => {
  const d = decideRollout(load('progress-deadline-exceeded'), clock);
  assert.equal(d.state, 'failed');
  if (d.state === 'failed') assert.equal(d.reason, 'ProgressDeadlineExceeded');
});

test('past the timeout a rollout that is still progressing has timed out; a failure is reported as a failure, not a timeout', () => {
  const late = { ...clock, now: START + 300_000 };
  const d = decideRollout(load('progressing'), late);
  assert.equal(d.state, 'timed-out');
  assert.match(describeDecision(d), /not ready within 300 s \(1\/2 replicas ready\)\n {2}what to do: .*--timeout/);
  assert.equal(decideRollout(load('crash-loop-backoff'), late).state, 'failed');
  // A ready rollout is ready whenever it is looked at.
  assert.equal(decideRollout(load('ready'), late).state, 'ready');
});

test('only the newest ReplicaSet\'s pods count: an old revision\'s crashing pod does not fail the rollout', () => {
  const objects = load('progressing');
  const oldPod = structuredClone(load('crash-loop-backoff').pods[0]!);
  oldPod.metadata!.name = 'mnist-v3-5c4b3a291-old01';
  oldPod.metadata!.ownerReferences![0]!.uid = 'a1b2c3d4-0000-4222-8333-944455556666';
  objects.pods.push(oldPod);
  assert.equal(currentPods(objects).length, 2);
  assert.equal(decideRollout(objects, clock).state, 'progressing');
});
