// Metric analysis against a real Prometheus holding known series: builtin success rate and P99 computed by
// real PromQL, templated queries with variables, empty / NaN / matrix / several-series answers, auth with
// Prometheus's own --web.config.file (basic) and behind a bearer-checking proxy, and the infrastructure errors
// that must be retried instead of counted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { ApplicationFailure } from '@temporalio/common';
import { startPrometheus, type CounterSpec, type PrometheusServer } from '../../dev/prometheus.ts';
import { freePort } from '../../dev/proc.ts';
import {
  checkOrder,
  createProvider,
  evaluate,
  NoValuesError,
  ProviderUnavailableError,
  QueryError,
  type Metric,
} from '../../activities/metrics/index.ts';
import { createCheckReader, type CheckEnv } from '../../activities/metrics/checks.ts';
import { NotFoundError, type CanaryFacts, type KubeReader } from '../../activities/metrics/kube.ts';
import { observerFor } from '../../activities/metrics/observers/index.ts';
import type { MetricTemplateSpec } from '../../api/metric-template.ts';

const NS = 'test';
const POD = { kubernetes_namespace: NS, kubernetes_pod_name: 'podinfo-7b9d8c6f5d-x2x4z' };
// 55.06 % of requests succeed; latency buckets put the P99 halfway into (1 s, 2.5 s]: 1.75 s.
const COUNTERS: CounterSpec[] = [
  { name: 'http_request_duration_seconds_count', labels: { ...POD, status: '200' }, perSecond: 55.06 },
  { name: 'http_request_duration_seconds_count', labels: { ...POD, status: '500' }, perSecond: 44.94 },
  ...(
    [
      ['0.1', 50],
      ['0.25', 80],
      ['0.5', 90],
      ['1', 98],
      ['2.5', 100],
      ['+Inf', 100],
    ] as const
  ).map(([le, perSecond]) => ({ name: 'http_request_duration_seconds_bucket', labels: { ...POD, le }, perSecond })),
];

// bcrypt of "s3cret" (made once with: perl -e 'print crypt("s3cret", q{$2b$10$abcdefghijklmnopqrstuu})').
const BCRYPT_S3CRET = '$2b$10$abcdefghijklmnopqrstuu3KWNuWLhBnmgYfnzONPueahDuedC/lu';
const BASIC = `Basic ${Buffer.from('flagger:s3cret').toString('base64')}`;
const TOKEN = 'test-bearer-token';

let prom: PrometheusServer;
let authProm: PrometheusServer;
let proxy: { url: string; seen: IncomingHttpHeaders[]; server: Server };
let stub: { url: string; server: Server };

before(async () => {
  [prom, authProm] = await Promise.all([
    startPrometheus({ counters: COUNTERS }),
    startPrometheus({
      counters: COUNTERS.slice(0, 1),
      webConfig: `basic_auth_users:\n  flagger: ${BCRYPT_S3CRET}\n`,
      readyAuth: BASIC,
    }),
  ]);
  proxy = await bearerProxy(prom.url);
  stub = await answeringServer();
});

after(async () => {
  proxy?.server.close();
  stub?.server.close();
  await Promise.all([prom?.stop(), authProm?.stop()]);
});

const facts: CanaryFacts = {
  ref: { namespace: NS, name: 'podinfo' },
  target: 'podinfo',
  service: 'podinfo',
  ingress: 'podinfo',
  route: 'podinfo',
};

function kubeWith(templates: Record<string, MetricTemplateSpec>, secrets: Record<string, Record<string, string>> = {}) {
  const reader: KubeReader = {
    canary: async () => facts,
    template: async (_ns, name) => templates[name] ?? Promise.reject(new NotFoundError(`template ${name} not found`)),
    secretData: async (_ns, name) => secrets[name] ?? Promise.reject(new NotFoundError(`secret ${name} not found`)),
  };
  return reader;
}

function analyse(metrics: Metric[], env: Partial<CheckEnv> = {}) {
  const full: CheckEnv = {
    facts,
    observer: observerFor('kubernetes'),
    kube: kubeWith({}),
    metricsServer: prom.url,
    ...env,
  };
  return evaluate(
    { canary: facts.ref, target: 'podinfo', observer: full.observer.name },
    checkOrder(metrics),
    createCheckReader(full),
  );
}

const promQuery = (
  address: string,
  query: string,
  extra: Partial<MetricTemplateSpec['provider']> = {},
  credentials = {},
) =>
  createProvider({ provider: { type: 'prometheus', address, ...extra }, credentials, interval: '1m' }).runQuery(query);

describe('builtin metrics on real PromQL', () => {
  test('success rate and P99 duration equal the known series', async () => {
    const out = await analyse([
      { name: 'request-success-rate', interval: '1m', thresholdRange: { min: 50 } },
      { name: 'request-duration', interval: '1m', thresholdRange: { max: 2000 } },
    ]);
    assert.equal(out.ok, true);
    const [sr, dur] = out.results;
    assert.ok(Math.abs(sr!.value! - 55.06) < 1e-9, `success rate ${sr!.value}`);
    assert.equal(dur!.value, 1750);
  });

  test("out of range: Flagger's messages with the real values", async () => {
    const sr = await analyse([{ name: 'request-success-rate', thresholdRange: { min: 99 } }]);
    assert.equal(sr.results[0]!.message, 'Halt podinfo.test advancement success rate 55.06% < 99%');
    const dur = await analyse([{ name: 'request-duration', thresholdRange: { max: 500 } }]);
    assert.equal(dur.results[0]!.message, 'Halt podinfo.test advancement request duration 1.75s > 500ms');
  });

  test('a target without traffic has no values', async () => {
    const out = await analyse([{ name: 'request-success-rate', thresholdRange: { min: 99 } }], {
      facts: { ...facts, target: 'idle' },
    });
    assert.equal(out.results[0]!.verdict, 'no-data');
    assert.match(
      out.results[0]!.message!,
      /^Halt advancement no values found for kubernetes metric request-success-rate/,
    );
  });
});

describe('templates and inline queries', () => {
  const template: MetricTemplateSpec = {
    provider: { type: 'prometheus', address: '' },
    query: `sum(
      rate(
        http_request_duration_seconds_count{
          kubernetes_namespace="{{ namespace }}",
          status="{{ variables.status }}"
        }[{{ interval }}]
      )
    )`,
  };

  test('a templated query with variables renders and evaluates', async () => {
    const kube = kubeWith({ errors: { ...template, provider: { type: 'prometheus', address: prom.url } } });
    const out = await analyse(
      [
        {
          name: 'error-rps',
          templateRef: { name: 'errors' },
          templateVariables: { status: '500' },
          thresholdRange: { max: 10 },
          interval: '30s',
        },
      ],
      { kube },
    );
    assert.ok(Math.abs(out.results[0]!.value! - 44.94) < 1e-9);
    assert.equal(out.results[0]!.message, 'Halt podinfo.test advancement error-rps 44.94 > 10');
  });

  test('a missing template is a failed check with Flagger text', async () => {
    const out = await analyse([{ name: 'x', templateRef: { name: 'nope' }, thresholdRange: { max: 1 } }]);
    assert.equal(out.results[0]!.message, 'Metric template nope.test error: template nope not found');
  });

  test('an unsupported provider type is a failed check naming the supported ones', async () => {
    // Every type the CRD admits is implemented; a template written past the schema still gets a clear text.
    const type = 'opentsdb' as MetricTemplateSpec['provider']['type'];
    const kube = kubeWith({ tsdb: { provider: { type }, query: 'sum:requests' } });
    const out = await analyse([{ name: 'x', templateRef: { name: 'tsdb' } }], { kube });
    assert.match(
      out.results[0]!.message!,
      /Metric template tsdb\.test provider opentsdb error: .*supported: prometheus/,
    );
  });

  test('inline query: empty and NaN answers are no values', async () => {
    await assert.rejects(promQuery(prom.url, 'http_request_duration_seconds_count{status="404"}'), NoValuesError);
    await assert.rejects(promQuery(prom.url, 'vector(0) / 0'), NoValuesError);
    const out = await analyse([{ name: 'empty', query: 'absent_series_total', thresholdRange: { max: 1 } }]);
    assert.equal(out.results[0]!.message, 'Halt advancement no values found for metric: empty');
  });

  test('a matrix or several series is a clear "multiple values" error, counted as a failed check', async () => {
    await assert.rejects(
      promQuery(prom.url, 'http_request_duration_seconds_count[1m]'),
      (e: Error) => e instanceof QueryError && /multiple values: .*matrix/.test(e.message),
    );
    await assert.rejects(
      promQuery(prom.url, 'rate(http_request_duration_seconds_count[1m])'),
      (e: Error) => e instanceof QueryError && /multiple values: the query returned 2 series/.test(e.message),
    );
    const out = await analyse([
      { name: 'many', query: 'http_request_duration_seconds_count', thresholdRange: { max: 1 } },
    ]);
    assert.equal(out.results[0]!.verdict, 'fail');
    assert.match(out.results[0]!.message!, /^Prometheus query failed for many: multiple values/);
  });

  test('whitespace is collapsed and scalars are accepted', async () => {
    assert.equal(await promQuery(prom.url, '\n  scalar(\n\tvector(42)\n)  '), 42);
  });

  test('a bad query (400) is a failed check, not an infrastructure error', async () => {
    await assert.rejects(promQuery(prom.url, 'sum(('), QueryError);
  });
});

describe('authentication', () => {
  test("basic auth against Prometheus's --web.config.file, from the template's Secret", async () => {
    const spec = (secret: string): MetricTemplateSpec => ({
      provider: { type: 'prometheus', address: authProm.url, secretRef: { name: secret } },
      query: 'vector(7)',
    });
    const kube = kubeWith(
      { good: spec('good'), bad: spec('bad') },
      { good: { username: 'flagger', password: 's3cret' }, bad: { username: 'flagger', password: 'wrong' } },
    );
    const out = await analyse(
      [
        { name: 'ok', templateRef: { name: 'good' }, thresholdRange: { max: 10 } },
        { name: 'denied', templateRef: { name: 'bad' }, thresholdRange: { max: 10 } },
      ],
      { kube },
    );
    assert.equal(out.results[0]!.value, 7);
    assert.equal(out.results[1]!.verdict, 'fail');
    assert.match(out.results[1]!.message!, /^Metric query failed for denied: error response 401/);
    assert.ok(!JSON.stringify(out).includes('s3cret'), 'secrets never leave the activity');
    await assert.rejects(promQuery(authProm.url, 'vector(1)'), /error response 401/);
    assert.throws(
      () =>
        createProvider({
          provider: { type: 'prometheus', address: authProm.url, secretRef: { name: 's' } },
          credentials: { username: 'flagger' },
          interval: '1m',
        }),
      /prometheus credentials does not contain a password/,
    );
  });

  test('bearer token (Flagger key "token") and template headers reach the server', async () => {
    const provider = { secretRef: { name: 's' }, headers: { 'X-Scope-OrgID': ['tenant-1'] } };
    assert.equal(await promQuery(proxy.url, 'vector(3)', provider, { token: TOKEN, username: 'ignored' }), 3);
    const seen = proxy.seen.at(-1)!;
    assert.equal(seen.authorization, `Bearer ${TOKEN}`);
    assert.equal(seen['x-scope-orgid'], 'tenant-1');
    await assert.rejects(promQuery(proxy.url, 'vector(3)', provider, { token: 'wrong' }), /error response 401/);
  });
});

describe('infrastructure errors are retried, not counted', () => {
  test('unreachable backend: retryable ApplicationFailure out of the check', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(promQuery(closed, 'vector(1)'), ProviderUnavailableError);
    await assert.rejects(
      analyse([{ name: 'request-success-rate', thresholdRange: { min: 99 } }], { metricsServer: closed }),
      (e: Error) => e instanceof ApplicationFailure && e.type === 'MetricProviderUnavailable' && !e.nonRetryable,
    );
  });

  test('5xx and timeouts are unavailability', async () => {
    await assert.rejects(promQuery(`${stub.url}/status/503`, 'vector(1)'), ProviderUnavailableError);
    const slow = createProvider({
      provider: { type: 'prometheus', address: `${stub.url}/hang` },
      credentials: {},
      interval: '1m',
      timeoutMs: 300,
    });
    const t0 = Date.now();
    await assert.rejects(slow.runQuery('vector(1)'), ProviderUnavailableError);
    assert.ok(Date.now() - t0 < 3000, 'the timeout applies');
  });

  test('isOnline probes vector(1)', async () => {
    const p = createProvider({ provider: { type: 'prometheus', address: prom.url }, credentials: {}, interval: '1m' });
    assert.equal(await p.isOnline(), true);
  });
});

/** A loopback gateway that wants a bearer token (like kube-rbac-proxy) in front of an open Prometheus. */
async function bearerProxy(target: string) {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer(async (req, res) => {
    seen.push(req.headers);
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401).end('Unauthorized');
      return;
    }
    const upstream = await fetch(`${target}${req.url}`);
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
  });
  return { url: await listen(server), seen, server };
}

/** Answers /status/<code>/… with that code and never answers /hang/…. */
async function answeringServer() {
  const server = createServer((req, res) => {
    const m = /^\/status\/(\d+)/.exec(req.url ?? '');
    if (m) res.writeHead(Number(m[1])).end('backend says no');
  });
  return { url: await listen(server), server };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}
