// Pure builders of the Service target (activities/kubernetes/service-target.ts) and of the KEDA primary
// ScaledObject (activities/kubernetes/scaledobject.ts), and the revision rule for Service targets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import type { Canary } from '../../api/canary.ts';
import type { RawCanary } from '../../activities/kubernetes/canary.ts';
import {
  copySpec,
  isServiceTarget,
  promotedService,
  serviceCopy,
  serviceRevisionHash,
} from '../../activities/kubernetes/service-target.ts';
import { primaryQuery, primaryScaledObject, type ScaledObject } from '../../activities/kubernetes/scaledobject.ts';
import { decideRevision, serviceState } from '../../worker/revision.ts';

const raw = {
  apiVersion: 'flagger.app/v1beta1',
  kind: 'Canary',
  metadata: { name: 'podinfo', namespace: 'test', uid: 'uid-1' },
} as unknown as RawCanary;

const target: V1Service = {
  metadata: {
    name: 'podinfo',
    namespace: 'test',
    labels: { app: 'podinfo', team: 'a' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'x' },
  },
  spec: {
    type: 'NodePort',
    clusterIP: '10.0.0.5',
    clusterIPs: ['10.0.0.5'],
    selector: { app: 'podinfo' },
    ports: [{ name: 'http', port: 9898, targetPort: 9898 as never, nodePort: 30080 }],
  },
};

test('Service target: only core v1 Services (a Knative Service is another kind of target)', () => {
  assert.equal(isServiceTarget({ apiVersion: 'v1', kind: 'Service' }), true);
  assert.equal(isServiceTarget({ apiVersion: 'serving.knative.dev/v1', kind: 'Service' }), false);
  assert.equal(isServiceTarget({ apiVersion: 'apps/v1', kind: 'Deployment' }), false);
});

test('Service copies leave out the allocated addresses, keep a headless None', () => {
  const spec = copySpec(target.spec);
  assert.equal(spec.clusterIP, undefined);
  assert.equal(spec.clusterIPs, undefined);
  assert.deepEqual(spec.ports, [{ name: 'http', port: 9898, targetPort: 9898 }]);
  assert.equal(copySpec({ clusterIP: 'None', clusterIPs: ['None'] }).clusterIP, 'None');
});

test('canary copy: owned by the Canary, labels kept, kubectl annotation dropped, trafficDistribution set', () => {
  const canary = { spec: { service: { port: 9898, trafficDistribution: 'PreferClose' } } } as unknown as Canary;
  const copy = serviceCopy(raw, canary, target, 'podinfo-canary');
  assert.equal(copy.metadata?.name, 'podinfo-canary');
  assert.deepEqual(copy.metadata?.labels, { app: 'podinfo', team: 'a' });
  assert.deepEqual(copy.metadata?.annotations, { note: 'x' });
  assert.equal(copy.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
  assert.equal(copy.spec?.trafficDistribution, 'PreferClose');
  assert.deepEqual(copy.spec?.selector, { app: 'podinfo' });
});

test('promoted primary: the target spec, labels and annotations filtered by the include prefixes', () => {
  const p = promotedService(raw, target, ['team']);
  assert.equal(p.metadata?.name, 'podinfo-primary');
  assert.deepEqual(p.metadata?.labels, { team: 'a' });
  assert.deepEqual(p.metadata?.annotations, {});
  assert.equal(p.spec?.clusterIP, undefined, 'the primary keeps its own cluster IP');
  assert.equal(p.spec?.type, 'NodePort');
});

test('Service revision: the spec hash decides, the allocated addresses do not count, no generation fence', () => {
  const a = serviceRevisionHash(target.spec);
  assert.equal(a, serviceRevisionHash({ ...target.spec, clusterIP: '10.0.0.6', clusterIPs: ['10.0.0.6'] }));
  const changed = { ...target, spec: { ...target.spec, selector: { app: 'podinfo', v: '2' } } };
  assert.notEqual(serviceRevisionHash(changed.spec), a);
  const first = decideRevision(serviceState(target), undefined, {});
  assert.equal(first.signal, true);
  // Services have no metadata.generation: a spec change at the same (absent) generation is still a new revision.
  const next = decideRevision(serviceState(changed), first.mark, { lastAppliedSpec: a });
  assert.equal(next.signal, true);
  assert.equal(decideRevision(serviceState(changed), next.mark, {}).signal, false);
});

test('KEDA query rewrite: the target and its -canary become -primary, never -primary-primary', () => {
  assert.equal(
    primaryQuery('sum(rate(http_requests_total{deployment="podinfo-canary"}[1m])) + x{app="podinfo"}', 'podinfo'),
    'sum(rate(http_requests_total{deployment="podinfo-primary"}[1m])) + x{app="podinfo-primary"}',
  );
});

const so: ScaledObject = {
  metadata: {
    name: 'podinfo-so',
    labels: { app: 'podinfo' },
    annotations: { 'autoscaling.keda.sh/paused-replicas': '0', keep: 'y' },
  },
  spec: {
    scaleTargetRef: { name: 'podinfo', kind: 'Deployment', apiVersion: 'apps/v1' },
    pollingInterval: 10,
    minReplicaCount: 1,
    maxReplicaCount: 3,
    initialCooldownPeriod: 5,
    advanced: { horizontalPodAutoscalerConfig: { name: 'podinfo-hpa' } },
    triggers: [
      { type: 'prometheus', name: 'rps', metadata: { query: 'sum(rate(x{pod=~"podinfo-.*"}[1m]))', threshold: '5' } },
      { type: 'cpu', metadata: { value: '50' } },
    ],
  },
};

test('primary ScaledObject: targets the primary, queries rewritten, HPA name suffixed, never paused', () => {
  const ref = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject' as const, name: 'podinfo-so' };
  const p = primaryScaledObject(raw, so, ref, 'podinfo');
  assert.equal(p.metadata?.name, 'podinfo-so-primary');
  assert.deepEqual(p.metadata?.annotations, { keep: 'y' });
  assert.deepEqual(p.spec?.scaleTargetRef, { name: 'podinfo-primary', kind: 'Deployment', apiVersion: 'apps/v1' });
  assert.equal(p.spec?.triggers?.[0]?.metadata?.query, 'sum(rate(x{pod=~"podinfo-primary-.*"}[1m]))');
  assert.deepEqual(p.spec?.triggers?.[1]?.metadata, { value: '50' });
  assert.equal(p.spec?.advanced?.horizontalPodAutoscalerConfig?.name, 'podinfo-hpa-primary');
  // Only the fields Flagger's KEDA types know are copied.
  assert.equal(p.spec?.initialCooldownPeriod, undefined);
  assert.equal(p.spec?.pollingInterval, 10);
  // The source is not modified.
  assert.equal(so.spec?.triggers?.[0]?.metadata?.query, 'sum(rate(x{pod=~"podinfo-.*"}[1m]))');
});

test('primaryScalerQueries replaces the named triggers queries; primaryScalerReplicas the bounds', () => {
  const ref = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject' as const,
    name: 'podinfo-so',
    primaryScalerQueries: { rps: 'sum(primary)' },
    primaryScalerReplicas: { minReplicas: 2, maxReplicas: 5 },
  };
  const p = primaryScaledObject(raw, so, ref, 'podinfo');
  assert.equal(p.spec?.triggers?.[0]?.metadata?.query, 'sum(primary)');
  assert.equal(p.spec?.minReplicaCount, 2);
  assert.equal(p.spec?.maxReplicaCount, 5);
});
