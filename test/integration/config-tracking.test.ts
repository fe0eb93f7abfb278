// Flagger's -enable-config-tracking=false: the primary keeps pointing at the target's own ConfigMaps and
// Secrets, no `-primary` copies are made, and `.status.trackedConfigs` stays empty.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createKubernetesActivities } from '../../activities/kubernetes/index.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import {
  canaryManifest,
  createCanary,
  kubeClients,
  podinfoDeployment,
  quietLog,
  readCanaryObject,
} from './kubernetes-fixtures.ts';

let cluster: Cluster;

before(async () => {
  cluster = await startCluster({ gatewayApi: false });
});

after(async () => {
  await cluster?.stop();
});

async function initialize(configTracking: boolean) {
  const ns = await cluster.createNamespace(configTracking ? 'tracking-on' : 'tracking-off');
  const api = kubeClients(cluster.kubeConfig);
  await cluster.kubectl(['create', 'configmap', 'podinfo-env', '-n', ns, '--from-literal=color=blue']);
  const dep = podinfoDeployment();
  dep.spec!.template.spec!.containers[0]!.envFrom = [{ configMapRef: { name: 'podinfo-env' } }];
  await api.apps.createNamespacedDeployment({ namespace: ns, body: dep });
  await createCanary(cluster.kubeConfig, canaryManifest(ns));
  const acts = createKubernetesActivities({ kube: cluster.kubeConfig, log: quietLog, configTracking });
  const canary = { namespace: ns, name: 'podinfo' };
  await acts.initializePrimary({ canary, revision: { hash: 'r1', generation: 1 } });
  const primary = await api.apps.readNamespacedDeployment({ name: 'podinfo-primary', namespace: ns });
  const configMaps = await api.core.listNamespacedConfigMap({ namespace: ns });
  return {
    envFrom: primary.spec?.template.spec?.containers[0]?.envFrom?.map((e) => e.configMapRef?.name),
    copies: configMaps.items.map((c) => c.metadata?.name).filter((n) => n?.endsWith('-primary')),
    tracked: (await readCanaryObject(cluster.kubeConfig, ns)).status?.trackedConfigs ?? {},
  };
}

test('config tracking on (default): -primary copies, the primary points at them, checksums in status', async () => {
  const on = await initialize(true);
  assert.deepEqual(on.envFrom, ['podinfo-env-primary']);
  assert.deepEqual(on.copies, ['podinfo-env-primary']);
  assert.deepEqual(Object.keys(on.tracked), ['configmap/podinfo-env']);
});

test('config tracking off: no copies, the primary uses the target configs, nothing tracked', async () => {
  const off = await initialize(false);
  assert.deepEqual(off.envFrom, ['podinfo-env']);
  assert.deepEqual(off.copies, []);
  assert.deepEqual(off.tracked, {});
});
