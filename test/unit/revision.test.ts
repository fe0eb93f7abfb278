// Revision identity: canonical hashing of pod templates, the generation fence, config tracking refs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1PodTemplateSpec } from '@kubernetes/client-node';
import { decideRevision, revisionHash, type TargetState } from '../../worker/revision.ts';
import { configRefsOf, withPrimaryConfigs } from '../../activities/kubernetes/configs.ts';
import { deploymentReadiness as readiness, SCALE_TO_ZERO_NODE_SELECTOR } from '../../activities/kubernetes/workload.ts';

/** Partial Deployments are enough for the readiness rules. */
const deploymentReadiness = (d: object, deadline: number, threshold: number, now: Date) =>
  readiness(d as V1Deployment, deadline, threshold, now);

const template = (extra: object = {}): V1PodTemplateSpec => ({
  metadata: { labels: { app: 'podinfo' } },
  spec: { containers: [{ name: 'app', image: 'podinfo:6.0.0', ...extra }] },
});

test('the hash ignores key order and empty fields, and sees real changes', () => {
  const a = revisionHash(template(), {});
  assert.equal(revisionHash(template({ env: [], securityContext: {}, args: undefined }), {}), a);
  const reordered: V1PodTemplateSpec = {
    spec: { containers: [{ image: 'podinfo:6.0.0', name: 'app' }] },
    metadata: { labels: { app: 'podinfo' } },
  };
  assert.equal(revisionHash(reordered, {}), a);
  assert.notEqual(revisionHash(template({ image: 'podinfo:6.0.1' }), {}), a);
  assert.notEqual(revisionHash(template(), { 'configmap/x': 'abc' }), a);
  // false is a value, not an empty field.
  assert.notEqual(revisionHash(template({ stdin: false }), {}), a);
});

test('the DaemonSet scale-to-zero marker is not part of the revision', () => {
  const t = template();
  const zero = structuredClone(t);
  zero.spec!.nodeSelector = { [SCALE_TO_ZERO_NODE_SELECTOR]: 'true' };
  assert.equal(revisionHash(zero, {}), revisionHash(t, {}));
});

test('the generation fence: a defaulted field seen without a new generation starts nothing', () => {
  const state: TargetState = { generation: 3, template: template(), configs: {} };
  const first = decideRevision(state, undefined, {});
  assert.equal(first.signal, true);
  // Same generation, a field the apiserver now defaults on read: fenced.
  const upgraded = decideRevision(
    { ...state, template: template({ terminationMessagePolicy: 'File' }) },
    first.mark,
    {},
  );
  assert.equal(upgraded.signal, false);
  // New generation, same content (e.g. replicas changed): no rollout, fence moves on.
  const scaled = decideRevision({ ...state, generation: 4 }, first.mark, {});
  assert.equal(scaled.signal, false);
  assert.equal(scaled.mark?.generation, 4);
  // New generation and new content: a rollout.
  const next = decideRevision(
    { ...state, generation: 5, template: template({ image: 'podinfo:6.0.1' }) },
    scaled.mark,
    {},
  );
  assert.equal(next.signal, true);
});

test('a config change is a new revision without a new generation; revert to promoted is not', () => {
  const state: TargetState = { generation: 3, template: template(), configs: { 'configmap/c': 'one' } };
  const first = decideRevision(state, undefined, {});
  assert.ok(first.signal);
  const changed = decideRevision({ ...state, configs: { 'configmap/c': 'two' } }, first.mark, {});
  assert.equal(changed.signal, true);
  const promoted = first.signal ? first.revision.hash : '';
  const failed = changed.signal ? changed.revision.hash : '';
  const reverted = decideRevision(state, changed.mark, { lastAppliedSpec: failed, lastPromotedSpec: promoted });
  assert.equal(reverted.signal, false);
  // A fresh watcher (no fence) on an applied revision starts nothing.
  assert.equal(decideRevision(state, undefined, { lastAppliedSpec: promoted }).signal, false);
});

test('config refs cover volumes, projected volumes, env and envFrom of containers and init containers', () => {
  const spec = {
    volumes: [
      { name: 'a', configMap: { name: 'cm-vol' } },
      { name: 'b', secret: { secretName: 's-vol' } },
      { name: 'c', projected: { sources: [{ configMap: { name: 'cm-proj' } }, { secret: { name: 's-proj' } }] } },
    ],
    initContainers: [{ name: 'init', envFrom: [{ configMapRef: { name: 'cm-init' } }] }],
    containers: [
      {
        name: 'app',
        env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's-env', key: 'k' } } }],
        envFrom: [{ secretRef: { name: 's-from', optional: true } }],
      },
    ],
  };
  const keys = [...configRefsOf(spec).keys()].sort();
  assert.deepEqual(keys, [
    'configmap/cm-init',
    'configmap/cm-proj',
    'configmap/cm-vol',
    'secret/s-env',
    'secret/s-from',
    'secret/s-proj',
    'secret/s-vol',
  ]);
  const primary = withPrimaryConfigs(spec, ['configmap/cm-vol', 'secret/s-env', 'configmap/cm-init']);
  assert.equal(primary.volumes?.[0]?.configMap?.name, 'cm-vol-primary');
  assert.equal(primary.volumes?.[1]?.secret?.secretName, 's-vol');
  assert.equal(primary.containers[0]?.env?.[0]?.valueFrom?.secretKeyRef?.name, 's-env-primary');
  assert.equal(primary.initContainers?.[0]?.envFrom?.[0]?.configMapRef?.name, 'cm-init-primary');
  assert.equal(spec.volumes[0]?.configMap?.name, 'cm-vol', 'input untouched');
});

test('deployment readiness follows Flagger', () => {
  const now = new Date('2026-01-01T00:10:00Z');
  const base = { metadata: { name: 'podinfo', generation: 2 }, spec: { replicas: 2 } };
  assert.match(
    deploymentReadiness({ ...base, status: { observedGeneration: 1 } }, 60, 100, now).message ?? '',
    /observed deployment generation less than desired/,
  );
  const stuck = deploymentReadiness(
    {
      ...base,
      status: {
        observedGeneration: 2,
        updatedReplicas: 1,
        conditions: [
          { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' },
          {
            type: 'Available',
            status: 'False',
            reason: 'MinimumReplicasUnavailable',
            lastUpdateTime: new Date('2026-01-01T00:00:00Z'),
          },
        ],
      },
    },
    60,
    100,
    now,
  );
  assert.deepEqual(stuck, {
    ready: false,
    deadlineExceeded: true,
    message: 'waiting for rollout to finish: 1 out of 2 new replicas have been updated',
  });
  const exceeded = deploymentReadiness(
    {
      ...base,
      status: {
        observedGeneration: 2,
        conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
      },
    },
    60,
    100,
    now,
  );
  assert.equal(exceeded.deadlineExceeded, true);
  const ready = deploymentReadiness(
    { ...base, status: { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 } },
    60,
    50,
    now,
  );
  assert.deepEqual(ready, { ready: true });
});
