// A real control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok nodes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startCluster, waitFor, type Cluster } from '../../dev/cluster.ts';

let cluster: Cluster;
let apps: k8s.AppsV1Api;
let discovery: k8s.DiscoveryV1Api;

before(async () => {
  cluster = await startCluster({ controllers: true, nodes: 2 });
  apps = cluster.kubeConfig.makeApiClient(k8s.AppsV1Api);
  discovery = cluster.kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
});

after(async () => {
  await cluster?.stop();
});

function deployment(name: string, image: string): k8s.V1Deployment {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image, ports: [{ containerPort: 9898 }] }] },
      },
    },
  };
}

test('a Deployment becomes available on simulated nodes and rolls out a new image', async () => {
  const namespace = await cluster.createNamespace('deploy');
  await apps.createNamespacedDeployment({
    namespace,
    body: deployment('podinfo', 'ghcr.io/stefanprodan/podinfo:6.0.0'),
  });
  await cluster.kubectl(['-n', namespace, 'expose', 'deployment', 'podinfo', '--port=80', '--target-port=9898']);

  await waitFor(async () => {
    const d = await apps.readNamespacedDeployment({ name: 'podinfo', namespace });
    return d.status?.availableReplicas === 3;
  }, 'availableReplicas == 3');

  // The real EndpointSlice controller publishes the Ready pods' (kwok) addresses.
  await waitFor(async () => {
    const slices = await discovery.listNamespacedEndpointSlice({
      namespace,
      labelSelector: 'kubernetes.io/service-name=podinfo',
    });
    const ready = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready);
    return ready.length === 3;
  }, 'three ready endpoints');

  await cluster.kubectl([
    '-n',
    namespace,
    'set',
    'image',
    'deployment/podinfo',
    'app=ghcr.io/stefanprodan/podinfo:6.0.1',
  ]);
  await waitFor(async () => {
    const d = await apps.readNamespacedDeployment({ name: 'podinfo', namespace });
    const s = d.status;
    return (
      s?.observedGeneration === d.metadata?.generation &&
      s?.updatedReplicas === 3 &&
      s?.availableReplicas === 3 &&
      (s?.replicas ?? 0) === 3
    );
  }, 'rollout of the new image');

  const sets = await apps.listNamespacedReplicaSet({ namespace, labelSelector: 'app=podinfo' });
  const byImage = new Map(
    sets.items.map((rs) => [rs.spec?.template?.spec?.containers[0]?.image, rs.status?.replicas ?? 0]),
  );
  assert.equal(sets.items.length, 2, 'old and new ReplicaSet');
  assert.equal(byImage.get('ghcr.io/stefanprodan/podinfo:6.0.1'), 3);
  assert.equal(byImage.get('ghcr.io/stefanprodan/podinfo:6.0.0'), 0);
  const status = await cluster.kubectl(['-n', namespace, 'rollout', 'status', 'deployment/podinfo', '--timeout=30s']);
  assert.match(status, /successfully rolled out/);
});

test('the apiserver rejects an invalid HTTPRoute with its own validation error', async () => {
  const namespace = await cluster.createNamespace('invalid');
  const route = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'bad', namespace },
    spec: {
      parentRefs: [{ name: 'gw' }],
      rules: [
        {
          matches: [{ path: { type: 'Sideways', value: '/' } }],
          backendRefs: [{ name: 'podinfo', port: 80, weight: -5 }],
        },
      ],
    },
  };
  await assert.rejects(cluster.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(route)), (err: Error) => {
    assert.match(err.message, /Unsupported value: "Sideways"/);
    assert.match(err.message, /weight/);
    return true;
  });
  const valid = structuredClone(route);
  valid.spec.rules[0]!.matches[0]!.path.type = 'PathPrefix';
  valid.spec.rules[0]!.backendRefs[0]!.weight = 10;
  await cluster.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(valid));
});
