// New Relic, Dynatrace, Graphite, InfluxDB, Cloud Monitoring, External Metrics and Splunk (SignalFlow) providers
// against their wire-format servers (metrics-fakes.ts, signalflow-fake.ts): configuration errors with Flagger's texts, the error triage (4xx a failed check, 5xx unavailability, no data
// `noDataPolicy`), and answer shapes the rollout test does not reach.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createProvider,
  NoValuesError,
  ProviderConfigError,
  ProviderUnavailableError,
  QueryError,
} from '../../activities/metrics/index.ts';
import { dynatraceResolution } from '../../activities/metrics/dynatrace.ts';
import { renderUrl, startedBy } from '../../activities/metrics/graphite.ts';
import { GRAPHITE_STEP_SECONDS, startGraphite } from '../../dev/graphite.ts';
import { firstValue } from '../../activities/metrics/influxdb.ts';
import type { MetricTemplateProvider } from '../../api/metric-template.ts';
import {
  closedAddress,
  dynatraceFake,
  externalMetricsFake,
  graphiteFake,
  influxdbFake,
  newRelicFake,
  stackdriverFake,
  type Answer,
  type Fake,
} from './metrics-fakes.ts';
import { generateKeyPairSync } from 'node:crypto';
import { queryUrl } from '../../activities/metrics/stackdriver.ts';
import { parseExternalMetricQuery, parseQuantity } from '../../activities/metrics/externalmetrics.ts';
import { splunkEndpoints } from '../../activities/metrics/splunk.ts';
import { signalFlowFake, type SignalFlowAnswer } from './signalflow-fake.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** `value=<n>`, `nodata`, `status=<code>` in the query pick the answer. */
function answer(query: string): Answer {
  const status = /status=(\d+)/.exec(query);
  if (status) return { status: Number(status[1]) };
  const value = /value=([\d.]+)/.exec(query);
  return value ? { value: Number(value[1]) } : { noData: true };
}

const make = (provider: MetricTemplateProvider, credentials: Record<string, string>, interval = '1m') =>
  createProvider({ provider, credentials, interval });

const fakes: Fake[] = [];
after(() => Promise.all(fakes.map((f) => f.close())));
async function started(f: Promise<Fake>): Promise<Fake> {
  fakes.push(await f);
  return fakes.at(-1)!;
}

describe('newrelic', () => {
  let nr: Fake;
  const creds = { newrelic_account_id: '42', newrelic_query_key: 'key' };
  before(async () => (nr = await started(newRelicFake('42', 'key', answer))));
  const p = (c: Record<string, string> = creds) =>
    make({ type: 'newrelic', address: nr.url, secretRef: { name: 'nr' } }, c, '2m');

  test('the query gets SINCE <interval s> seconds ago; the single result is the value', async () => {
    assert.equal(await p().runQuery("SELECT value=0.25 FROM Metric WHERE app = 'x'"), 0.25);
    assert.equal(
      nr.seen.at(-1)!.url.searchParams.get('nrql'),
      "SELECT value=0.25 FROM Metric WHERE app = 'x' SINCE 120 seconds ago",
    );
  });

  test('null result is no values; 401 and 400 fail the check; 5xx is unavailability', async () => {
    await assert.rejects(
      p().runQuery('SELECT nodata'),
      (e: Error) => e instanceof NoValuesError && /invalid response/.test(e.message),
    );
    await assert.rejects(p({ ...creds, newrelic_query_key: 'bad' }).runQuery('SELECT value=1'), QueryError);
    await assert.rejects(p().runQuery('SELECT status=400'), QueryError);
    await assert.rejects(p().runQuery('SELECT status=503'), ProviderUnavailableError);
  });

  test("missing keys are configuration errors; the default address is New Relic's Insights API", () => {
    assert.throws(() => p({ newrelic_query_key: 'k' }), /does not contain the key 'newrelic_account_id'/);
    assert.throws(() => p({ newrelic_account_id: '1' }), /does not contain the key 'newrelic_query_key'/);
    assert.equal(make({ type: 'newrelic' }, creds).type, 'newrelic');
  });

  test('isOnline runs SELECT * FROM Metric', async () => {
    assert.equal(await p().isOnline(), true);
    assert.equal(nr.seen.at(-1)!.url.searchParams.get('nrql'), 'SELECT * FROM Metric SINCE 120 seconds ago');
    await assert.rejects(p({ ...creds, newrelic_query_key: 'bad' }).isOnline(), QueryError);
  });
});

describe('dynatrace', () => {
  let dt: Fake;
  before(async () => (dt = await started(dynatraceFake('tok', answer))));
  const p = (c: Record<string, string> = { dynatrace_token: 'tok' }) =>
    make({ type: 'dynatrace', address: dt.url, secretRef: { name: 'dt' } }, c);

  test('buckets of the interval: the newest complete one is judged, not the filling one (Flagger: Inf)', async () => {
    assert.equal(await p().runQuery('value=3'), 3, 'not 3000 (filling), not 1.5 (older)');
    const req = dt.seen.at(-1)!;
    assert.equal(req.url.searchParams.get('resolution'), '1m');
    assert.equal(Number(req.url.searchParams.get('to')) - Number(req.url.searchParams.get('from')), 600_000);
    assert.equal(dynatraceResolution(30_000), '1m');
    assert.equal(dynatraceResolution(300_000), '5m');
    assert.equal(dynatraceResolution(90_000), '2m');
  });

  test('no series is no values; 400 fails; 401 fails; 5xx is unavailability', async () => {
    await assert.rejects(p().runQuery('nodata'), NoValuesError);
    await assert.rejects(p().runQuery('status=400'), QueryError);
    await assert.rejects(p({ dynatrace_token: 'x' }).runQuery('value=1'), QueryError);
    await assert.rejects(p().runQuery('status=502'), ProviderUnavailableError);
  });

  test('address and token are required; isOnline lists one metric', async () => {
    assert.throws(() => make({ type: 'dynatrace' }, { dynatrace_token: 't' }), /dynatrace endpoint is not set/);
    assert.throws(() => p({}), /does not contain dynatrace_token/);
    assert.equal(await p().isOnline(), true);
    assert.equal(dt.seen.at(-1)!.url.pathname, '/api/v2/metrics');
    assert.equal(dt.seen.at(-1)!.url.searchParams.get('pageSize'), '1');
  });
});

describe('graphite', () => {
  let gr: Fake;
  before(async () => (gr = await started(graphiteFake(undefined, answer))));
  const p = (address = gr.url) => make({ type: 'graphite', address }, {});

  test('the newest complete bucket of the last target is judged, not the filling one', async () => {
    assert.equal(await p().runQuery('target=value=4&from=-5min'), 4, 'not 4000 (filling), not 2 (older)');
    assert.equal(gr.seen.at(-1)!.headers.authorization, undefined, 'no secretRef: no auth');
  });

  // Real graphite-web (Debian's package) reading whisper files: 10 s buckets, the one holding "now" still filling.
  test('real Graphite: the newest complete bucket is judged, not the filling one nor the padding after it', async () => {
    const graphite = await startGraphite();
    try {
      const real = make({ type: 'graphite', address: graphite.url }, {});
      const step = GRAPHITE_STEP_SECONDS;
      const bucket = () => Math.floor(Date.now() / 1000 / step) * step;
      for (let attempt = 0; ; attempt++) {
        const b = bucket();
        await graphite.write('stats.test.podinfo.errors', [
          [b - 2 * step, 0.25],
          [b - step, 0.5],
          [b, 500],
        ]);
        const summarized = await real.runQuery("target=summarize(stats.test.podinfo.errors, '10s', 'sum')&from=-1min");
        const plain = await real.runQuery('target=stats.test.podinfo.errors&from=-1min');
        if (bucket() !== b && attempt < 3) continue; // a boundary passed: b is no longer the filling bucket
        assert.deepEqual([summarized, plain], [0.5, 0.5]);
        break;
      }
      await assert.rejects(real.runQuery('target=stats.test.absent&from=-1min'), NoValuesError);
      assert.equal(await real.isOnline(), true);
    } finally {
      await graphite.stop();
    }
  });

  test('buckets that start after the query are padding (pure)', () => {
    const points = [0, 10_000, 20_000].map((timestamp) => ({ timestamp, value: 1 }));
    assert.deepEqual(startedBy(points, 15_000), points.slice(0, 2));
    assert.deepEqual(startedBy(points, 20_000), points);
  });

  test('render URL: base path kept, whitespace collapsed, format=json added', () => {
    const url = renderUrl(new URL('http://graphite:8080/proxy/'), 'target=a.b\n   &from=-5min');
    assert.equal(url.pathname, '/proxy/render');
    assert.deepEqual(
      [...url.searchParams],
      [
        ['target', 'a.b '],
        ['from', '-5min'],
        ['format', 'json'],
      ],
    );
  });

  test('no series is no values; 5xx is unavailability; isOnline accepts an empty answer', async () => {
    await assert.rejects(p().runQuery('target=nodata'), NoValuesError);
    await assert.rejects(p().runQuery('target=status=500'), ProviderUnavailableError);
    assert.equal(await p().isOnline(), true);
    assert.equal(gr.seen.at(-1)!.url.searchParams.get('target'), 'test');
  });

  test('with a secretRef, username and password are required', () => {
    const withSecret = (c: Record<string, string>) =>
      make({ type: 'graphite', address: gr.url, secretRef: { name: 'g' } }, c);
    assert.throws(() => withSecret({ password: 'p' }), /graphite credentials does not contain a username/);
    assert.throws(() => withSecret({ username: 'u' }), /graphite credentials does not contain a password/);
    assert.throws(() => make({ type: 'graphite' }, {}), ProviderConfigError);
  });
});

describe('influxdb', () => {
  let ix: Fake;
  before(async () => (ix = await started(influxdbFake('org', 'tok', answer))));
  const p = (c: Record<string, string> = { token: 'tok', org: 'org' }) =>
    make({ type: 'influxdb', address: ix.url, secretRef: { name: 'i' } }, c);

  test('first _value; empty answer is no values; Flux compile error fails; 5xx is unavailability', async () => {
    assert.equal(await p().runQuery('from(bucket:"b") |> range(start:-1m) // value=7.5'), 7.5);
    await assert.rejects(
      p().runQuery('nodata'),
      (e: Error) => e instanceof NoValuesError && /empty result/.test(e.message),
    );
    await assert.rejects(p().runQuery('status=400'), QueryError);
    await assert.rejects(p({ token: 'x', org: 'org' }).runQuery('value=1'), QueryError);
    await assert.rejects(p().runQuery('status=503'), ProviderUnavailableError);
  });

  test('annotated CSV: quoted fields, defaults, long values, error tables, non-numeric values', () => {
    const table = (types: string, value: string) =>
      `#datatype,string,long,${types},string\n#group,false,false,false,true\n#default,_result,,,\n` +
      `,result,table,_value,tag\n,,0,${value},"a,""b"""\n`;
    assert.equal(firstValue(table('long', '12')), 12);
    assert.equal(firstValue(table('double', '+Inf')), Infinity);
    assert.throws(() => firstValue(table('double', '')), NoValuesError);
    assert.throws(() => firstValue(table('double', 'NaN')), NoValuesError);
    assert.throws(() => firstValue(table('string', 'x')), QueryError);
    assert.throws(
      () => firstValue('#datatype,string,string\n#group,true,true\n#default,,\n,error,reference\n,"boom, here",897\n'),
      /query error: boom, here/,
    );
  });

  test('token and org are required with a secretRef; without one no Authorization header', async () => {
    assert.throws(() => p({ org: 'o' }), /does not contain an authentication token/);
    assert.throws(() => p({ token: 't' }), /does not contain an organisation/);
    const anon = make({ type: 'influxdb', address: ix.url }, {});
    await assert.rejects(anon.isOnline(), QueryError, 'the fake requires a token: 401');
    assert.equal(ix.seen.at(-1)!.headers.authorization, undefined);
    assert.equal(ix.seen.at(-1)!.url.searchParams.get('org'), '');
    assert.equal(await p().isOnline(), true);
    assert.equal(JSON.parse(ix.seen.at(-1)!.body).query, 'from(bucket: "default") |> range(start: -2h)');
  });
});

describe('stackdriver', () => {
  let gc: Fake;
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const other = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  before(async () => (gc = await started(stackdriverFake('proj-1', keys.publicKey, answer))));
  const saKey = (privateKey = keys.privateKey) =>
    JSON.stringify({
      type: 'service_account',
      private_key: privateKey,
      client_email: 'f@p.iam',
      token_uri: `${gc.url}/token`,
    });
  const p = (c: Record<string, string> = { project: 'proj-1', serviceAccountKey: saKey() }) =>
    make({ type: 'stackdriver', address: gc.url, secretRef: { name: 'gcp' } }, c);

  test('the key is exchanged for a token (signed JWT), MQL posted; the newest complete point is judged', async () => {
    assert.equal(await p().runQuery('fetch x | value=0.75'), 0.75, 'not 750 (the filling pointData[0], Flagger)');
    const [tokenReq, queryReq] = gc.seen.slice(-2);
    assert.equal(tokenReq!.url.pathname, '/token');
    const claims = JSON.parse(
      Buffer.from(new URLSearchParams(tokenReq!.body).get('assertion')!.split('.')[1]!, 'base64url').toString(),
    ) as Record<string, unknown>;
    assert.equal(claims.iss, 'f@p.iam');
    assert.equal(claims.scope, 'https://www.googleapis.com/auth/monitoring.read');
    assert.equal(queryReq!.url.pathname, '/v3/projects/proj-1/timeSeries:query');
    assert.deepEqual(JSON.parse(queryReq!.body), { query: 'fetch x | value=0.75' });
    assert.equal(
      queryUrl('https://monitoring.googleapis.com', 'p').href,
      'https://monitoring.googleapis.com/v3/projects/p/timeSeries:query',
    );
  });

  test('no time series is no values; a 4xx fails; a 5xx is unavailability; a key the token URI rejects fails', async () => {
    await assert.rejects(p().runQuery('fetch nodata'), NoValuesError);
    await assert.rejects(p().runQuery('status=400'), QueryError);
    await assert.rejects(p().runQuery('status=503'), ProviderUnavailableError);
    await assert.rejects(
      p({ project: 'proj-1', serviceAccountKey: saKey(other.privateKey) }).runQuery('value=1'),
      QueryError,
    );
  });

  test('isOnline: INVALID_ARGUMENT to the empty query means available; project and key shape required', async () => {
    assert.equal(await p().isOnline(), true);
    assert.deepEqual(JSON.parse(gc.seen.at(-1)!.body), { query: '' });
    await assert.rejects(p({ project: 'nope', serviceAccountKey: saKey() }).isOnline(), /404/);
    assert.throws(() => p({ serviceAccountKey: saKey() }), /stackdriver credentials does not contain a project id/);
    assert.throws(() => p({ project: 'x', serviceAccountKey: '{}' }), /client_email, private_key and token_uri/);
  });
});

describe('externalmetrics', () => {
  let em: Fake;
  before(async () => (em = await started(externalMetricsFake('tok', answer))));
  const p = (c: Record<string, string> = { token: 'tok' }) =>
    make({ type: 'externalmetrics', address: em.url, secretRef: { name: 'em' } }, c);

  test('<ns>/<metric>?labelSelector= is listed; the first item quantity is the value', async () => {
    assert.equal(await p().runQuery('apps/requests?labelSelector=value%3D1.25,app%3Dx'), 1.25);
    const req = em.seen.at(-1)!;
    assert.equal(req.url.pathname, '/apis/external.metrics.k8s.io/v1beta1/namespaces/apps/requests');
    assert.equal(req.url.searchParams.get('labelSelector'), 'value=1.25,app=x');
    assert.equal(await p().runQuery('requests?labelSelector=value%3D3'), 3);
    assert.equal(em.seen.at(-1)!.url.pathname, '/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests');
  });

  test('empty list is no values; 401 fails; 5xx is unavailability; malformed queries fail', async () => {
    await assert.rejects(p().runQuery('apps/nodata'), /no external metrics found: no values found/);
    await assert.rejects(p({ token: 'bad' }).runQuery('apps/value=1'), QueryError);
    await assert.rejects(p().runQuery('apps/m?labelSelector=status%3D503'), ProviderUnavailableError);
    await assert.rejects(p().runQuery('a/b/c'), /error parsing metric query: malformed query string, too many slashes/);
    await assert.rejects(p().runQuery('apps/'), /metric name cannot be empty/);
  });

  test('query and quantity parsing (pure)', () => {
    assert.deepEqual(parseExternalMetricQuery('/m'), { namespace: 'default', metric: 'm', labelSelector: undefined });
    assert.deepEqual(parseExternalMetricQuery('ns/m?labelSelector=a%3Db'), {
      namespace: 'ns',
      metric: 'm',
      labelSelector: 'a=b',
    });
    assert.equal(parseQuantity('1500m'), 1.5);
    assert.equal(parseQuantity('2k'), 2000);
    assert.equal(parseQuantity('1Ki'), 1024);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity('-0.5'), -0.5);
    assert.throws(() => parseQuantity('1.5x'), QueryError);
  });

  test('isOnline lists kube-system/dummy-metric; without address nor apiserver it is a configuration error', async () => {
    assert.equal(await p().isOnline(), true);
    assert.equal(
      em.seen.at(-1)!.url.pathname,
      '/apis/external.metrics.k8s.io/v1beta1/namespaces/kube-system/dummy-metric',
    );
    await assert.rejects(p({ token: 'bad' }).isOnline(), /external metrics service unavailable: error response 401/);
    assert.throws(() => make({ type: 'externalmetrics' }, {}), /rest config is nil/);
  });
});

describe('splunk', () => {
  let sf: Fake;
  /** `value=<n>`, `nodata`, `status=<code>` as above; `series=a|b,c` several series (`_` a bucket without value). */
  const sfAnswer = (program: string): SignalFlowAnswer => {
    const series = /series=([\d.|,_]+)/.exec(program);
    if (!series) return answer(program);
    return { series: series[1]!.split(',').map((s) => s.split('|').map((v) => (v === '_' ? null : Number(v)))) };
  };
  before(async () => (sf = await started(signalFlowFake('sf-token', sfAnswer))));
  const p = (c: Record<string, string> = { sf_token_key: 'sf-token' }, timeoutMs?: number) =>
    createProvider({
      provider: { type: 'splunk', address: sf.url, secretRef: { name: 'sf' } },
      credentials: c,
      interval: '1m',
      ...(timeoutMs !== undefined && { timeoutMs }),
    });
  const sent = () => sf.seen.filter((s) => s.method === 'WS').map((s) => JSON.parse(s.body) as Record<string, unknown>);

  test('authenticate, execute over 10 × interval; the newest complete bucket is judged, not the filling one', async () => {
    const before = sent().length;
    const program = "data('errors', filter=filter('value', 'value=0.25')).sum().publish()";
    const t0 = Date.now();
    assert.equal(await p().runQuery(program), 0.25);
    const [auth, exec] = sent().slice(before) as [Record<string, unknown>, Record<string, number | string | boolean>];
    assert.deepEqual(auth, { type: 'authenticate', token: 'sf-token' });
    const { start, stop, ...rest } = exec;
    assert.deepEqual(rest, {
      type: 'execute',
      program,
      channel: 'ch-1',
      resolution: 0,
      maxDelay: 0,
      immediate: true,
      timezone: '',
    });
    assert.equal(Number(stop) - Number(start), 600_000, '10 × 1m in ms');
    assert.ok(Number(stop) >= t0 && Number(stop) <= Date.now());
    const connect = sf.seen.findLast((s) => s.method === 'GET' && s.url.pathname === '/v2/signalflow/connect');
    assert.ok(connect, 'the WebSocket connected at /v2/signalflow/connect');
    // Integer values come as longs; a gap before the filling bucket moves the judgement one bucket back.
    assert.equal(await p().runQuery('series=1|7|2|_|900'), 2);
  });

  test('no time series is no values; several fail; bad program and token fail the check; 5xx is unavailability', async () => {
    await assert.rejects(
      p().runQuery('nodata'),
      (e: Error) => e instanceof NoValuesError && e.message === 'invalid response: no values found',
    );
    await assert.rejects(
      p().runQuery('series=1|2|3,4|5|6'),
      (e: Error) => e instanceof QueryError && e.message === 'invalid response: query returned multiple values',
    );
    await assert.rejects(p().runQuery('series=5'), NoValuesError, 'one bucket: the filling one');
    await assert.rejects(
      p().runQuery('status=400'),
      (e: Error) => e instanceof QueryError && e.message === 'error executing query: 400: program failed: 400',
    );
    await assert.rejects(p().runQuery('status=503'), ProviderUnavailableError);
    await assert.rejects(
      p({ sf_token_key: 'bad' }).runQuery('value=1'),
      (e: Error) =>
        e instanceof QueryError && /^SignalFlow authentication failed: 401: Invalid auth token$/.test(e.message),
    );
  });

  test('an unreachable or silent backend is unavailability', async () => {
    const down = createProvider({
      provider: { type: 'splunk', address: await closedAddress() },
      credentials: { sf_token_key: 't' },
      interval: '1m',
    });
    await assert.rejects(down.runQuery('value=1'), (e: Error) => {
      assert.ok(e instanceof ProviderUnavailableError, String(e));
      assert.match(e.message, /^SignalFlow connection to ws:\/\/127\.0\.0\.1:\d+\/v2\/signalflow\/connect failed/);
      return true;
    });
    const silent = createServer(() => {}); // accepts the upgrade request, never answers it
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const slow = createProvider({
      provider: { type: 'splunk', address: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` },
      credentials: { sf_token_key: 't' },
      interval: '1m',
      timeoutMs: 300,
    });
    await assert.rejects(slow.runQuery('value=1'), /did not finish in 300 ms/);
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  });

  test('address and sf_token_key are required; isOnline GETs /v2/metric?limit=1 with X-SF-Token', async () => {
    assert.throws(
      () => make({ type: 'splunk' }, { sf_token_key: 't' }),
      /^ProviderConfigError: splunk endpoint is not set$/,
    );
    assert.throws(
      () => make({ type: 'splunk', address: sf.url }, {}),
      /splunk credentials does not contain sf_token_key/,
    );
    assert.throws(() => make({ type: 'splunk', address: sf.url }, { sf_token_key: 't' }, 'soon'), ProviderConfigError);
    assert.equal(await p().isOnline(), true);
    const req = sf.seen.at(-1)!;
    assert.equal(`${req.url.pathname}${req.url.search}`, '/v2/metric?limit=1');
    assert.equal(req.headers['x-sf-token'], 'sf-token');
    await assert.rejects(p({ sf_token_key: 'bad' }).isOnline(), /error response 401/);
  });

  test('endpoints as Flagger derives them from either form of address (pure)', () => {
    const e = (a: string) => Object.values(splunkEndpoints(a)).map(String);
    assert.deepEqual(e('https://api.us1.signalfx.com'), [
      'wss://stream.us1.signalfx.com/v2/signalflow/connect',
      'https://api.us1.signalfx.com/v2/metric?limit=1',
    ]);
    assert.deepEqual(e('wss://stream.eu0.signalfx.com/'), [
      'wss://stream.eu0.signalfx.com/v2/signalflow/connect',
      'https://api.eu0.signalfx.com/v2/metric?limit=1',
    ]);
    assert.deepEqual(e('http://127.0.0.1:8080/proxy'), [
      'ws://127.0.0.1:8080/proxy/v2/signalflow/connect',
      'http://127.0.0.1:8080/proxy/v2/metric?limit=1',
    ]);
  });
});
