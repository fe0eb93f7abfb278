// The metrics activity end to end on a real apiserver and a real Prometheus: it reads the Canary, a
// MetricTemplate and its basic-auth Secret, runs builtin and templated checks in Flagger's order, returns
// values, ranges and verdicts without secrets, and reports provider availability for the init event.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { startPrometheus, type PrometheusServer } from '../../dev/prometheus.ts';
import { createMetricsActivities, PROVIDERS_AVAILABLE, type Metric } from '../../activities/metrics/index.ts';

const POD = { kubernetes_namespace: '', kubernetes_pod_name: 'podinfo-7b9d8c6f5d-x2x4z' };
// bcrypt of "s3cret" (perl -e 'print crypt("s3cret", q{$2b$10$abcdefghijklmnopqrstuu})').
const BCRYPT_S3CRET = '$2b$10$abcdefghijklmnopqrstuu3KWNuWLhBnmgYfnzONPueahDuedC/lu';

let cluster: Cluster;
let prom: PrometheusServer;
let custom: k8s.CustomObjectsApi;
let core: k8s.CoreV1Api;
let namespace: string;

before(async () => {
  cluster = await startCluster({ gatewayApi: false });
  namespace = await cluster.createNamespace('metrics');
  const pod = { ...POD, kubernetes_namespace: namespace };
  prom = await startPrometheus({
    webConfig: `basic_auth_users:\n  flagger: ${BCRYPT_S3CRET}\n`,
    readyAuth: `Basic ${Buffer.from('flagger:s3cret').toString('base64')}`,
    counters: [
      { name: 'http_request_duration_seconds_count', labels: { ...pod, status: '200' }, perSecond: 99.5 },
      { name: 'http_request_duration_seconds_count', labels: { ...pod, status: '500' }, perSecond: 0.5 },
    ],
  });
  custom = cluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'prom-auth' }, stringData: { username: 'flagger', password: 's3cret' } },
  });
  await create('metrictemplates', {
    metadata: { name: 'error-rate' },
    spec: {
      provider: { type: 'prometheus', address: prom.url, secretRef: { name: 'prom-auth' } },
      query: `100 - sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}",
        kubernetes_pod_name=~"{{ target }}-.*", status!~"{{ variables.failing }}"}[{{ interval }}]))
        / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}"}[{{ interval }}])) * 100`,
    },
  });
  await create('canaries', {
    metadata: { name: 'podinfo' },
    spec: {
      provider: 'kubernetes',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      service: { port: 9898 },
      analysis: { interval: '1m', threshold: 2, maxWeight: 50, stepWeight: 10 },
    },
  });
});

after(async () => {
  await prom?.stop();
  await cluster?.stop();
});

function create(plural: string, body: Record<string, unknown>) {
  const kind = plural === 'canaries' ? 'Canary' : 'MetricTemplate';
  return custom.createNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace,
    plural,
    body: { apiVersion: 'flagger.app/v1beta1', kind, ...body },
  });
}

const activities = () =>
  createMetricsActivities({ kube: cluster.kubeConfig, metricsServer: 'http://127.0.0.1:1', timeoutMs: 2000 });

const templated: Metric = {
  name: 'error-rate',
  templateRef: { name: 'error-rate' },
  templateVariables: { failing: '5.*' },
  thresholdRange: { max: 1 },
  interval: '1m',
};

test('reads the template and its Secret from the apiserver and returns values without secrets', async () => {
  const out = await activities().runMetrics({
    canary: { namespace, name: 'podinfo' },
    metrics: [templated],
    interval: '1m',
  });
  assert.equal(out.ok, true);
  assert.equal(out.results[0]!.verdict, 'pass');
  assert.ok(Math.abs(out.results[0]!.value! - 0.5) < 1e-9, `error rate ${out.results[0]!.value}`);
  assert.deepEqual(out.results[0]!.range, { max: 1 });
  assert.ok(!JSON.stringify(out).includes('s3cret'));
});

test('a tighter range fails with the real value in the message', async () => {
  const out = await activities().runMetrics({
    canary: { namespace, name: 'podinfo' },
    metrics: [{ ...templated, thresholdRange: { max: 0.1 } }],
    interval: '1m',
  });
  assert.equal(out.ok, false);
  assert.equal(out.results[0]!.message, `Halt podinfo.${namespace} advancement error-rate 0.50 > 0.1`);
});

test('a missing Secret is a failed check; an unreachable builtin Prometheus is a retryable failure', async () => {
  await create('metrictemplates', {
    metadata: { name: 'no-secret' },
    spec: { provider: { type: 'prometheus', address: prom.url, secretRef: { name: 'absent' } }, query: 'vector(1)' },
  });
  const out = await activities().runMetrics({
    canary: { namespace, name: 'podinfo' },
    metrics: [{ name: 'x', templateRef: { name: 'no-secret' } }],
    interval: '1m',
  });
  assert.match(
    out.results[0]!.message!,
    /^Metric template no-secret\.metrics-\S+ secret absent error: secrets "absent" not found/,
  );
  await assert.rejects(
    activities().runMetrics({
      canary: { namespace, name: 'podinfo' },
      metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
      interval: '1m',
    }),
    (e: Error) => e instanceof ApplicationFailure && e.type === 'MetricProviderUnavailable',
  );
});

test('a deleted Canary is a non-retryable failure', async () => {
  await assert.rejects(
    activities().runMetrics({ canary: { namespace, name: 'gone' }, metrics: [templated], interval: '1m' }),
    (e: Error) => e instanceof ApplicationFailure && e.nonRetryable && e.type === 'CanaryNotFound',
  );
});

test('provider availability at initialization: event text only', async () => {
  const ok = await activities().checkMetricProviders({ canary: { namespace, name: 'podinfo' }, metrics: [templated] });
  assert.deepEqual(ok, { available: true, message: PROVIDERS_AVAILABLE });
  const down = await activities().checkMetricProviders({
    canary: { namespace, name: 'podinfo' },
    metrics: [{ name: 'request-duration' }],
  });
  assert.equal(down.available, false);
  assert.match(down.message, /^prometheus not avaiable: request to http:\/\/127\.0\.0\.1:1 failed/);
});

test('with cross-namespace references forbidden, a template from another namespace fails its check', async () => {
  const elsewhere = await cluster.createNamespace('shared-templates');
  await core.createNamespacedSecret({
    namespace: elsewhere,
    body: { metadata: { name: 'prom-auth' }, stringData: { username: 'flagger', password: 's3cret' } },
  });
  await custom.createNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: elsewhere,
    plural: 'metrictemplates',
    body: {
      apiVersion: 'flagger.app/v1beta1',
      kind: 'MetricTemplate',
      metadata: { name: 'error-rate' },
      spec: {
        provider: { type: 'prometheus', address: prom.url, secretRef: { name: 'prom-auth' } },
        query: 'vector(0)',
      },
    },
  });
  const remote: Metric = {
    name: 'error-rate',
    templateRef: { name: 'error-rate', namespace: elsewhere },
    thresholdRange: { max: 1 },
    interval: '1m',
  };
  const input = { canary: { namespace, name: 'podinfo' }, metrics: [remote], interval: '1m' };
  const strict = createMetricsActivities({ kube: cluster.kubeConfig, noCrossNamespaceRefs: true, timeoutMs: 2000 });
  const out = await strict.runMetrics(input);
  assert.equal(out.ok, false);
  assert.equal(out.results[0]!.verdict, 'fail');
  assert.match(
    out.results[0]!.message ?? '',
    new RegExp(`error-rate\\.${elsewhere}.*cross-namespace references are forbidden`),
  );
  const availability = await strict.checkMetricProviders({ canary: input.canary, metrics: [remote] });
  assert.equal(availability.available, false);
  // Allowed by default, as in Flagger: the same template is read and evaluated.
  const open = await createMetricsActivities({ kube: cluster.kubeConfig, timeoutMs: 2000 }).runMetrics(input);
  assert.equal(open.results[0]!.value, 0);
  assert.equal(open.ok, true);
});
