// The Kubernetes activities on a real control plane (apiserver + controller-manager + scheduler + kwok), driven
// in the order the rollout workflow calls them: bootstrap, configs, promotion, errors, deletion, idempotency.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { startCluster, waitFor, type Cluster } from '../../dev/cluster.ts';
import { createKubernetesActivities, type KubernetesActivities } from '../../activities/kubernetes/index.ts';
import { makeKube } from '../../activities/kubernetes/client.ts';
import { checksums } from '../../activities/kubernetes/configs.ts';
import { readConfigs } from '../../activities/kubernetes/targets.ts';
import { revisionHash } from '../../worker/revision.ts';
import type { CanaryRef, Revision, StatusProjection } from '../../api/ports.ts';
import {
  PODINFO_DIR,
  canaryManifest,
  createCanary,
  kubeClients,
  quietLog,
  readCanaryObject,
  syncedEvents,
} from './kubernetes-fixtures.ts';

let cluster: Cluster;
let acts: KubernetesActivities;
let api: ReturnType<typeof kubeClients>;

before(async () => {
  cluster = await startCluster({ controllers: true, nodes: 2 });
  acts = createKubernetesActivities({ kube: cluster.kubeConfig, log: quietLog });
  api = kubeClients(cluster.kubeConfig);
});

after(async () => {
  await cluster?.stop();
});

const REV: Revision = { hash: 'rev1', generation: 1 };

/** The podinfo target's revision as the watcher computes it (pod template + tracked config checksums). */
async function targetRevision(ns: string): Promise<Revision> {
  const dep = await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns });
  const configs = checksums(await readConfigs(makeKube(cluster.kubeConfig), ns, dep));
  return { hash: revisionHash(dep.spec?.template, configs), generation: dep.metadata?.generation ?? 0 };
}

function projection(phase: StatusProjection['phase'], extra: Partial<StatusProjection> = {}): StatusProjection {
  return {
    phase,
    canaryWeight: 0,
    failedChecks: 0,
    iterations: 0,
    step: 0,
    revision: REV.hash,
    lastPromotedRevision: phase === 'Initialized' ? REV.hash : undefined,
    metrics: [],
    message: '',
    workflowId: 'canary/x/podinfo',
    runId: 'run-1',
    ...extra,
  };
}

/** Flagger's bootstrap as the workflow runs it: primary, services, wait for primary, canary to zero, status. */
async function bootstrap(canary: CanaryRef): Promise<void> {
  await acts.initializePrimary({ canary, revision: REV });
  await acts.reconcileServices({ canary });
  await waitFor(async () => (await acts.observe({ canary })).primary.ready, 'primary ready', 90_000);
  await acts.scaleCanary({ canary, revision: REV, direction: 'down' });
  await acts.writeStatus({ canary, status: projection('Initialized') });
  await acts.recordEvents({
    canary,
    runId: 'run-1',
    firstSequence: 0,
    events: [{ type: 'Normal', message: `Initialization done! ${canary.name}.${canary.namespace}` }],
    eventHooks: [],
    revision: REV,
    phase: 'Initialized',
  });
}

async function versions(ns: string): Promise<Record<string, string | undefined>> {
  const rv = (o: { metadata?: { resourceVersion?: string } }) => o.metadata?.resourceVersion;
  return {
    primary: rv(await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns })),
    target: rv(await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns })),
    apex: rv(await api.core.readNamespacedService({ name: 'podinfo', namespace: ns })),
    svcPrimary: rv(await api.core.readNamespacedService({ name: 'podinfo-primary', namespace: ns })),
    svcCanary: rv(await api.core.readNamespacedService({ name: 'podinfo-canary', namespace: ns })),
    hpa: rv(await api.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'podinfo-primary', namespace: ns })),
    canary: (await readCanaryObject(cluster.kubeConfig, ns)).metadata.resourceVersion,
  };
}

/** Flagger's podinfo fixture (Deployment + HPA) and a Canary with autoscalerRef, bootstrapped in a new namespace. */
async function bootstrapPodinfo(prefix: string) {
  const ns = await cluster.createNamespace(prefix);
  await cluster.kubectl(['apply', '-n', ns, '-f', `${PODINFO_DIR}/deployment.yaml`, '-f', `${PODINFO_DIR}/hpa.yaml`]);
  await createCanary(
    cluster.kubeConfig,
    canaryManifest(ns, {
      autoscalerRef: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: 'podinfo' },
    }),
  );
  const canary = { namespace: ns, name: 'podinfo' };
  await bootstrap(canary);
  return { ns, canary };
}

test('bootstrap of the podinfo fixture, and every activity is idempotent', async () => {
  const { ns, canary } = await bootstrapPodinfo('boot');

  const primary = await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns });
  assert.deepEqual(primary.spec?.selector.matchLabels, { app: 'podinfo-primary' });
  assert.equal(primary.spec?.template.metadata?.labels?.app, 'podinfo-primary');
  assert.equal(primary.metadata?.ownerReferences?.[0]?.kind, 'Canary');
  assert.ok((primary.status?.availableReplicas ?? 0) >= 1, 'primary available');
  const target = await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns });
  assert.equal(target.spec?.replicas, 0, 'target scaled to zero');

  const selector = async (name: string) =>
    (await api.core.readNamespacedService({ name, namespace: ns })).spec?.selector;
  assert.deepEqual(await selector('podinfo'), { app: 'podinfo-primary' });
  assert.deepEqual(await selector('podinfo-primary'), { app: 'podinfo-primary' });
  assert.deepEqual(await selector('podinfo-canary'), { app: 'podinfo' });
  const apex = await api.core.readNamespacedService({ name: 'podinfo', namespace: ns });
  // Port discovery adds the metrics and grpc ports next to the main one.
  assert.deepEqual(apex.spec?.ports?.map((p) => p.name).sort(), ['grpc', 'http', 'http-metrics']);

  const hpa = await api.autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'podinfo-primary', namespace: ns });
  assert.equal(hpa.spec?.scaleTargetRef.name, 'podinfo-primary');
  assert.equal(hpa.spec?.minReplicas, 2);

  const status = (await readCanaryObject(cluster.kubeConfig, ns)).status;
  assert.equal(status?.phase, 'Initialized');
  assert.equal(status?.lastAppliedSpec, REV.hash);
  assert.equal(status?.lastPromotedSpec, REV.hash);
  const promoted = status?.conditions?.find((c) => c.type === 'Promoted');
  assert.deepEqual(
    [promoted?.status, promoted?.reason, promoted?.message],
    ['True', 'Initialized', 'Deployment initialization completed.'],
  );
  await cluster.kubectl(['wait', '-n', ns, 'canary/podinfo', '--for=condition=promoted', '--timeout=10s']);
  const events = await syncedEvents(cluster.kubeConfig, ns);
  assert.deepEqual(
    events.map((e) => e.message),
    [`Initialization done! podinfo.${ns}`],
  );

  // Run everything again: same objects, same resource versions, no second event.
  const before = await versions(ns);
  await acts.initializePrimary({ canary, revision: REV });
  await acts.reconcileServices({ canary });
  await acts.scaleCanary({ canary, revision: REV, direction: 'down' });
  await acts.writeStatus({ canary, status: projection('Initialized') });
  await acts.recordEvents({
    canary,
    runId: 'run-1',
    firstSequence: 0,
    events: [{ type: 'Normal', message: `Initialization done! podinfo.${ns}` }],
    eventHooks: [],
    revision: REV,
    phase: 'Initialized',
  });
  const again = await versions(ns);
  // The primary's status moves on its own (controller-manager); compare what fledge writes.
  assert.deepEqual({ ...again, primary: undefined }, { ...before, primary: undefined });
  assert.equal((await syncedEvents(cluster.kubeConfig, ns)).length, 1);

  // Promotion twice with the same revision: the second is a no-op on the primary's spec.
  const current = await targetRevision(ns);
  assert.deepEqual(await acts.promotePrimary({ canary, revision: current }), { promoted: true });
  const gen1 = (await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns })).metadata
    ?.generation;
  await acts.promotePrimary({ canary, revision: current });
  const gen2 = (await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns })).metadata
    ?.generation;
  assert.equal(gen2, gen1);
  // Fenced by the analysed revision: a target that moved on is not copied, its revision comes back instead.
  assert.deepEqual(await acts.promotePrimary({ canary, revision: REV }), { promoted: false, current });
  const gen3 = (await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns })).metadata
    ?.generation;
  assert.equal(gen3, gen1, 'nothing written to the primary');
});

test('writeStatus stores the tick events before the status: whoever sees the status finds them', async () => {
  const ns = await cluster.createNamespace('order');
  await createCanary(cluster.kubeConfig, canaryManifest(ns));
  const message = `New revision detected! Scaling up podinfo.${ns}`;
  await acts.writeStatus({
    canary: { namespace: ns, name: 'podinfo' },
    status: projection('Progressing'),
    events: {
      runId: 'run-1',
      firstSequence: 0,
      events: [{ type: 'Normal', message }],
      eventHooks: [],
      revision: REV,
      phase: 'Progressing',
    },
  });
  const stored = await readCanaryObject(cluster.kubeConfig, ns);
  assert.equal(stored.status?.phase, 'Progressing');
  const events = await syncedEvents(cluster.kubeConfig, ns);
  assert.deepEqual(
    events.map((e) => e.message),
    [message],
  );
  // resourceVersion is etcd's revision here: the event was written before the status.
  assert.ok(
    Number(events[0]!.metadata?.resourceVersion) < Number(stored.metadata.resourceVersion),
    `event ${events[0]!.metadata?.resourceVersion}, Canary ${stored.metadata.resourceVersion}`,
  );
});

test('scale up from zero uses HPA minReplicas and becomes ready through the controller-manager', async () => {
  const { ns, canary } = await bootstrapPodinfo('scale');
  await acts.scaleCanary({ canary, revision: REV, direction: 'up' });
  const target = await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns });
  assert.equal(target.spec?.replicas, 2, 'HPA minReplicas');
  await waitFor(
    async () => (await acts.checkReadiness({ canary, revision: REV })).canary.ready,
    'canary ready',
    90_000,
  );
});

test('config tracking: -primary copies, primary points at them, opt-out, secrets stay out of status', async () => {
  const ns = await cluster.createNamespace('configs');
  await cluster.kubectl(['create', 'configmap', 'podinfo-env', '-n', ns, '--from-literal=color=blue']);
  await cluster.kubectl(['create', 'configmap', 'podinfo-untracked', '-n', ns, '--from-literal=x=1']);
  await cluster.kubectl([
    'annotate',
    'configmap',
    'podinfo-untracked',
    '-n',
    ns,
    'flagger.app/config-tracking=disabled',
  ]);
  await cluster.kubectl([
    'create',
    'secret',
    'generic',
    'podinfo-token',
    '-n',
    ns,
    '--from-literal=token=s3cr3t-value',
  ]);
  const dep = (await import('./kubernetes-fixtures.ts')).podinfoDeployment();
  const c = dep.spec!.template.spec!.containers[0]!;
  c.envFrom = [{ configMapRef: { name: 'podinfo-env' } }, { configMapRef: { name: 'podinfo-untracked' } }];
  dep.spec!.template.spec!.volumes = [{ name: 'token', secret: { secretName: 'podinfo-token' } }];
  c.volumeMounts = [{ name: 'token', mountPath: '/etc/token' }];
  await api.apps.createNamespacedDeployment({ namespace: ns, body: dep });
  await createCanary(cluster.kubeConfig, canaryManifest(ns));
  const canary = { namespace: ns, name: 'podinfo' };
  await acts.initializePrimary({ canary, revision: REV });

  const cm = await api.core.readNamespacedConfigMap({ name: 'podinfo-env-primary', namespace: ns });
  assert.deepEqual(cm.data, { color: 'blue' });
  await assert.rejects(api.core.readNamespacedConfigMap({ name: 'podinfo-untracked-primary', namespace: ns }));
  const secret = await api.core.readNamespacedSecret({ name: 'podinfo-token-primary', namespace: ns });
  assert.equal(Buffer.from(secret.data?.token ?? '', 'base64').toString(), 's3cr3t-value');
  const primary = await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns });
  const pc = primary.spec?.template.spec?.containers[0];
  assert.deepEqual(
    pc?.envFrom?.map((e) => e.configMapRef?.name),
    ['podinfo-env-primary', 'podinfo-untracked'],
  );
  assert.equal(primary.spec?.template.spec?.volumes?.[0]?.secret?.secretName, 'podinfo-token-primary');
  const status = (await readCanaryObject(cluster.kubeConfig, ns)).status;
  const tracked = status?.trackedConfigs as Record<string, string>;
  assert.deepEqual(Object.keys(tracked).sort(), ['configmap/podinfo-env', 'secret/podinfo-token']);
  assert.ok(!JSON.stringify(status).includes('s3cr3t'), 'no secret data in status');

  // A promotion carries the changed config to the primary copy and rolls the primary.
  await cluster.kubectl([
    'patch',
    'configmap',
    'podinfo-env',
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"data":{"color":"red"}}',
  ]);
  const rev2 = await targetRevision(ns);
  assert.deepEqual(await acts.promotePrimary({ canary, revision: rev2 }), { promoted: true });
  const cm2 = await api.core.readNamespacedConfigMap({ name: 'podinfo-env-primary', namespace: ns });
  assert.deepEqual(cm2.data, { color: 'red' });
  const primary2 = await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns });
  assert.equal(primary2.spec?.template.metadata?.annotations?.['flagger-id'], rev2.hash);
  const tracked2 = (await readCanaryObject(cluster.kubeConfig, ns)).status?.trackedConfigs as Record<string, string>;
  assert.notEqual(tracked2['configmap/podinfo-env'], tracked['configmap/podinfo-env']);
});

test('a missing Deployment or one without a selector label: clear condition, one Warning event, not retried', async () => {
  const ns = await cluster.createNamespace('errors');
  await createCanary(cluster.kubeConfig, canaryManifest(ns, {}, 'ghost'));
  const ghost = { namespace: ns, name: 'ghost' };
  for (let i = 0; i < 2; i++) {
    await assert.rejects(acts.initializePrimary({ canary: ghost, revision: REV }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'TargetNotFound');
      assert.equal(err.nonRetryable, true);
      return true;
    });
  }
  const cond = (await readCanaryObject(cluster.kubeConfig, ns, 'ghost')).status?.conditions?.[0];
  assert.deepEqual([cond?.type, cond?.status, cond?.reason], ['Promoted', 'False', 'TargetNotFound']);
  assert.match(cond?.message ?? '', /deployment podinfo\..* not found/);
  let warnings = (await syncedEvents(cluster.kubeConfig, ns)).filter((e) => e.type === 'Warning');
  assert.equal(warnings.length, 1, 'one Warning event for a repeated problem');

  const dep = (await import('./kubernetes-fixtures.ts')).podinfoDeployment();
  dep.metadata!.name = 'nolabel';
  dep.spec!.selector = { matchLabels: { tier: 'web' } };
  dep.spec!.template.metadata!.labels = { tier: 'web' };
  await api.apps.createNamespacedDeployment({ namespace: ns, body: dep });
  await createCanary(
    cluster.kubeConfig,
    canaryManifest(ns, { targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'nolabel' } }, 'nolabel'),
  );
  await assert.rejects(acts.initializePrimary({ canary: { namespace: ns, name: 'nolabel' }, revision: REV }), {
    type: 'InvalidSpec',
  });
  const cond2 = (await readCanaryObject(cluster.kubeConfig, ns, 'nolabel')).status?.conditions?.[0];
  assert.equal(cond2?.reason, 'InvalidTarget');
  assert.match(
    cond2?.message ?? '',
    /spec.selector.matchLabels must contain one of \[app name app.kubernetes.io\/name\]/,
  );
  warnings = (await syncedEvents(cluster.kubeConfig, ns)).filter((e) => e.type === 'Warning');
  assert.equal(warnings.length, 2);
  // Observe never throws on user input.
  const obs = await acts.observe({ canary: ghost });
  assert.equal(obs.found, true);
  assert.equal(obs.primary.ready, false);
});

test('deletion without revertOnDeletion: garbage collection removes what fledge created, target stays at zero', async () => {
  const ns = await cluster.createNamespace('delete');
  await cluster.kubectl(['apply', '-n', ns, '-f', `${PODINFO_DIR}/deployment.yaml`]);
  await createCanary(cluster.kubeConfig, canaryManifest(ns));
  await bootstrap({ namespace: ns, name: 'podinfo' });
  assert.deepEqual((await readCanaryObject(cluster.kubeConfig, ns)).metadata.finalizers ?? [], []);
  await cluster.kubectl(['delete', '-n', ns, 'canary/podinfo', '--wait=true']);
  await waitFor(async () => {
    const deps = await api.apps.listNamespacedDeployment({ namespace: ns });
    const svcs = await api.core.listNamespacedService({ namespace: ns });
    return deps.items.length === 1 && svcs.items.length === 0;
  }, 'primary and services garbage-collected');
  const target = await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns });
  assert.equal(target.spec?.replicas, 0);
});

test('deletion with revertOnDeletion: target restored, adopted apex Service selects it again, finalizer released', async () => {
  const ns = await cluster.createNamespace('revert');
  await cluster.kubectl(['apply', '-n', ns, '-f', `${PODINFO_DIR}/deployment.yaml`]);
  // An apex Service the user made before fledge: adopted, not owned.
  await cluster.kubectl(
    ['apply', '-n', ns, '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'podinfo' },
      spec: { selector: { app: 'podinfo' }, ports: [{ name: 'http', port: 9898 }] },
    }),
  );
  await createCanary(cluster.kubeConfig, canaryManifest(ns, { revertOnDeletion: true }));
  const canary = { namespace: ns, name: 'podinfo' };
  await bootstrap(canary);
  assert.deepEqual((await readCanaryObject(cluster.kubeConfig, ns)).metadata.finalizers, ['finalizer.flagger.app']);
  const apex = await api.core.readNamespacedService({ name: 'podinfo', namespace: ns });
  assert.deepEqual(apex.spec?.selector, { app: 'podinfo-primary' });
  assert.equal(apex.metadata?.ownerReferences, undefined, 'adopted, not owned');

  await cluster.kubectl(['delete', '-n', ns, 'canary/podinfo', '--wait=false']);
  await acts.finalizeCanary({ canary });
  await acts.finalizeCanary({ canary }); // idempotent: gone or already released
  await waitFor(async () => {
    try {
      await readCanaryObject(cluster.kubeConfig, ns);
      return false;
    } catch {
      return true;
    }
  }, 'canary deleted');
  const target = await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns });
  assert.equal(target.spec?.replicas, 1, 'target back to the primary replicas');
  const reverted = await api.core.readNamespacedService({ name: 'podinfo', namespace: ns });
  assert.deepEqual(reverted.spec?.selector, { app: 'podinfo' });
});

test('initializePrimary leaves a live apex Service alone; re-deriving keeps an apex on the canary; observe under an invalid analysis', async () => {
  const ns = await cluster.createNamespace('takeover');
  await cluster.kubectl(['apply', '-n', ns, '-f', `${PODINFO_DIR}/deployment.yaml`]);
  await api.core.createNamespacedService({
    namespace: ns,
    body: {
      metadata: { name: 'podinfo' },
      spec: { selector: { app: 'podinfo' }, ports: [{ name: 'http', port: 9898 }] },
    },
  });
  await createCanary(cluster.kubeConfig, canaryManifest(ns));
  const canary = { namespace: ns, name: 'podinfo' };
  const selector = async (name: string) =>
    (await api.core.readNamespacedService({ name, namespace: ns })).spec?.selector;

  // Before the primary is ready: primary workload and the two workload Services; the live Service is untouched.
  await acts.initializePrimary({ canary, revision: REV });
  assert.deepEqual(await selector('podinfo'), { app: 'podinfo' });
  assert.deepEqual(await selector('podinfo-primary'), { app: 'podinfo-primary' });
  assert.deepEqual(await selector('podinfo-canary'), { app: 'podinfo' });
  await waitFor(async () => (await acts.observe({ canary })).primary.ready, 'primary ready', 90_000);
  await acts.reconcileServices({ canary });
  assert.deepEqual(await selector('podinfo'), { app: 'podinfo-primary' });

  // Blue/green on the kubernetes provider: the apex points at the canary (the router saved the primary selector).
  await api.core.patchNamespacedService(
    {
      name: 'podinfo',
      namespace: ns,
      body: {
        metadata: { annotations: { 'fledge.app/primary-selector': JSON.stringify({ app: 'podinfo-primary' }) } },
        spec: { selector: { app: 'podinfo' } },
      },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await acts.reconcileServices({ canary });
  assert.deepEqual(await selector('podinfo'), { app: 'podinfo' }, 're-deriving Services never moves traffic');

  // An analysis that turns invalid: readiness and the generation are still observed, the spec reports the errors.
  await api.custom.patchNamespacedCustomObject(
    {
      group: 'flagger.app',
      version: 'v1beta1',
      namespace: ns,
      plural: 'canaries',
      name: 'podinfo',
      body: { spec: { analysis: { iterations: null, stepWeights: [30, 20] } } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  const obs = await acts.observe({ canary });
  assert.equal(obs.spec.ok, false);
  assert.equal(obs.primary.ready, true);
  assert.equal(obs.generation, 2);
  // The rollback's scale-down works on the routing view of the spec.
  await acts.scaleCanary({ canary, revision: REV, direction: 'down' });
  assert.equal((await api.apps.readNamespacedDeployment({ name: 'podinfo', namespace: ns })).spec?.replicas, 0);
});

test('what the provider cannot do is a Warning event once per Canary generation, not once per observe', async () => {
  const ns = await cluster.createNamespace('warn');
  await cluster.kubectl(['apply', '-n', ns, '-f', `${PODINFO_DIR}/deployment.yaml`]);
  // The kubernetes provider has no weights: Flagger's warnings, and the run falls back to iterations.
  const spec = { analysis: { interval: '10s', threshold: 2, stepWeight: 10, maxWeight: 50 } };
  await createCanary(cluster.kubeConfig, canaryManifest(ns, spec));
  const canary = { namespace: ns, name: 'podinfo' };
  const warnings = async () =>
    (await syncedEvents(cluster.kubeConfig, ns)).filter((e) => e.type === 'Warning').map((e) => e.message);
  // A second worker process (a restart) forgets what it reported: the event name still makes it one event.
  const other = createKubernetesActivities({ kube: cluster.kubeConfig, log: quietLog });
  for (const a of [acts, acts, other]) await a.observe({ canary });
  const first = await warnings();
  assert.deepEqual(first.sort(), [
    'Progressive traffic is not supported when using the kubernetes provider',
    'Setting canaryAnalysis.iterations: 10',
  ]);
  // A spec edit is a new generation: the warnings that still apply are reported again.
  await api.custom.patchNamespacedCustomObject(
    {
      group: 'flagger.app',
      version: 'v1beta1',
      namespace: ns,
      plural: 'canaries',
      name: 'podinfo',
      body: { spec: { analysis: { stepWeight: 20 } } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await acts.observe({ canary });
  assert.equal((await warnings()).length, 4);
});
