// revertOnDeletion end to end on a real control plane (apiserver, controllers, kwok nodes) and a real Temporal dev
// server: the controller's configuration (custom --selector-labels, a default --mesh-provider) builds the watcher
// and the worker's activities exactly as worker/main.ts does, a Canary adopts an existing apex Service and
// HTTPRoute, and deleting the Canary must put both back on the target, in Flagger's order, before the finalizer
// goes. The watcher only signals `canaryDeleting`; the rollout workflow (a bundled worker with those activities)
// finalizes as its last step. The order is read from the
// etcd revisions (resourceVersion) of every write the namespace saw, so it is the order the cluster applied them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { startCluster, waitFor, type Cluster } from '../../dev/cluster.ts';
import { startTemporal, type TemporalServer } from '../../dev/temporal.ts';
import { createActivities, type FledgeActivities } from '../../activities/index.ts';
import { componentSettings, parseWorkerConfig, type ComponentSettings } from '../../worker/config.ts';
import { startWatcher, type Watcher } from '../../worker/watcher.ts';
import { workflowBundlePath } from '../../dev/workflow-bundle.ts';
import { rolloutWorkflowId } from '../../workflows/controls.ts';
import { startBundledWorker } from '../workflow/env.ts';
import {
  PODINFO_DIR,
  canaryManifest,
  createCanary,
  kubeClients,
  podinfoDeployment,
  quietLog,
  readCanaryObject,
} from './kubernetes-fixtures.ts';

const LABEL = 'app.kubernetes.io/instance';

let cluster: Cluster;
let temporal: TemporalServer;
let connection: Connection;
const watchers: Watcher[] = [];
const workers: (() => Promise<void>)[] = [];
let api: ReturnType<typeof kubeClients>;
let objects: k8s.KubernetesObjectApi;

before(async () => {
  [cluster, temporal] = await Promise.all([startCluster({ controllers: true, nodes: 2 }), startTemporal()]);
  connection = await Connection.connect({ address: temporal.address });
  api = kubeClients(cluster.kubeConfig);
  objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
});

after(async () => {
  await Promise.all(watchers.map((w) => w.stop()));
  await Promise.all(workers.map((stop) => stop()));
  await connection?.close();
  await Promise.all([cluster?.stop(), temporal?.stop()]);
});

/**
 * The controller's settings for `argv`, and the watcher and a worker with the activities built from them as main.ts
 * does (the bundled rollout workflow on the settings' task queue).
 */
async function controller(
  argv: string[],
  log: Logger = quietLog,
): Promise<{ settings: ComponentSettings; acts: FledgeActivities; watcher: Watcher; client: Client }> {
  const settings = componentSettings(parseWorkerConfig(argv, { HOME: '/nonexistent-home' }));
  const client = new Client({ connection, namespace: temporal.namespace });
  const acts = createActivities({ kube: cluster.kubeConfig, log, ...settings.activities });
  workers.push(
    await startBundledWorker(
      { temporal, taskQueue: settings.watcher.taskQueue, bundlePath: await workflowBundlePath() },
      acts,
    ),
  );
  const w = startWatcher({ kube: cluster.kubeConfig, client, log, ...settings.watcher });
  watchers.push(w);
  return { settings, acts, watcher: w, client };
}

/**
 * Bootstrap as the workflow does, with the worker's activities. The watcher writes its revision fence on the Canary
 * at the same time, so a compare-and-swap write may meet a 409: Temporal retries an activity, here we do.
 */
async function bootstrap(acts: FledgeActivities, canary: { namespace: string; name: string }): Promise<void> {
  const revision = { hash: 'rev-1', generation: 1 };
  const retried = async (call: () => Promise<unknown>) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 200 * attempt)); // backoff before the retry
      }
    }
  };
  await retried(() => acts.initializePrimary({ canary, revision }));
  await waitFor(async () => (await acts.checkReadiness({ canary, revision })).primary.ready, 'primary ready', 90_000);
  await retried(() => acts.reconcileRoutes({ canary }));
  await retried(() => acts.scaleCanary({ canary, revision, direction: 'down' }));
}

interface Seen {
  kind: string;
  type: string;
  name: string;
  rv: number;
  obj: {
    metadata?: { deletionTimestamp?: string; annotations?: Record<string, string> };
    spec?: Record<string, unknown> & { selector?: Record<string, string>; replicas?: number };
    status?: { readyReplicas?: number };
  };
}

/** Every write to the namespace's Deployments, Services, Canaries and HTTPRoutes, with its etcd revision. */
async function record(ns: string): Promise<{ seen: Seen[]; stop: () => void }> {
  const seen: Seen[] = [];
  const watch = new k8s.Watch(cluster.kubeConfig);
  const paths: [string, string][] = [
    ['Deployment', `/apis/apps/v1/namespaces/${ns}/deployments`],
    ['Service', `/api/v1/namespaces/${ns}/services`],
    ['Canary', `/apis/flagger.app/v1beta1/namespaces/${ns}/canaries`],
    ['HTTPRoute', `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes`],
  ];
  const controllers = await Promise.all(
    paths.map(([kind, path]) =>
      watch.watch(
        path,
        { allowWatchBookmarks: false },
        (type: string, obj: k8s.KubernetesObject & Seen['obj']) => {
          seen.push({
            kind,
            type,
            name: obj.metadata?.name ?? '',
            rv: Number(obj.metadata?.resourceVersion ?? 0),
            obj,
          });
        },
        () => {},
      ),
    ),
  );
  return { seen, stop: () => controllers.forEach((c) => c.abort()) };
}

function first(seen: Seen[], what: string, match: (s: Seen) => boolean): Seen {
  const found = seen.filter(match).sort((a, b) => a.rv - b.rv)[0];
  assert.ok(found, `no write seen: ${what}`);
  return found;
}

test('revertOnDeletion with --selector-labels app.kubernetes.io/instance: apex Service and adopted HTTPRoute back on the ready target, then the finalizer goes', async () => {
  const ns = await cluster.createNamespace('finalize');
  // The controller as the issue reports it: custom selector label; the provider comes from --mesh-provider.
  const c = await controller([
    '--selector-labels',
    LABEL,
    '--mesh-provider',
    'gatewayapi:v1',
    '--task-queue',
    'finalize-test-1',
    '--namespace',
    ns,
  ]);
  await c.watcher.synced;

  // A target selected by app.kubernetes.io/instance only (none of Flagger's default labels).
  const dep = podinfoDeployment();
  dep.metadata!.labels = { [LABEL]: 'podinfo' };
  dep.spec!.selector = { matchLabels: { [LABEL]: 'podinfo' } };
  dep.spec!.template.metadata!.labels = { [LABEL]: 'podinfo' };
  await api.apps.createNamespacedDeployment({ namespace: ns, body: dep });
  // The user's apex Service and HTTPRoute from before fledge (created through the API: no kubectl annotation, so
  // the finalizer has to find the selector label itself).
  await api.core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: 'podinfo' }, spec: { selector: { [LABEL]: 'podinfo' }, ports: [{ port: 9898 }] } },
  });
  const routeSpec = {
    parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gateway', namespace: 'gateways' }],
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        backendRefs: [{ group: '', kind: 'Service', name: 'podinfo', port: 9898, weight: 1 }],
      },
    ],
  };
  await objects.create({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'podinfo', namespace: ns },
    spec: routeSpec,
  } as k8s.KubernetesObject);
  const routeBefore = (await objects.read({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'podinfo', namespace: ns },
  })) as k8s.KubernetesObject & { spec: unknown };
  await api.custom.createNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: ns,
    plural: 'canaries',
    body: {
      apiVersion: 'flagger.app/v1beta1',
      kind: 'Canary',
      metadata: { name: 'podinfo', namespace: ns },
      spec: {
        targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
        revertOnDeletion: true,
        progressDeadlineSeconds: 60,
        service: { port: 9898, gatewayRefs: [{ name: 'gateway', namespace: 'gateways' }] },
        analysis: { interval: '10s', threshold: 2, stepWeight: 10, maxWeight: 50 },
      },
    },
  });

  // Bootstrap as the workflow does, with the worker's activities (the same settings).
  await bootstrap(c.acts, { namespace: ns, name: 'podinfo' });
  const primary = await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns });
  assert.deepEqual(primary.spec?.selector?.matchLabels, { [LABEL]: 'podinfo-primary' });
  assert.deepEqual((await readCanaryObject(cluster.kubeConfig, ns)).metadata.finalizers, ['finalizer.flagger.app']);
  const apex = await api.core.readNamespacedService({ name: 'podinfo', namespace: ns });
  assert.deepEqual(apex.spec?.selector, { [LABEL]: 'podinfo-primary' }, 'adopted apex Service on the primary');
  assert.equal(apex.metadata?.ownerReferences, undefined);
  await waitFor(
    async () =>
      ((await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns })).status?.replicas ?? 0) === 0,
    'target scaled to zero',
  );

  const rec = await record(ns);
  try {
    await cluster.kubectl(['delete', '-n', ns, 'canary/podinfo', '--wait=false']);
    await waitFor(
      async () => rec.seen.some((s) => s.kind === 'Deployment' && s.name === 'podinfo-primary' && s.type === 'DELETED'),
      'canary finalized and the primary garbage-collected',
      120_000,
    );
  } finally {
    rec.stop();
  }
  const seen = rec.seen;
  const deleting = first(
    seen,
    'Canary marked for deletion',
    (s) => s.kind === 'Canary' && !!s.obj.metadata?.deletionTimestamp,
  );
  const after = seen.filter((s) => s.rv > deleting.rv);
  const targetReady = first(
    after,
    'target ready again',
    (s) => s.kind === 'Deployment' && s.name === 'podinfo' && (s.obj.status?.readyReplicas ?? 0) >= 1,
  );
  const apexBack = first(
    after,
    'apex Service on the target',
    (s) => s.kind === 'Service' && s.name === 'podinfo' && s.obj.spec?.selector?.[LABEL] === 'podinfo',
  );
  const routeBack = first(
    after,
    'adopted HTTPRoute restored',
    (s) =>
      s.kind === 'HTTPRoute' &&
      s.name === 'podinfo' &&
      isDeepStrictEqual(s.obj.spec, routeBefore.spec) &&
      !Object.keys(s.obj.metadata?.annotations ?? {}).some((k) => k.startsWith('fledge.app/')),
  );
  const canaryGone = first(after, 'Canary deleted', (s) => s.kind === 'Canary' && s.type === 'DELETED');
  const primaryGone = first(after, 'primary deleted', (s) => s.name === 'podinfo-primary' && s.type === 'DELETED');
  const order = { targetReady, apexBack, routeBack, canaryGone, primaryGone };
  console.log(
    `deletion path, etcd revisions: ${Object.entries(order)
      .map(([k, s]) => `${k}=${s.rv}`)
      .join(' < ')}`,
  );
  assert.ok(targetReady.rv < apexBack.rv, 'the apex Service moves only once the target has ready replicas');
  assert.ok(apexBack.rv < routeBack.rv, 'Services before routes, as Flagger');
  assert.ok(routeBack.rv < canaryGone.rv, 'the finalizer goes last');
  assert.ok(canaryGone.rv < primaryGone.rv);
  // Never again on the primary's pods once it is back on the target (the primary is gone after that).
  const apexLater = seen.filter((s) => s.kind === 'Service' && s.name === 'podinfo' && s.rv >= apexBack.rv);
  for (const s of apexLater) assert.equal(s.obj.spec?.selector?.[LABEL], 'podinfo', `apex selector at rv ${s.rv}`);
  const finalApex = await api.core.readNamespacedService({ name: 'podinfo', namespace: ns });
  assert.deepEqual(finalApex.spec?.selector, { [LABEL]: 'podinfo' });
  const target = await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns });
  assert.equal(target.spec?.replicas, primary.spec?.replicas ?? 1, 'target back to the primary replicas');
  await assert.rejects(readCanaryObject(cluster.kubeConfig, ns), (e: unknown) => (e as { code?: number }).code === 404);

  const events = (await api.core.listNamespacedEvent({ namespace: ns })).items;
  const terminating = events.find((e) => e.message === `Terminating canary podinfo.${ns}`);
  assert.ok(terminating, 'Terminating canary event');
  assert.equal(terminating.type, 'Normal');
  assert.equal(terminating.reason, 'Synced');
  assert.ok(events.some((e) => e.message === `Terminated canary podinfo.${ns}`));
});

test('revertOnDeletion moves no traffic to a target that is not ready: the apex Service waits, then follows it', async () => {
  const ns = await cluster.createNamespace('unready');
  const c = await controller(['--task-queue', 'finalize-test-2', '--namespace', ns]);
  await c.watcher.synced;
  await cluster.kubectl(['apply', '-n', ns, '-f', `${PODINFO_DIR}/deployment.yaml`]);
  await api.core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: 'podinfo' }, spec: { selector: { app: 'podinfo' }, ports: [{ port: 9898 }] } },
  });
  await createCanary(cluster.kubeConfig, canaryManifest(ns, { revertOnDeletion: true }));
  await bootstrap(c.acts, { namespace: ns, name: 'podinfo' });
  const onPrimary = { app: 'podinfo-primary' };
  assert.deepEqual(
    (await api.core.readNamespacedService({ name: 'podinfo', namespace: ns })).spec?.selector,
    onPrimary,
  );
  // The target's pods can be scheduled nowhere: once scaled back up it has no ready replica.
  await cluster.kubectl([
    'patch',
    'deployment/podinfo',
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"spec":{"template":{"spec":{"nodeSelector":{"fledge.test/nowhere":"true"}}}}}',
  ]);

  await cluster.kubectl(['delete', '-n', ns, 'canary/podinfo', '--wait=false']);
  const apexSelector = async () =>
    (await api.core.readNamespacedService({ name: 'podinfo', namespace: ns })).spec?.selector;
  // Whichever comes first: the workflow's finalize attempt failing (target not ready), or the apex Service moving.
  const handle = c.client.workflow.getHandle(rolloutWorkflowId({ namespace: ns, name: 'podinfo' }));
  const finalizeFailure = async () =>
    (await handle.describe()).raw.pendingActivities?.find((a) => a.activityType?.name === 'finalizeCanary')?.lastFailure
      ?.message ?? undefined;
  await waitFor(
    async () => (await finalizeFailure()) !== undefined || !isDeepStrictEqual(await apexSelector(), onPrimary),
    'finalize attempt ended',
    150_000,
  );
  assert.deepEqual(await apexSelector(), onPrimary, 'apex Service still on the primary while the target is not ready');
  assert.match((await finalizeFailure()) ?? '', /not ready during finalizing/);
  assert.deepEqual((await readCanaryObject(cluster.kubeConfig, ns)).metadata.finalizers, ['finalizer.flagger.app']);
  const target = await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns });
  assert.equal(target.spec?.replicas, 1, 'target scaled back up');
  assert.equal(target.status?.readyReplicas ?? 0, 0);

  // Schedulable again: the retried finalize activity finishes the job.
  await cluster.kubectl([
    'patch',
    'deployment/podinfo',
    '-n',
    ns,
    '--type=json',
    '-p',
    '[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]',
  ]);
  await waitFor(
    async () => {
      try {
        await readCanaryObject(cluster.kubeConfig, ns);
        return false;
      } catch {
        return true;
      }
    },
    'canary finalized after the target became ready',
    150_000,
  );
  assert.deepEqual(await apexSelector(), { app: 'podinfo' });
  const ready = await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns });
  assert.ok((ready.status?.readyReplicas ?? 0) >= 1);
});
