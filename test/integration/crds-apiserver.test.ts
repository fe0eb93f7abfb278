// Our generated CRDs on a real kube-apiserver: they install, accept Flagger manifests, reject bad ones,
// and `kubectl get canaries` prints Flagger's columns.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../../dev/cluster.ts';

let cluster: Cluster;

before(async () => {
  cluster = await startCluster();
});

after(async () => {
  await cluster?.stop();
});

const canary = (namespace: string, analysis: Record<string, unknown>) => ({
  apiVersion: 'flagger.app/v1beta1',
  kind: 'Canary',
  metadata: { name: 'podinfo', namespace },
  spec: {
    provider: 'gatewayapi:v1',
    targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
    service: {
      port: 9898,
      targetPort: 'http',
      gatewayRefs: [{ name: 'public-gateway', namespace: 'istio-ingress' }],
    },
    analysis,
  },
});

test('CRDs are established and a Flagger Canary with status shows in kubectl columns', async () => {
  const crds = await cluster.kubectl(['get', 'crd', '-o', 'name']);
  for (const name of ['canaries.flagger.app', 'metrictemplates.flagger.app', 'alertproviders.flagger.app']) {
    assert.match(crds, new RegExp(name.replaceAll('.', '\\.')));
  }
  const namespace = await cluster.createNamespace('crds');
  const analysis = {
    interval: '1m',
    threshold: 5,
    maxWeight: 50,
    stepWeight: 10,
    metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' }],
    webhooks: [{ name: 'load-test', url: 'http://flagger-loadtester.test/', metadata: { cmd: 'hey -z 1m http://x' } }],
  };
  await cluster.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(canary(namespace, analysis)));
  // The status subresource: written separately, as the controller does.
  const status = { status: { phase: 'Progressing', canaryWeight: 20, failedChecks: 1, iterations: 0 } };
  await cluster.kubectl([
    '-n',
    namespace,
    'patch',
    'canary',
    'podinfo',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify(status),
  ]);
  const table = await cluster.kubectl(['-n', namespace, 'get', 'canaries']);
  const [header, row] = table.trim().split('\n');
  assert.match(header ?? '', /^NAME\s+STATUS\s+WEIGHT\s+.*LASTTRANSITIONTIME/);
  assert.match(row ?? '', /^podinfo\s+Progressing\s+20\b/);
  const wide = await cluster.kubectl(['-n', namespace, 'get', 'canaries', '-o', 'wide']);
  assert.match(wide, /FAILEDCHECKS\s+INTERVAL\s+MIRROR\s+STEPWEIGHT\s+STEPWEIGHTS\s+MAXWEIGHT/);
  assert.match(wide, /podinfo\s+Progressing\s+20\s+.*1\s+1m\s+.*10\s+.*50/);
  // Category `all` includes canaries.
  assert.match(await cluster.kubectl(['-n', namespace, 'get', 'all']), /canary\.flagger\.app\/podinfo/);
});

test('the apiserver rejects a Canary whose fields have the wrong type', async () => {
  const namespace = await cluster.createNamespace('crds-bad');
  const bad = canary(namespace, { interval: '1m', stepWeight: 'ten', maxWeight: 50 });
  await assert.rejects(cluster.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(bad)), /stepWeight/);
});

test('MetricTemplate and AlertProvider manifests from Flagger docs apply', async () => {
  const namespace = await cluster.createNamespace('crds-mt');
  const template = {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'MetricTemplate',
    metadata: { name: 'error-rate', namespace },
    spec: {
      provider: { type: 'prometheus', address: 'http://prometheus.monitoring:9090' },
      query: 'sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}"}[{{ interval }}]))',
    },
  };
  const provider = {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'AlertProvider',
    metadata: { name: 'on-call', namespace },
    spec: { type: 'slack', channel: 'on-call-alerts', username: 'flagger', secretRef: { name: 'on-call-url' } },
  };
  await cluster.kubectl(
    ['apply', '--server-side', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [template, provider] }),
  );
  assert.match(
    await cluster.kubectl(['-n', namespace, 'get', 'mt', '-o', 'name']),
    /metrictemplate.flagger.app\/error-rate/,
  );
  assert.match(await cluster.kubectl(['-n', namespace, 'get', 'alertproviders', '-o', 'name']), /on-call/);
});

test('ReleaseGroup (fledge.dev/v1alpha1) applies; the CRD rejects a typo in settleWindow and an empty member list', async () => {
  const namespace = await cluster.createNamespace('crds-rg');
  const group = (spec: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'ReleaseGroup',
      metadata: { name: 'shop', namespace },
      spec,
    });
  await cluster.kubectl(
    ['apply', '--server-side', '-f', '-'],
    group({ settleWindow: '45s', members: [{ name: 'api' }, { name: 'web', dependsOn: ['api'] }] }),
  );
  assert.match(await cluster.kubectl(['-n', namespace, 'get', 'rg', '-o', 'name']), /releasegroup.fledge.dev\/shop/);
  await assert.rejects(
    cluster.kubectl(['apply', '--server-side', '-f', '-'], group({ settleWindow: '45 s', members: [{ name: 'api' }] })),
    /settleWindow/,
  );
  await assert.rejects(cluster.kubectl(['apply', '--server-side', '-f', '-'], group({ members: [] })), /members/);
});
