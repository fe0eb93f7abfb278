// The Kubernetes activities for a Service target and a KEDA ScaledObject autoscaler on a real control plane
// (apiserver + controller-manager + kwok, KEDA's ScaledObject CRD installed; no KEDA operator: fledge only writes
// the objects). Called in the order the rollout workflow calls them; every write is checked for idempotency.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { startCluster, waitFor, type Cluster } from '../../dev/cluster.ts';
import { kedaCrdFiles } from '../../dev/fixtures.ts';
import { createKubernetesActivities, type KubernetesActivities } from '../../activities/kubernetes/index.ts';
import { serviceRevisionHash } from '../../activities/kubernetes/service-target.ts';
import { PAUSED_REPLICAS_ANNOTATION, type ScaledObject } from '../../activities/kubernetes/scaledobject.ts';
import type { CanaryRef, Revision } from '../../api/ports.ts';
import {
  PODINFO_DIR,
  canaryManifest,
  createCanary,
  kubeClients,
  quietLog,
  readCanaryObject,
} from './kubernetes-fixtures.ts';

let cluster: Cluster;
let acts: KubernetesActivities;
let api: ReturnType<typeof kubeClients>;

before(async () => {
  cluster = await startCluster({ controllers: true, nodes: 1, crds: kedaCrdFiles() });
  acts = createKubernetesActivities({ kube: cluster.kubeConfig, log: quietLog });
  api = kubeClients(cluster.kubeConfig);
});

after(async () => {
  await cluster?.stop();
});

const SERVICE_TARGET = { targetRef: { apiVersion: 'v1', kind: 'Service', name: 'podinfo' }, service: undefined };

async function svc(ns: string, name: string): Promise<k8s.V1Service> {
  return api.core.readNamespacedService({ name, namespace: ns });
}

async function targetRevision(ns: string): Promise<Revision> {
  return { hash: serviceRevisionHash((await svc(ns, 'podinfo')).spec), generation: 0 };
}

async function scaledObject(ns: string, name: string): Promise<ScaledObject> {
  return (await api.custom.getNamespacedCustomObject({
    group: 'keda.sh',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'scaledobjects',
    name,
  })) as ScaledObject;
}

test('Service target: copies, always ready, no scaling, fenced promotion, idempotent', async () => {
  const ns = await cluster.createNamespace('svc');
  await api.core.createNamespacedService({
    namespace: ns,
    body: {
      metadata: { name: 'podinfo', labels: { app: 'podinfo' } },
      spec: { type: 'NodePort', selector: { app: 'podinfo' }, ports: [{ name: 'http', port: 9898 }] },
    },
  });
  await createCanary(cluster.kubeConfig, canaryManifest(ns, SERVICE_TARGET));
  const canary: CanaryRef = { namespace: ns, name: 'podinfo' };
  const rev = await targetRevision(ns);
  await acts.initializePrimary({ canary, revision: rev });
  await acts.reconcileServices({ canary });
  await acts.scaleCanary({ canary, revision: rev, direction: 'down' });
  const target = await svc(ns, 'podinfo');
  const primary = await svc(ns, 'podinfo-primary');
  const copy = await svc(ns, 'podinfo-canary');
  for (const s of [primary, copy]) {
    assert.equal(s.spec?.type, 'NodePort');
    assert.notEqual(s.spec?.ports?.[0]?.nodePort, target.spec?.ports?.[0]?.nodePort, 'own node port');
    assert.equal(s.metadata?.ownerReferences?.[0]?.kind, 'Canary');
  }
  const observed = await acts.observe({ canary });
  assert.deepEqual([observed.primary.ready, observed.canary.ready], [true, true]);
  assert.deepEqual(await acts.checkReadiness({ canary, revision: rev }), {
    primary: { ready: true },
    canary: { ready: true },
  });

  // Repeating bootstrap changes nothing.
  const versions = async () => [
    (await svc(ns, 'podinfo')).metadata?.resourceVersion,
    (await svc(ns, 'podinfo-primary')).metadata?.resourceVersion,
    (await svc(ns, 'podinfo-canary')).metadata?.resourceVersion,
  ];
  const before = await versions();
  await acts.initializePrimary({ canary, revision: rev });
  await acts.reconcileServices({ canary });
  await acts.scaleCanary({ canary, revision: rev, direction: 'down' });
  assert.deepEqual(await versions(), before);

  // A new revision: the canary copy follows at scale-up, the primary waits for promotion.
  await api.core.patchNamespacedService(
    { name: 'podinfo', namespace: ns, body: { spec: { selector: { app: 'podinfo', v: '2' } } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  const next = await targetRevision(ns);
  assert.notEqual(next.hash, rev.hash);
  await acts.scaleCanary({ canary, revision: next, direction: 'up' });
  assert.deepEqual((await svc(ns, 'podinfo-canary')).spec?.selector, { app: 'podinfo', v: '2' });
  assert.deepEqual((await svc(ns, 'podinfo-primary')).spec?.selector, { app: 'podinfo' });
  // The analysed revision is the old one: nothing is promoted.
  assert.deepEqual(await acts.promotePrimary({ canary, revision: rev }), { promoted: false, current: next });
  assert.deepEqual((await svc(ns, 'podinfo-primary')).spec?.selector, { app: 'podinfo' });
  assert.deepEqual(await acts.promotePrimary({ canary, revision: next }), { promoted: true });
  const promoted = await svc(ns, 'podinfo-primary');
  assert.deepEqual(promoted.spec?.selector, { app: 'podinfo', v: '2' });
  assert.equal(promoted.spec?.clusterIP, primary.spec?.clusterIP);
  assert.equal(promoted.spec?.ports?.[0]?.nodePort, primary.spec?.ports?.[0]?.nodePort);
  const rv = promoted.metadata?.resourceVersion;
  await acts.promotePrimary({ canary, revision: next });
  assert.equal((await svc(ns, 'podinfo-primary')).metadata?.resourceVersion, rv, 'a repeated promotion is a no-op');
});

test('Service target missing: TargetNotFound, the Promoted condition says so', async () => {
  const ns = await cluster.createNamespace('svc-missing');
  await createCanary(cluster.kubeConfig, canaryManifest(ns, SERVICE_TARGET));
  const canary: CanaryRef = { namespace: ns, name: 'podinfo' };
  await assert.rejects(acts.initializePrimary({ canary, revision: { hash: '', generation: 0 } }), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, 'TargetNotFound');
    assert.match(err.message, /service podinfo\..* not found/);
    return true;
  });
  const observed = await acts.observe({ canary });
  assert.equal(observed.primary.ready, false);
  const cond = (await readCanaryObject(cluster.kubeConfig, ns)).status?.conditions?.[0];
  assert.deepEqual([cond?.type, cond?.status, cond?.reason], ['Promoted', 'False', 'TargetNotFound']);
});

test('KEDA ScaledObject: -primary copy, pause on scale-down, resume on scale-up and on deletion', async () => {
  const ns = await cluster.createNamespace('keda');
  await cluster.kubectl(['apply', '-n', ns, '-f', `${PODINFO_DIR}/deployment.yaml`]);
  await cluster.kubectl(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'podinfo', annotations: { owner: 'team-a' } },
      spec: {
        scaleTargetRef: { name: 'podinfo' },
        minReplicaCount: 2,
        maxReplicaCount: 4,
        triggers: [
          { type: 'prometheus', name: 'rps', metadata: { query: 'sum(rate(x{app="podinfo"}[1m]))', threshold: '5' } },
          { type: 'prometheus', name: 'lat', metadata: { query: 'max(y{app="podinfo-canary"})', threshold: '1' } },
        ],
      },
    }),
  );
  await createCanary(
    cluster.kubeConfig,
    canaryManifest(ns, {
      revertOnDeletion: true,
      autoscalerRef: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        name: 'podinfo',
        primaryScalerQueries: { lat: 'max(primary_latency)' },
      },
    }),
  );
  const canary: CanaryRef = { namespace: ns, name: 'podinfo' };
  const rev: Revision = { hash: 'rev1', generation: 1 };
  await acts.initializePrimary({ canary, revision: rev });
  await acts.reconcileServices({ canary });
  await waitFor(async () => (await acts.observe({ canary })).primary.ready, 'primary ready', 90_000);
  await acts.scaleCanary({ canary, revision: rev, direction: 'down' });

  const primary = await scaledObject(ns, 'podinfo-primary');
  assert.equal(primary.spec?.scaleTargetRef?.name, 'podinfo-primary');
  // Only the named trigger gets the given query (Flagger: with primaryScalerQueries the others are left alone).
  assert.deepEqual(
    primary.spec?.triggers?.map((t) => t.metadata?.query),
    ['sum(rate(x{app="podinfo"}[1m]))', 'max(primary_latency)'],
  );
  assert.equal(primary.metadata?.annotations?.owner, 'team-a');
  assert.equal(primary.metadata?.ownerReferences?.[0]?.kind, 'Canary');
  const dep = await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns });
  assert.equal(dep.spec?.replicas, 1, 'a new primary starts with the target replicas');
  assert.equal((await scaledObject(ns, 'podinfo')).metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION], '0');
  const target = await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns });
  assert.equal(target.spec?.replicas, 0);

  const rv = async () => [
    (await scaledObject(ns, 'podinfo')).metadata,
    (await scaledObject(ns, 'podinfo-primary')).metadata,
  ];
  const before = JSON.stringify(await rv());
  await acts.initializePrimary({ canary, revision: rev });
  await acts.scaleCanary({ canary, revision: rev, direction: 'down' });
  assert.equal(JSON.stringify(await rv()), before, 'idempotent');

  await acts.scaleCanary({ canary, revision: rev, direction: 'up' });
  assert.equal((await scaledObject(ns, 'podinfo')).metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION], undefined);
  assert.equal((await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns })).spec?.replicas, 2);
  await acts.scaleCanary({ canary, revision: rev, direction: 'down' });

  // Deletion with revertOnDeletion: the target's ScaledObject is resumed, so it can scale the restored target.
  await api.custom.deleteNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: ns,
    plural: 'canaries',
    name: 'podinfo',
  });
  await acts.finalizeCanary({ canary });
  assert.equal((await scaledObject(ns, 'podinfo')).metadata?.annotations?.[PAUSED_REPLICAS_ANNOTATION], undefined);
});
