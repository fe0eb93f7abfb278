// The Kubernetes and routes activities for a Knative Service target on a real kube-apiserver with Knative Serving
// v0.49.1's Service and Revision CRDs (no Knative controller: the test writes the status it would, through the
// status subresource). Called in the order the rollout workflow calls them; repeated writes are checked for
// idempotency, the promotion for its fence, a spec edit mid-rollout for leaving the primary alone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { knativeCrdFiles } from '../../dev/fixtures.ts';
import { resolveTraffic } from '../../dev/knative-standin.ts';
import { createKubernetesActivities, type KubernetesActivities } from '../../activities/kubernetes/index.ts';
import { createRoutesActivities, type RoutesActivities } from '../../activities/routers/index.ts';
import {
  ORIGINAL_TRAFFIC_ANNOTATION,
  PRIMARY_REVISION_ANNOTATION,
  type KnativeService,
} from '../../activities/routers/knative-service.ts';
import type { CanaryRef } from '../../api/ports.ts';
import { canaryManifest, createCanary, quietLog, readCanaryObject } from './kubernetes-fixtures.ts';

const SERVICES = { group: 'serving.knative.dev', version: 'v1', plural: 'services' };
const REVISIONS = { group: 'serving.knative.dev', version: 'v1', plural: 'revisions' };
const KNATIVE_TARGET = {
  provider: 'knative',
  targetRef: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'podinfo' },
  service: undefined,
  analysis: { interval: '10s', threshold: 2, stepWeight: 10, maxWeight: 50 },
};

let cluster: Cluster;
let custom: k8s.CustomObjectsApi;
let acts: KubernetesActivities;
let routes: RoutesActivities;

before(async () => {
  cluster = await startCluster({ gatewayApi: false, crds: knativeCrdFiles() });
  custom = cluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  routes = createRoutesActivities({ kube: cluster.kubeConfig });
  acts = createKubernetesActivities(
    { kube: cluster.kubeConfig, log: quietLog },
    { getRoutes: (input) => routes.getRoutes(input), finalizeRoutes: (ref) => routes.finalizeRoutes({ canary: ref }) },
  );
});

after(async () => {
  await cluster?.stop();
});

async function ksvc(ns: string): Promise<KnativeService> {
  return (await custom.getNamespacedCustomObject({ ...SERVICES, namespace: ns, name: 'podinfo' })) as KnativeService;
}

/** Knative's part: the revisions (Ready or not) and the Service status for its current generation. */
async function knative(ns: string, revisions: [string, boolean][]): Promise<void> {
  for (const [name, ready] of revisions) {
    await custom
      .createNamespacedCustomObject({
        ...REVISIONS,
        namespace: ns,
        body: { apiVersion: 'serving.knative.dev/v1', kind: 'Revision', metadata: { name }, spec: { containers: [] } },
      })
      .catch((e: unknown) => {
        if ((e as { code?: number }).code !== 409) throw e;
      });
    await custom.patchNamespacedCustomObjectStatus({
      ...REVISIONS,
      namespace: ns,
      name,
      body: [
        { op: 'add', path: '/status', value: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }] } },
      ],
    });
  }
  const svc = await ksvc(ns);
  const latest = revisions.at(-1)![0];
  const latestReady = [...revisions].reverse().find(([, r]) => r)![0];
  const status = {
    observedGeneration: svc.metadata.generation,
    latestCreatedRevisionName: latest,
    latestReadyRevisionName: latestReady,
    traffic: resolveTraffic(svc.spec?.traffic, latestReady),
  };
  await custom.patchNamespacedCustomObjectStatus({
    ...SERVICES,
    namespace: ns,
    name: 'podinfo',
    body: [{ op: 'add', path: '/status', value: status }],
  });
}

async function setup(prefix: string): Promise<{ ns: string; canary: CanaryRef }> {
  const ns = await cluster.createNamespace(prefix);
  const own = [{ latestRevision: true, percent: 100, tag: 'mine' }];
  await custom.createNamespacedCustomObject({
    ...SERVICES,
    namespace: ns,
    body: {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'podinfo' },
      spec: { template: { spec: { containers: [{ image: 'ghcr.io/stefanprodan/podinfo:6.0.0' }] } }, traffic: own },
    },
  });
  await createCanary(cluster.kubeConfig, canaryManifest(ns, { ...KNATIVE_TARGET, revertOnDeletion: true }));
  return { ns, canary: { namespace: ns, name: 'podinfo' } };
}

test('Knative target: initialize, split, readiness, fenced promotion, finalize; every write idempotent', async () => {
  const { ns, canary } = await setup('kn');
  await knative(ns, [['podinfo-00001', true]]);
  const rev1 = { hash: 'podinfo-00001', generation: 1 };

  // Flagger's Initialize: annotation and all traffic to the revision, the user's own traffic saved.
  await acts.initializePrimary({ canary, revision: rev1 });
  await acts.reconcileServices({ canary });
  await acts.scaleCanary({ canary, revision: rev1, direction: 'down' });
  let svc = await ksvc(ns);
  assert.equal(svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], 'podinfo-00001');
  assert.equal(
    svc.metadata.annotations?.[ORIGINAL_TRAFFIC_ANNOTATION],
    JSON.stringify([{ latestRevision: true, percent: 100, tag: 'mine' }]),
  );
  assert.deepEqual(svc.spec?.traffic, [
    { latestRevision: true, percent: 0 },
    { revisionName: 'podinfo-00001', percent: 100 },
  ]);
  // Until Knative observed that generation, the routes are not in force.
  await assert.rejects(routes.getRoutes({ canary }), (e: unknown) => {
    assert.ok(e instanceof ApplicationFailure && e.type === 'RouteNotReady' && !e.nonRetryable);
    assert.match(e.message, /has not observed generation 2 yet/);
    return true;
  });
  await knative(ns, [['podinfo-00001', true]]);
  assert.deepEqual(await routes.getRoutes({ canary }), { primary: 100, canary: 0, mirrored: false });
  assert.deepEqual(await acts.checkReadiness({ canary, revision: rev1 }), {
    primary: { ready: true },
    canary: { ready: true },
  });
  const rv = (await ksvc(ns)).metadata.resourceVersion;
  await acts.initializePrimary({ canary, revision: rev1 });
  await routes.reconcileRoutes({ canary });
  assert.equal((await ksvc(ns)).metadata.resourceVersion, rv, 'repeating initialization writes nothing');

  // A new revision, not ready yet: the canary side says why.
  await custom.patchNamespacedCustomObject(
    {
      ...SERVICES,
      namespace: ns,
      name: 'podinfo',
      body: { spec: { template: { spec: { containers: [{ image: 'ghcr.io/stefanprodan/podinfo:6.0.1' }] } } } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await knative(ns, [
    ['podinfo-00001', true],
    ['podinfo-00002', false],
  ]);
  const rev2 = { hash: 'podinfo-00002', generation: 3 };
  const observed = await acts.observe({ canary });
  assert.deepEqual(observed.primary, { ready: true });
  assert.deepEqual(observed.canary, {
    ready: false,
    message: 'Knative Revision podinfo-00002 is not ready: Ready=Unknown',
  });
  await knative(ns, [
    ['podinfo-00001', true],
    ['podinfo-00002', true],
  ]);
  assert.equal((await acts.observe({ canary })).canary.ready, true);

  // Traffic steps; a spec edit mid-rollout (initializePrimary with the canary's revision) leaves the primary alone.
  await routes.setRoutes({ canary, routes: { primary: 70, canary: 30, mirrored: false } });
  const phase = { phase: 'Progressing' };
  await custom.patchNamespacedCustomObjectStatus({
    group: 'flagger.app',
    version: 'v1beta1',
    plural: 'canaries',
    namespace: ns,
    name: 'podinfo',
    body: [{ op: 'add', path: '/status', value: phase }],
  });
  await acts.initializePrimary({ canary, revision: rev2 });
  svc = await ksvc(ns);
  assert.equal(svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], 'podinfo-00001');
  assert.deepEqual(svc.spec?.traffic, [
    { latestRevision: true, percent: 30 },
    { revisionName: 'podinfo-00001', percent: 70 },
  ]);
  await knative(ns, [
    ['podinfo-00001', true],
    ['podinfo-00002', true],
  ]);
  assert.deepEqual(await routes.getRoutes({ canary }), { primary: 70, canary: 30, mirrored: false });

  // The fence: the analysed revision is not the latest any more: nothing promoted, the newer one reported.
  assert.deepEqual(await acts.promotePrimary({ canary, revision: rev1 }), {
    promoted: false,
    current: { hash: 'podinfo-00002', generation: (await ksvc(ns)).metadata.generation },
  });
  assert.equal((await ksvc(ns)).metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], 'podinfo-00001');
  assert.deepEqual(await acts.promotePrimary({ canary, revision: rev2 }), { promoted: true });
  assert.equal((await ksvc(ns)).metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], 'podinfo-00002');
  // Before the promotion's setRoutes: the old split still serves, counted as the (new) primary's.
  assert.deepEqual(await routes.getRoutes({ canary }), { primary: 70, canary: 30, mirrored: false });
  await routes.setRoutes({ canary, routes: { primary: 100, canary: 0, mirrored: false } });
  assert.deepEqual((await ksvc(ns)).spec?.traffic, [
    { latestRevision: true, percent: 0 },
    { revisionName: 'podinfo-00002', percent: 100 },
  ]);

  // Deletion with revertOnDeletion: the Service's own traffic back, fledge's annotations gone.
  await custom.deleteNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: ns,
    plural: 'canaries',
    name: 'podinfo',
  });
  await acts.finalizeCanary({ canary });
  svc = await ksvc(ns);
  assert.deepEqual(svc.spec?.traffic, [{ latestRevision: true, percent: 100, tag: 'mine' }]);
  assert.equal(svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION], undefined);
  assert.equal(svc.metadata.annotations?.[ORIGINAL_TRAFFIC_ANNOTATION], undefined);
});

test('Knative target missing: TargetNotFound, the Promoted condition says so', async () => {
  const ns = await cluster.createNamespace('kn-missing');
  await createCanary(cluster.kubeConfig, canaryManifest(ns, KNATIVE_TARGET));
  const canary: CanaryRef = { namespace: ns, name: 'podinfo' };
  await assert.rejects(acts.initializePrimary({ canary, revision: { hash: '', generation: 0 } }), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, 'TargetNotFound');
    assert.match(err.message, /knative service podinfo\..* not found/);
    return true;
  });
  assert.deepEqual((await acts.observe({ canary })).primary, {
    ready: false,
    message: 'knative service podinfo not found',
  });
  const cond = (await readCanaryObject(cluster.kubeConfig, ns)).status?.conditions?.[0];
  assert.deepEqual([cond?.type, cond?.status, cond?.reason], ['Promoted', 'False', 'TargetNotFound']);
  // Routes of a Service that does not exist: all on the primary (observe must not fail on them).
  assert.deepEqual(await routes.getRoutes({ canary }), { primary: 100, canary: 0, mirrored: false });
});
