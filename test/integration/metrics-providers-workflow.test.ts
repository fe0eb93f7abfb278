// New Relic, Dynatrace, Graphite, InfluxDB, Cloud Monitoring (stackdriver), Splunk, Keptn and External Metrics API
// MetricTemplates in real rollout workflows (Temporal dev server, bundled workflow, in-process worker): the real
// metrics activity reads each Canary, template and Secret from a real kube-apiserver and queries the provider's
// wire-format server (metrics-fakes.ts, signalflow-fake.ts; the External Metrics API through the apiserver's
// aggregation layer, external-metrics-apiserver.ts); workloads, routes, status and events stay scripted (the
// world). Per provider four Canaries run at once: one whose metric passes (promoted),
// one that fails (rolled back with Flagger's Halt text), one without data (rolled back with "no values found"),
// one whose backend is unreachable (held as an infrastructure fault, rolled back at the progress deadline).
// Also the init-time availability check (Flagger's "all the metrics providers are available!").
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { RolloutActivities } from '../../api/ports.ts';
import {
  createMetricsActivities,
  createProvider,
  PROVIDERS_AVAILABLE,
  ProviderUnavailableError,
  QueryError,
} from '../../activities/metrics/index.ts';
import { createKeptnProvider } from '../../activities/metrics/keptn.ts';
import { makeTempDir, removeTempDir } from '../../dev/proc.ts';
import type { RolloutResult } from '../../workflows/rollout.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import {
  NAMESPACE,
  canaryRaw,
  routeTrail,
  seedInitialized,
  setupEnv,
  startBundledWorker,
  startRollout,
  type TestEnv,
} from '../workflow/env.ts';
import {
  closedAddress,
  dynatraceFake,
  authProxy,
  influxdbFake,
  newRelicFake,
  stackdriverFake,
  type Answer,
  type Fake,
} from './metrics-fakes.ts';
import { signalFlowFake } from './signalflow-fake.ts';
import { startExternalMetricsApiServer } from './external-metrics-apiserver.ts';
import { GRAPHITE_STEP_SECONDS, startGraphite } from '../../dev/graphite.ts';

const EXTERNAL_DISCOVERY = '/apis/external.metrics.k8s.io/v1beta1';

const CASES = ['pass', 'fail', 'nodata', 'down'] as const;
type Case = (typeof CASES)[number];
const PASS_VALUE = 0.5;
const FAIL_VALUE = 2.5;
const WINDOW = '30s';

/** The fakes answer by the Canary name the template rendered into the query (`<provider>-<case>`); probes: no data. */
function answerFor(query: string): Answer {
  const m = /-(pass|fail)\b/.exec(query);
  if (m?.[1] === 'pass') return { value: PASS_VALUE };
  if (m?.[1] === 'fail') return { value: FAIL_VALUE };
  return { noData: true };
}

/**
 * Real graphite-web (dev/graphite.ts) behind a basic-auth proxy that records requests, fed like carbon feeds it: every
 * 3 s (less than a bucket) the bucket holding "now" and the two before get the value of the `graphite-pass` /
 * `graphite-fail` series, so every complete bucket in the window has it; `graphite-nodata` has no series at all.
 */
async function realGraphite(authorization: string): Promise<Fake> {
  const graphite = await startGraphite();
  const proxy = await authProxy(graphite.url, authorization);
  let stopped = false;
  const feed = async () => {
    const b = Math.floor(Date.now() / 1000 / GRAPHITE_STEP_SECONDS) * GRAPHITE_STEP_SECONDS;
    for (const [c, value] of [
      ['pass', PASS_VALUE],
      ['fail', FAIL_VALUE],
    ] as const) {
      const points = [2, 1, 0].map((i): [number, number] => [b - i * GRAPHITE_STEP_SECONDS, value]);
      if (!stopped) await graphite.write(`stats.${NAMESPACE}.graphite-${c}.errors`, points);
    }
  };
  await feed();
  const timer = setInterval(() => void feed().catch(() => {}), 3000);
  return {
    ...proxy,
    async close() {
      stopped = true;
      clearInterval(timer);
      await proxy.close();
      await graphite.stop();
    },
  };
}

interface ProviderCase {
  type: string;
  /** Default: all four. */
  cases?: readonly Case[];
  secret(fake: Fake): Record<string, string>;
  query: string;
  start(): Promise<Fake>;
  /** The passing templates name no address nor Secret: the worker's apiserver connection (externalmetrics). */
  viaApiserver?: boolean;
  /** The request of one query as the provider must send it. */
  assertRequest(fake: Fake, canary: string): void;
}

const windowOf = (seen: Fake['seen'][number], from: string, to: string) =>
  Number(seen.url.searchParams.get(to)) - Number(seen.url.searchParams.get(from));

const GCP = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

const PROVIDERS: ProviderCase[] = [
  {
    type: 'newrelic',
    secret: () => ({ newrelic_account_id: '100', newrelic_query_key: 'nr-key' }),
    query:
      "SELECT filter(sum(nginx_ingress_controller_requests), WHERE status >= '500') / " +
      "sum(nginx_ingress_controller_requests) * 100 FROM Metric WHERE ingress = '{{ target }}' AND namespace = '{{ namespace }}'",
    start: () => newRelicFake('100', 'nr-key', answerFor),
    assertRequest(fake, canary) {
      const req = fake.seen.find((s) => s.url.searchParams.get('nrql')?.includes(`'${canary}'`))!;
      assert.equal(req.method, 'GET');
      assert.equal(req.url.pathname, '/v1/accounts/100/query');
      assert.equal(req.headers['x-query-key'], 'nr-key');
      assert.match(req.url.searchParams.get('nrql')!, /AND namespace = 'test' SINCE 30 seconds ago$/);
    },
  },
  {
    type: 'dynatrace',
    secret: () => ({ dynatrace_token: 'dt0c01.TOKEN' }),
    query: 'builtin:service.errors.total.rate:filter(eq("dt.entity.service.name","{{ target }}")):avg',
    start: () => dynatraceFake('dt0c01.TOKEN', answerFor),
    assertRequest(fake, canary) {
      const req = fake.seen.find((s) => s.url.searchParams.get('metricSelector')?.includes(`"${canary}"`))!;
      assert.equal(req.url.pathname, '/api/v2/metrics/query');
      assert.equal(req.headers.authorization, 'Api-Token dt0c01.TOKEN');
      assert.equal(req.url.searchParams.get('resolution'), '1m', 'buckets of the 30s interval, in whole minutes');
      assert.equal(windowOf(req, 'from', 'to'), 300_000, '10 × 30s in ms');
    },
  },
  {
    type: 'graphite',
    secret: () => ({ username: 'flagger', password: 'gr-pass' }),
    query: `target=summarize(sumSeries(stats.{{ namespace }}.{{ target }}.errors), '10s', 'sum')
      &from=-{{ interval }}`,
    start: () => realGraphite(`Basic ${Buffer.from('flagger:gr-pass').toString('base64')}`),
    assertRequest(fake, canary) {
      const req = fake.seen.find((s) => s.url.searchParams.get('target')?.includes(`.${canary}.`))!;
      assert.equal(req.url.pathname, '/render');
      assert.equal(req.url.searchParams.get('format'), 'json');
      assert.equal(req.url.searchParams.get('from'), `-${WINDOW}`);
      assert.equal(
        req.url.searchParams.get('target'),
        `summarize(sumSeries(stats.test.${canary}.errors), '10s', 'sum') `,
      );
    },
  },
  {
    type: 'influxdb',
    secret: () => ({ token: 'influx-token', org: 'fledge' }),
    query:
      'from(bucket: "default") |> range(start: -{{ interval }}) ' +
      '|> filter(fn: (r) => r._measurement == "errors" and r.app == "{{ target }}") |> sum()',
    start: () => influxdbFake('fledge', 'influx-token', answerFor),
    assertRequest(fake, canary) {
      const req = fake.seen.find((s) => s.body.includes(`\\"${canary}\\"`))!;
      assert.equal(req.method, 'POST');
      assert.equal(req.url.pathname, '/api/v2/query');
      assert.equal(req.url.searchParams.get('org'), 'fledge');
      assert.equal(req.headers.authorization, 'Token influx-token');
      const body = JSON.parse(req.body) as { query: string; type: string; dialect: { annotations: string[] } };
      assert.equal(body.type, 'flux');
      assert.deepEqual(body.dialect.annotations, ['datatype', 'group', 'default']);
      assert.match(body.query, new RegExp(`range\\(start: -${WINDOW}\\)`));
    },
  },
  {
    type: 'stackdriver',
    secret: (fake) => ({
      project: 'fledge-test',
      serviceAccountKey: JSON.stringify({
        type: 'service_account',
        project_id: 'fledge-test',
        private_key: GCP.privateKey,
        client_email: 'flagger@fledge-test.iam.gserviceaccount.com',
        token_uri: `${fake.url}/token`,
      }),
    }),
    query:
      "fetch k8s_container | metric 'istio.io/service/server/request_count' " +
      "| filter resource.namespace_name == '{{ namespace }}' && metric.destination_workload_name == '{{ target }}' " +
      '| align rate(1m) | every 1m | group_by [], [value: sum(value.request_count)] | within {{ interval }}',
    start: () => stackdriverFake('fledge-test', GCP.publicKey, answerFor),
    assertRequest(fake, canary) {
      const req = fake.seen.find((s) => s.body.includes(`== '${canary}'`))!;
      assert.equal(req.method, 'POST');
      assert.equal(req.url.pathname, '/v3/projects/fledge-test/timeSeries:query');
      assert.equal(req.headers.authorization, 'Bearer ya29.fledge-test');
      assert.match((JSON.parse(req.body) as { query: string }).query, new RegExp(`within ${WINDOW}$`));
      assert.ok(
        fake.seen.some((s) => s.url.pathname === '/token'),
        'the key was exchanged for a token',
      );
    },
  },
  {
    // Keptn has no address: it reads KeptnMetrics from the worker's own apiserver (Keptn's CRDs installed there);
    // its unreachable case is the provider test below (a kubeconfig whose server is closed).
    type: 'keptn',
    cases: ['pass', 'fail', 'nodata'],
    secret: () => ({}),
    query: 'keptnmetric/{{ namespace }}/{{ target }}-errors',
    start: async () => ({ url: '', seen: [], close: async () => {} }),
    assertRequest() {},
  },
  {
    type: 'splunk',
    secret: () => ({ sf_token_key: 'sf-token' }),
    query:
      "data('spans.count', filter=filter('sf_service', '{{ target }}') and filter('sf_error', 'true'))" +
      '.sum().publish()',
    start: () => signalFlowFake('sf-token', answerFor),
    assertRequest(fake, canary) {
      // Messages of the connection that executed this canary's program (connections of the canaries running at
      // the same time interleave in `seen`; each message keeps its connection's upgrade request headers).
      const isOwn = (m: Record<string, unknown>) => m.type === 'execute' && String(m.program).includes(`'${canary}'`);
      const all = fake.seen.filter((s) => s.method === 'WS');
      const own = all.find((s) => isOwn(JSON.parse(s.body) as Record<string, unknown>));
      assert.ok(own, 'an execute message');
      const ws = all.filter((s) => s.headers === own.headers).map((s) => JSON.parse(s.body) as Record<string, unknown>);
      const i = ws.findIndex(isOwn);
      assert.ok(i > 0, 'an execute message');
      assert.deepEqual(ws[i - 1], { type: 'authenticate', token: 'sf-token' });
      assert.equal(Number(ws[i]!.stop) - Number(ws[i]!.start), 300_000, '10 × 30s in ms');
      assert.equal(ws[i]!.immediate, true);
      assert.ok(fake.seen.some((s) => s.method === 'GET' && s.url.pathname === '/v2/signalflow/connect'));
    },
  },
  {
    // The aggregated API server behind the real apiserver (APIService v1beta1.external.metrics.k8s.io), reached
    // through the worker's own kubeconfig; the unreachable case names a closed address instead.
    type: 'externalmetrics',
    secret: () => ({ token: 'em-token' }),
    query: '{{ namespace }}/istio_requests_error_percent?labelSelector=app%3D{{ target }}',
    start: () => startExternalMetricsApiServer(cluster, answerFor),
    viaApiserver: true,
    assertRequest(fake, canary) {
      const req = fake.seen.find((s) => s.url.searchParams.get('labelSelector') === `app=${canary}`)!;
      assert.equal(
        req.url.pathname,
        '/apis/external.metrics.k8s.io/v1beta1/namespaces/test/istio_requests_error_percent',
      );
      assert.equal(req.peer, 'front-proxy-client', "proxied by the apiserver's aggregator");
      assert.equal(req.headers['x-remote-user'], 'admin', "the worker's identity, vouched for by the apiserver");
      assert.match(String(req.headers['x-remote-group']), /system:masters/);
      assert.equal(req.headers.authorization, undefined, 'the bearer token stops at the apiserver');
    },
  },
];

let cluster: Cluster;
let env: TestEnv;
let stopWorker = async () => {};
const fakes = new Map<string, Fake>();
let metrics: ReturnType<typeof createMetricsActivities>;
/** Value of the metric in each analysis the real activity answered, by Canary name. */
const values = new Map<string, (number | null)[]>();

const canaryName = (type: string, c: Case) => `${type}-${c}`;
const canaryOf = (type: string, c: Case) =>
  canaryRaw(
    canaryName(type, c),
    {
      threshold: 1,
      stepWeight: 50,
      maxWeight: 50,
      metrics: [
        {
          name: 'error-rate',
          interval: WINDOW,
          templateRef: { name: `${type}-error-rate` },
          thresholdRange: { max: 1 },
        },
      ],
    },
    { progressDeadlineSeconds: 3 },
  );

/**
 * Keptn's two CRDs in metrics.keptn.sh/v1beta1, written by hand from Keptn's Go types (the lifecycle-toolkit
 * modules are not on the Go module proxy): KeptnMetric and Analysis, with status subresources; fields beyond the
 * ones fledge reads are kept as unknown fields.
 */
function keptnCrds(dir: string): string[] {
  const crd = (kind: string, plural: string, singular: string) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.metrics.keptn.sh` },
    spec: {
      group: 'metrics.keptn.sh',
      scope: 'Namespaced',
      names: { kind, plural, singular, listKind: `${kind}List` },
      versions: [
        {
          name: 'v1beta1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              },
            },
          },
        },
      ],
    },
  });
  return [crd('KeptnMetric', 'keptnmetrics', 'keptnmetric'), crd('Analysis', 'analyses', 'analysis')].map((c) => {
    const file = join(dir, `${c.metadata.name}.yaml`);
    writeFileSync(file, JSON.stringify(c));
    return file;
  });
}

const KEPTN = { group: 'metrics.keptn.sh', version: 'v1beta1', namespace: NAMESPACE };
let keptnDir: string;

before(async () => {
  let down: string;
  keptnDir = makeTempDir('keptn-crds');
  [cluster, env, down] = await Promise.all([
    startCluster({ gatewayApi: false, crds: keptnCrds(keptnDir) }),
    setupEnv('metrics-providers', { worker: false }),
    closedAddress(),
  ]);
  await Promise.all(PROVIDERS.map(async (p) => fakes.set(p.type, await p.start())));
  const kube = cluster.kubeConfig;
  const core = kube.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  const custom = kube.makeApiClient(k8s.CustomObjectsApi);
  // KeptnMetrics as Keptn's metrics operator leaves them: the value in status (none yet for the no-data case).
  for (const [name, value] of [
    ['keptn-pass-errors', String(PASS_VALUE)],
    ['keptn-fail-errors', String(FAIL_VALUE)],
    ['keptn-nodata-errors', undefined],
  ] as const) {
    const body = {
      apiVersion: 'metrics.keptn.sh/v1beta1',
      kind: 'KeptnMetric',
      metadata: { name, namespace: NAMESPACE },
      spec: { provider: { name: 'prometheus' }, query: 'sum(rate(errors[1m]))', fetchIntervalSeconds: 10 },
    };
    const created = (await custom.createNamespacedCustomObject({ ...KEPTN, plural: 'keptnmetrics', body })) as object;
    if (value !== undefined) {
      await custom.replaceNamespacedCustomObjectStatus({
        ...KEPTN,
        plural: 'keptnmetrics',
        name,
        body: {
          ...created,
          status: { value, rawValue: Buffer.from(value).toString('base64'), lastUpdated: new Date().toISOString() },
        },
      });
    }
  }
  const flagger = { group: 'flagger.app', version: 'v1beta1', namespace: NAMESPACE };
  for (const p of PROVIDERS) {
    await core.createNamespacedSecret({
      namespace: NAMESPACE,
      body: { metadata: { name: `${p.type}-creds` }, stringData: p.secret(fakes.get(p.type)!) },
    });
    for (const [name, address] of [
      [`${p.type}-error-rate`, p.viaApiserver ? undefined : fakes.get(p.type)!.url],
      [`${p.type}-down`, down],
    ] as const) {
      const provider = address ? { type: p.type, address, secretRef: { name: `${p.type}-creds` } } : { type: p.type };
      await custom.createNamespacedCustomObject({
        ...flagger,
        plural: 'metrictemplates',
        body: {
          apiVersion: 'flagger.app/v1beta1',
          kind: 'MetricTemplate',
          metadata: { name },
          spec: { provider, query: p.query },
        },
      });
    }
    for (const c of p.cases ?? CASES) {
      const raw = canaryOf(p.type, c);
      if (c === 'down') {
        const spec = raw.spec as { analysis: { metrics: { templateRef: { name: string } }[] } };
        spec.analysis.metrics[0]!.templateRef.name = `${p.type}-down`;
      }
      await custom.createNamespacedCustomObject({ ...flagger, plural: 'canaries', body: raw });
      seedInitialized(env, { raw });
    }
  }
  metrics = createMetricsActivities({ kube });
  const activities: RolloutActivities = {
    ...createScriptedActivities(env.world.url),
    runMetrics: async (input) => {
      const outcome = await metrics.runMetrics(input);
      values.set(input.canary.name, [...(values.get(input.canary.name) ?? []), outcome.results[0]?.value ?? null]);
      return outcome;
    },
  };
  stopWorker = await startBundledWorker(env, activities);
});

after(async () => {
  await stopWorker();
  await env?.stop();
  await Promise.all([...fakes.values()].map((f) => f.close()));
  await cluster?.stop();
  if (keptnDir) removeTempDir(keptnDir);
});

const warnings = (name: string) =>
  env.world
    .get(`${NAMESPACE}/${name}`)
    .log.events.filter((e) => e.type === 'Warning')
    .map((e) => e.message);

describe('metric providers in real rollout workflows', () => {
  it('pass promotes, fail and no data roll back with Flagger texts, an unreachable backend holds until the deadline', async () => {
    const runs = PROVIDERS.flatMap((p) =>
      (p.cases ?? CASES).map(async (c) => {
        const name = canaryName(p.type, c);
        const handle = await startRollout(env, name, { options: { retryWindowMs: 1 } });
        return { p, c, name, result: (await handle.result()) as RolloutResult };
      }),
    );
    for (const { p, c, name, result } of await Promise.all(runs)) {
      const label = `${name}: ${JSON.stringify(warnings(name))}`;
      const world = env.world.get(`${NAMESPACE}/${name}`);
      if (c === 'pass') {
        assert.equal(result.phase, 'Succeeded', label);
        assert.deepEqual(result.routes, { primary: 100, canary: 0, mirrored: false });
        assert.deepEqual(warnings(name), [], label);
        assert.ok(values.get(name)?.length, label);
        assert.ok(
          values.get(name)!.every((v) => v === PASS_VALUE),
          `${label}: ${String(values.get(name))}`,
        );
        p.assertRequest(fakes.get(p.type)!, name);
        continue;
      }
      assert.equal(result.phase, 'Failed', label);
      assert.deepEqual(routeTrail(world.log.routes).at(-1), '100/0', label);
      const [first, ...rest] = warnings(name);
      if (c === 'fail') {
        assert.equal(first, `Halt ${name}.${NAMESPACE} advancement error-rate 2.50 > 1`, label);
        assert.deepEqual(values.get(name), [FAIL_VALUE], label);
      } else if (c === 'nodata') {
        assert.match(
          first!,
          /^Halt advancement no values found for custom metric: error-rate: .*no values found$/,
          label,
        );
      } else {
        assert.match(
          first!,
          /^infrastructure fault: metrics: (request to http|SignalFlow connection to ws):\/\/127\.0\.0\.1:\d+\S* failed/,
          label,
        );
        assert.ok(
          rest.some((m) =>
            m.startsWith(`Rolling back ${name}.${NAMESPACE} progress deadline exceeded infrastructure fault: metrics:`),
          ),
          label,
        );
      }
      assert.ok(rest.includes(`Canary failed! Scaling down ${name}.${NAMESPACE}`), label);
    }
  });

  it('keptn: an Analysis is created, completed by Keptn (here: the test), read as 1 / 0, and deleted', async () => {
    const api = cluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    const provider = createKeptnProvider(
      { provider: { type: 'keptn' }, credentials: {}, interval: WINDOW, kubeConfig: cluster.kubeConfig },
      { pollMs: 100, timeoutMs: 5_000 },
    );
    type Obj = { metadata: { name: string }; spec: Record<string, unknown>; status?: unknown };
    // A new CRD's storage answers 429 "storage is (re)initializing" for a moment: wait it out.
    const list = async (): Promise<Obj[]> => {
      for (;;) {
        try {
          return ((await api.listNamespacedCustomObject({ ...KEPTN, plural: 'analyses' })) as { items: Obj[] }).items;
        } catch (err) {
          if ((err as { code?: number }).code !== 429) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    for (const pass of [true, false]) {
      const running = provider.runQuery('analysis/test/Error-Budget/5m/service=podinfo;team=web');
      let created: Obj | undefined;
      while (!(created = (await list())[0])) await new Promise((r) => setTimeout(r, 20));
      assert.match(created.metadata.name, /^error-budget-[0-9a-f]{6}$/);
      assert.deepEqual(created.spec, {
        analysisDefinition: { name: 'error-budget' },
        timeframe: { recent: '5m' },
        args: { service: 'podinfo', team: 'web' },
      });
      await api.replaceNamespacedCustomObjectStatus({
        ...KEPTN,
        plural: 'analyses',
        name: created.metadata.name,
        body: { ...created, status: { state: 'Completed', pass, warning: false, raw: '{}' } },
      });
      assert.equal(await running, pass ? 1 : 0);
      assert.deepEqual(await list(), [], 'the Analysis is deleted');
    }
    const slow = createKeptnProvider(
      { provider: { type: 'keptn' }, credentials: {}, interval: WINDOW, kubeConfig: cluster.kubeConfig },
      { pollMs: 50, timeoutMs: 300 },
    );
    await assert.rejects(
      slow.runQuery('analysis/test/never'),
      /encountered timeout while waiting for Keptn Analysis test\/never to be finished/,
    );
    assert.deepEqual(await list(), [], 'deleted after a timeout too');
  });

  it('keptn: missing KeptnMetric fails the check, an unreachable apiserver is unavailability, isOnline sees the CRDs', async () => {
    const keptn = (kubeConfig = cluster.kubeConfig) =>
      createProvider({ provider: { type: 'keptn' }, credentials: {}, interval: WINDOW, kubeConfig });
    await assert.rejects(
      keptn().runQuery('keptnmetric/test/nope'),
      (e: Error) => e instanceof QueryError && /^could not retrieve KeptnMetric test\/nope: 404/.test(e.message),
    );
    await assert.rejects(keptn().runQuery('keptnmetric/test'), /unexpected query format/);
    await assert.rejects(keptn().runQuery('pod/test/x'), /unexpected resource kind/);
    assert.equal(await keptn().isOnline(), true);
    const closed = new k8s.KubeConfig();
    closed.loadFromOptions({
      clusters: [{ name: 'c', server: await closedAddress(), skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    await assert.rejects(keptn(closed).runQuery('keptnmetric/test/keptn-pass-errors'), ProviderUnavailableError);
    assert.throws(
      () => createProvider({ provider: { type: 'keptn' }, credentials: {}, interval: WINDOW }),
      /no KubeConfig provided/,
    );
    const ok = await metrics.checkMetricProviders({
      canary: { namespace: NAMESPACE, name: canaryName('keptn', 'pass') },
      metrics: [{ name: 'error-rate', templateRef: { name: 'keptn-error-rate' } }],
    });
    assert.deepEqual(ok, { available: true, message: PROVIDERS_AVAILABLE });
  });

  it('the init-time availability check probes each provider: available, or why not', async () => {
    for (const p of PROVIDERS) {
      if (p.type === 'keptn') continue; // no request of its own to count: see the Keptn tests
      const fake = fakes.get(p.type)!;
      // Not probes: token exchanges, and the aggregator's own discovery and OpenAPI calls to the External Metrics server.
      const background = (path: string) =>
        path === '/token' || path === EXTERNAL_DISCOVERY || path === '/apis' || path.startsWith('/openapi/');
      const probes = () => fake.seen.filter((s) => !background(s.url.pathname)).length;
      const before = probes();
      const ok = await metrics.checkMetricProviders({
        canary: { namespace: NAMESPACE, name: canaryName(p.type, 'pass') },
        metrics: [{ name: 'error-rate', interval: WINDOW, templateRef: { name: `${p.type}-error-rate` } }],
      });
      assert.deepEqual(ok, { available: true, message: PROVIDERS_AVAILABLE }, p.type);
      assert.equal(probes(), before + 1, `${p.type}: one probe request (besides a token exchange)`);
      const down = await metrics.checkMetricProviders({
        canary: { namespace: NAMESPACE, name: canaryName(p.type, 'down') },
        metrics: [{ name: 'error-rate', interval: WINDOW, templateRef: { name: `${p.type}-down` } }],
      });
      assert.equal(down.available, false);
      assert.match(
        down.message,
        new RegExp(
          `^${p.type} in metric template ${p.type}-down\\.test not avaiable: (external metrics service unavailable: )?request to http://127\\.0\\.0\\.1:\\d+ failed`,
        ),
      );
    }
  });

  // Last: it stops the aggregated server. The APIService stays registered, so the apiserver answers 503 itself.
  it('externalmetrics: when the aggregated server is gone the apiserver answers 503, which is unavailability', async () => {
    const provider = createProvider({
      provider: { type: 'externalmetrics' },
      credentials: {},
      interval: WINDOW,
      kubeConfig: cluster.kubeConfig,
    });
    assert.equal(await provider.runQuery('test/errors?labelSelector=app%3Dexternalmetrics-pass'), PASS_VALUE);
    await fakes.get('externalmetrics')!.close();
    fakes.delete('externalmetrics');
    await assert.rejects(provider.runQuery('test/errors?labelSelector=app%3Dexternalmetrics-pass'), (e: Error) => {
      assert.ok(e instanceof ProviderUnavailableError, String(e));
      assert.match(e.message, /^https:\/\/127\.0\.0\.1:\d+ answered 503: /);
      return true;
    });
    await assert.rejects(provider.isOnline(), /^Error: external metrics service unavailable: https:.* answered 503/);
  });
});
