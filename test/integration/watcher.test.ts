// The watcher on a real control plane and a real Temporal dev server: cluster changes become workflow signals
// (checked in the workflow's history), within a second of `kubectl set image`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { startCluster, waitFor, type Cluster } from '../../dev/cluster.ts';
import { startTemporal, type TemporalServer } from '../../dev/temporal.ts';
import { createKubernetesActivities, type KubernetesActivities } from '../../activities/kubernetes/index.ts';
import { rolloutWorkflowId } from '../../workflows/controls.ts';
import type { CanaryRef, Revision } from '../../api/ports.ts';
import { OBSERVED_ANNOTATION, parseMark } from '../../worker/revision.ts';
import { startWatcher, type Watcher } from '../../worker/watcher.ts';
import {
  PODINFO_DIR,
  canaryManifest,
  createCanary,
  kubeClients,
  podinfoDeployment,
  quietLog,
  readCanaryObject,
} from './kubernetes-fixtures.ts';

let cluster: Cluster;
let temporal: TemporalServer;
let connection: Connection;
let client: Client;
let watcher: Watcher;
let acts: KubernetesActivities;
let api: ReturnType<typeof kubeClients>;
const signalled: { canary: CanaryRef; signal: string; revision?: Revision; at: number }[] = [];

before(async () => {
  [cluster, temporal] = await Promise.all([startCluster({ controllers: true, nodes: 2 }), startTemporal()]);
  connection = await Connection.connect({ address: temporal.address });
  client = new Client({ connection, namespace: temporal.namespace });
  acts = createKubernetesActivities({ kube: cluster.kubeConfig, log: quietLog });
  api = kubeClients(cluster.kubeConfig);
  // No worker polls this queue: the workflows just collect signals in their history, which is what we check.
  watcher = startWatcher({
    kube: cluster.kubeConfig,
    client,
    taskQueue: 'watcher-test',
    log: quietLog,
    onSignal: (s) => signalled.push(s),
  });
  await watcher.synced;
});

after(async () => {
  await watcher?.stop();
  await connection?.close();
  await Promise.all([cluster?.stop(), temporal?.stop()]);
});

interface SignalEvent {
  name: string;
  at: number;
}

async function signalsOf(canary: CanaryRef): Promise<SignalEvent[]> {
  try {
    const history = await client.workflow.getHandle(rolloutWorkflowId(canary)).fetchHistory();
    return (history.events ?? [])
      .filter((e) => e.workflowExecutionSignaledEventAttributes)
      .map((e) => ({
        name: e.workflowExecutionSignaledEventAttributes?.signalName ?? '',
        at: Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6),
      }));
  } catch {
    return [];
  }
}

async function waitSignals(canary: CanaryRef, count: number, what: string, timeoutMs = 20_000) {
  await waitFor(async () => (await signalsOf(canary)).length >= count, what, timeoutMs);
  return signalsOf(canary);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lastRevision(canary: CanaryRef): Revision {
  const s = signalled.filter((x) => x.canary.namespace === canary.namespace && x.signal === 'newRevision').at(-1);
  assert.ok(s?.revision);
  return s.revision;
}

/** Bootstrap as the workflow would do it, driven directly. */
async function bootstrap(canary: CanaryRef, revision: Revision): Promise<void> {
  await acts.initializePrimary({ canary, revision });
  await acts.reconcileServices({ canary });
  await waitFor(async () => (await acts.observe({ canary })).primary.ready, 'primary ready', 90_000);
  await acts.scaleCanary({ canary, revision, direction: 'down' });
  await acts.writeStatus({
    canary,
    status: {
      phase: 'Initialized',
      canaryWeight: 0,
      failedChecks: 0,
      iterations: 0,
      step: 0,
      revision: revision.hash,
      lastPromotedRevision: revision.hash,
      metrics: [],
      message: '',
      workflowId: rolloutWorkflowId(canary),
      runId: 'test',
    },
  });
}

test('new Canary → bootstrap; kubectl set image → newRevision within 1 s → canary scaled up and Ready', async () => {
  const ns = await cluster.createNamespace('setimage');
  const canary = { namespace: ns, name: 'podinfo' };
  await cluster.kubectl(['apply', '-n', ns, '-f', `${PODINFO_DIR}/deployment.yaml`]);
  await createCanary(cluster.kubeConfig, canaryManifest(ns));
  const [boot] = await waitSignals(canary, 1, 'bootstrap signal');
  assert.equal(boot?.name, 'newRevision');
  await bootstrap(canary, lastRevision(canary));
  // Scaling the target to zero changes its generation, not its pod template: no signal.
  await sleep(1500);
  assert.equal((await signalsOf(canary)).length, 1);

  const before = Date.now();
  await cluster.kubectl([
    'set',
    'image',
    '-n',
    ns,
    'deployment/podinfo',
    'podinfod=ghcr.io/stefanprodan/podinfo:6.0.1',
  ]);
  const returned = Date.now();
  const events = await waitSignals(canary, 2, 'newRevision after set image', 5000);
  const latency = events[1]!.at - returned;
  console.log(
    `set image → newRevision signal in history: ${latency} ms after kubectl returned (${events[1]!.at - before} ms after it started)`,
  );
  assert.ok(events[1]!.at - before < 1000, `signal within 1 s of set image (took ${events[1]!.at - before} ms)`);
  const revision = lastRevision(canary);
  assert.notEqual(revision.hash, signalled.find((s) => s.canary.namespace === ns)?.revision?.hash);

  await acts.scaleCanary({ canary, revision, direction: 'up' });
  await waitFor(async () => (await acts.checkReadiness({ canary, revision })).canary.ready, 'canary Ready', 90_000);
  // Scaling up is not a revision either; re-delivery (a restarted watcher) changes nothing.
  await sleep(1000);
  assert.equal((await signalsOf(canary)).length, 2);
});

test('ConfigMap-only change triggers, opted-out config and a defaulted field do not', async () => {
  const ns = await cluster.createNamespace('configs');
  const canary = { namespace: ns, name: 'podinfo' };
  await cluster.kubectl(['create', 'configmap', 'podinfo-env', '-n', ns, '--from-literal=color=blue']);
  await cluster.kubectl(['create', 'configmap', 'podinfo-flags', '-n', ns, '--from-literal=x=1']);
  await cluster.kubectl(['annotate', 'configmap', 'podinfo-flags', '-n', ns, 'flagger.app/config-tracking=disabled']);
  const dep = podinfoDeployment();
  dep.spec!.template.spec!.containers[0]!.envFrom = [
    { configMapRef: { name: 'podinfo-env' } },
    { configMapRef: { name: 'podinfo-flags' } },
  ];
  await api.apps.createNamespacedDeployment({ namespace: ns, body: dep });
  await createCanary(cluster.kubeConfig, canaryManifest(ns));
  await waitSignals(canary, 1, 'bootstrap signal');
  await waitFor(async () => {
    const c = await readCanaryObject(cluster.kubeConfig, ns);
    return Boolean(c.metadata.annotations?.[OBSERVED_ANNOTATION]);
  }, 'fence written');
  const fence = parseMark((await readCanaryObject(cluster.kubeConfig, ns)).metadata.annotations?.[OBSERVED_ANNOTATION]);

  // A field written out with its empty default: new generation, same revision.
  await cluster.kubectl([
    'patch',
    'deployment',
    'podinfo',
    '-n',
    ns,
    '--type=strategic',
    '-p',
    '{"spec":{"template":{"spec":{"containers":[{"name":"podinfod","securityContext":{}}],"imagePullSecrets":[]}}}}',
  ]);
  await waitFor(async () => {
    const m = parseMark((await readCanaryObject(cluster.kubeConfig, ns)).metadata.annotations?.[OBSERVED_ANNOTATION]);
    return (m?.generation ?? 0) > (fence?.generation ?? 0);
  }, 'fence moved to the new generation');
  assert.equal((await signalsOf(canary)).length, 1, 'no signal for a defaulted field');

  await cluster.kubectl(['patch', 'configmap', 'podinfo-flags', '-n', ns, '--type=merge', '-p', '{"data":{"x":"2"}}']);
  await sleep(1500);
  assert.equal((await signalsOf(canary)).length, 1, 'no signal for an opted-out config');

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
  await waitSignals(canary, 2, 'newRevision after ConfigMap change', 5000);
});

test('annotation controls are signalled and removed; deletion is signalled; a missing target does not stop the watcher', async () => {
  const ns = await cluster.createNamespace('controls');
  const canary = { namespace: ns, name: 'podinfo' };
  await cluster.kubectl(['apply', '-n', ns, '-f', `${PODINFO_DIR}/deployment.yaml`]);
  await createCanary(cluster.kubeConfig, canaryManifest(ns));
  await waitSignals(canary, 1, 'bootstrap signal');

  await cluster.kubectl(['annotate', '-n', ns, 'canary/podinfo', 'flagger.app/promote=true']);
  let events = await waitSignals(canary, 2, 'promote signal');
  assert.equal(events[1]?.name, 'promote');
  await waitFor(async () => {
    const c = await readCanaryObject(cluster.kubeConfig, ns);
    return c.metadata.annotations?.['flagger.app/promote'] === undefined;
  }, 'promote annotation removed');

  await cluster.kubectl(['annotate', '-n', ns, 'canary/podinfo', 'flagger.app/canaryWeight=0']);
  events = await waitSignals(canary, 3, 'abort signal');
  assert.equal(events[2]?.name, 'abort');

  // A Canary naming a Deployment that does not exist still gets its workflow (which reports the problem).
  const ghost = { namespace: ns, name: 'ghost' };
  await createCanary(
    cluster.kubeConfig,
    canaryManifest(ns, { targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'nothing' } }, 'ghost'),
  );
  await waitSignals(ghost, 1, 'bootstrap of a Canary with a missing target');

  await cluster.kubectl(['delete', '-n', ns, 'canary/podinfo']);
  events = await waitSignals(canary, 4, 'canaryDeleted signal');
  assert.equal(events[3]?.name, 'canaryDeleted');
});

test('Secrets: only those a target references are watched (a change there is a new revision), none without config tracking', async () => {
  const ns = await cluster.createNamespace('secrets');
  const canary = { namespace: ns, name: 'podinfo' };
  await cluster.kubectl(['create', 'secret', 'generic', 'podinfo-token', '-n', ns, '--from-literal=token=a']);
  await cluster.kubectl(['create', 'secret', 'generic', 'unrelated', '-n', ns, '--from-literal=password=x']);
  const dep = podinfoDeployment();
  dep.spec!.template.spec!.containers[0]!.envFrom = [{ secretRef: { name: 'podinfo-token' } }];
  await api.apps.createNamespacedDeployment({ namespace: ns, body: dep });
  // A second watcher of this namespace with config tracking off: no Secret is ever watched by it.
  const untracked = startWatcher({
    kube: cluster.kubeConfig,
    client,
    taskQueue: 'watcher-test-untracked',
    log: quietLog,
    namespaces: [ns],
    configTracking: false,
  });
  try {
    await untracked.synced;
    await createCanary(cluster.kubeConfig, canaryManifest(ns));
    await waitSignals(canary, 1, 'bootstrap signal');
    await waitFor(async () => watcher.watchedSecrets().includes(`${ns}/podinfo-token`), 'referenced Secret watched');
    assert.deepEqual(
      watcher.watchedSecrets().filter((k) => k.startsWith(`${ns}/`)),
      [`${ns}/podinfo-token`],
      'only the referenced Secret',
    );
    await cluster.kubectl([
      'patch',
      'secret',
      'podinfo-token',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ stringData: { token: 'b' } }),
    ]);
    await waitSignals(canary, 2, 'newRevision after the referenced Secret changed', 5000);
    assert.deepEqual(untracked.watchedSecrets(), [], 'config tracking off: no Secret watched');
  } finally {
    await untracked.stop();
  }
});
