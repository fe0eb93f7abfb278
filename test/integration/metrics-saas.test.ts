// Datadog and CloudWatch against local servers that speak their wire formats: the request shape, headers and
// auth are asserted on the server side; CloudWatch goes through the real AWS SDK v3 (AWS JSON 1.0, SigV4).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  checkOrder,
  createProvider,
  evaluate,
  NoCompletePointError,
  NoValuesError,
  ProviderConfigError,
  ProviderUnavailableError,
  QueryError,
} from '../../activities/metrics/index.ts';
import { createCheckReader } from '../../activities/metrics/checks.ts';
import { NotFoundError, type CanaryFacts } from '../../activities/metrics/kube.ts';
import { observerFor } from '../../activities/metrics/observers/index.ts';
import type { MetricTemplateSpec } from '../../api/metric-template.ts';

interface Seen {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (req: Seen, res: ServerResponse) => void;

async function wireServer(handler: Handler): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: new URL(req.url ?? '/', 'http://x'), headers: req.headers, body };
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, seen, server };
}

const FACTS: CanaryFacts = {
  ref: { namespace: 'test', name: 'podinfo' },
  target: 'podinfo',
  service: 'podinfo',
  ingress: 'podinfo',
  route: 'podinfo',
};

/** The real check reader (template → provider → query) over one MetricTemplate and its Secrets. */
function templateReader(spec: MetricTemplateSpec, secrets: Record<string, Record<string, string>>) {
  return createCheckReader({
    facts: FACTS,
    observer: observerFor('kubernetes'),
    kube: {
      canary: async () => FACTS,
      template: async () => spec,
      secretData: async (_ns, name) => secrets[name] ?? Promise.reject(new NotFoundError(name)),
    },
  });
}

const json = (res: ServerResponse, status: number, body: unknown, type = 'application/json') =>
  res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));

describe('datadog', () => {
  let dd: Awaited<ReturnType<typeof wireServer>>;
  const keys = { datadog_api_key: 'api-123', datadog_application_key: 'app-456' };

  before(async () => {
    dd = await wireServer((req, res) => {
      if (req.headers['dd-api-key'] !== 'api-123' || req.headers['dd-application-key'] !== 'app-456') {
        return json(res, 403, { errors: ['Forbidden'] });
      }
      if (req.url.pathname === '/api/v1/validate') return json(res, 200, { valid: true });
      const q = req.url.searchParams.get('query') ?? '';
      if (q.includes('broken')) return json(res, 500, { errors: ['internal'] });
      if (q.includes('empty')) return json(res, 200, { status: 'ok', series: [] });
      // Issue 18's reply, byte for byte: the last bucket (42) is still filling.
      if (q.includes('filling')) {
        return res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"series":[{"pointlist":[[1,0.5],[2,42]]}]}');
      }
      const pointlists: Record<string, unknown> = {
        'null-newest': [
          [1, 2],
          [2, null],
        ],
        'only-gaps': [
          [1, null],
          [2, null],
          [3, 7],
        ],
        single: [[1, 5]],
        malformed: [[1, 'x']],
      };
      const special = Object.keys(pointlists).find((k) => q.endsWith(k));
      if (special) return json(res, 200, { status: 'ok', series: [{ pointlist: pointlists[special] }] });
      json(res, 200, {
        status: 'ok',
        query: q,
        series: [
          {
            metric: 'istio.mesh.request.count',
            interval: 60,
            pointlist: [
              [1_700_000_000_000, 1.5],
              [1_700_000_060_000, 2.5],
              [1_700_000_120_000, 99],
            ],
          },
        ],
      });
    });
  });
  after(() => dd?.server.close());

  const provider = (credentials: Record<string, string> = keys, interval = '1m') =>
    createProvider({
      provider: { type: 'datadog', address: dd.url, secretRef: { name: 'datadog' } },
      credentials,
      interval,
    });

  test('GET /api/v1/query with keys, 10 × interval window, newest complete point of the first series', async () => {
    const before = Math.floor(Date.now() / 1000);
    const value = await provider(keys, '2m').runQuery(
      'sum:istio.mesh.request.count{destination_workload:podinfo}.as_count()',
    );
    assert.equal(value, 2.5, 'not the filling bucket (99), not the oldest point (1.5, Flagger)');
    const req = dd.seen.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.url.pathname, '/api/v1/query');
    assert.equal(
      req.url.searchParams.get('query'),
      'sum:istio.mesh.request.count{destination_workload:podinfo}.as_count()',
    );
    const from = Number(req.url.searchParams.get('from'));
    const to = Number(req.url.searchParams.get('to'));
    assert.equal(to - from, 1200, '10 × 2m');
    assert.ok(to >= before && to <= before + 5);
  });

  test('a null filling bucket is skipped like any filling bucket: the complete point before it is judged', async () => {
    assert.equal(await provider().runQuery('null-newest'), 2);
  });

  test('no series, one point, or only gaps before the filling bucket are no values; a malformed point fails', async () => {
    await assert.rejects(provider().runQuery('empty'), NoValuesError);
    await assert.rejects(
      provider().runQuery('single'),
      (e: Error) => e instanceof NoCompletePointError && /newest bucket .* is still filling/.test(e.message),
    );
    await assert.rejects(
      provider().runQuery('only-gaps'),
      (e: Error) => e instanceof NoCompletePointError && /the 2 older points are gaps/.test(e.message),
    );
    await assert.rejects(provider().runQuery('malformed'), QueryError);
  });

  test('403 is a failed check; 5xx is unavailability', async () => {
    await assert.rejects(provider({ ...keys, datadog_api_key: 'wrong' }).runQuery('x'), QueryError);
    await assert.rejects(provider().runQuery('broken'), ProviderUnavailableError);
  });

  test('issue 18: a Datadog template judges the complete bucket (0.5 ≤ 1 passes), not the filling one (42)', async () => {
    const spec: MetricTemplateSpec = {
      provider: { type: 'datadog', address: dd.url, secretRef: { name: 'datadog' } },
      query: 'avg:latency{service:{{ target }}} filling',
    };
    const out = await evaluate(
      { canary: FACTS.ref, target: 'podinfo', observer: 'kubernetes' },
      checkOrder([{ name: 'latency', templateRef: { name: 'dd-latency' }, thresholdRange: { max: 1 } }]),
      templateReader(spec, { datadog: keys }),
    );
    assert.deepEqual(out.results, [{ name: 'latency', range: { max: 1 }, value: 0.5, verdict: 'pass' }]);
    assert.equal(out.ok, true);
    assert.equal(dd.seen.at(-1)!.url.searchParams.get('query'), 'avg:latency{service:podinfo} filling');
  });

  test('isOnline calls /api/v1/validate; missing keys are a configuration error', async () => {
    assert.equal(await provider().isOnline(), true);
    assert.equal(dd.seen.at(-1)!.url.pathname, '/api/v1/validate');
    assert.throws(() => provider({ datadog_api_key: 'x' }), ProviderConfigError);
  });
});

describe('cloudwatch', () => {
  let cw: Awaited<ReturnType<typeof wireServer>>;
  const creds = { aws_access_key_id: 'AKIDFLEDGETEST', aws_secret_access_key: 'secret-key' };
  const AMZ_JSON = 'application/x-amz-json-1.0';

  before(async () => {
    cw = await wireServer((req, res) => {
      const body = JSON.parse(req.body || '{}') as { MetricDataQueries?: { Id: string }[] };
      const ids = (body.MetricDataQueries ?? []).map((q) => q.Id);
      if (ids.length === 0) {
        return json(
          res,
          400,
          { __type: 'com.amazonaws.cloudwatch#InvalidParameterValueException', message: 'empty' },
          AMZ_JSON,
        );
      }
      if (ids.includes('boom')) return json(res, 500, { __type: 'InternalServiceError', message: 'down' }, AMZ_JSON);
      if (ids.includes('none'))
        return json(res, 200, { MetricDataResults: [{ Id: 'none', Values: [], Timestamps: [] }] }, AMZ_JSON);
      // Timestamps in epoch seconds (AWS JSON 1.0); newest first unless the Id says otherwise.
      const results: Record<string, { Timestamps: number[]; Values: number[] }> = {
        filling: { Timestamps: [2, 1], Values: [42, 0.5] },
        ascending: { Timestamps: [1_700_000_000, 1_700_000_060, 1_700_000_120], Values: [0.5, 0.25, 9] },
        single: { Timestamps: [1_700_000_120], Values: [9] },
        mismatch: { Timestamps: [1_700_000_120], Values: [9, 0.25] },
      };
      const special = ids.find((id) => id in results);
      if (special) {
        const r = { Id: special, StatusCode: 'Complete', ...results[special] };
        return json(res, 200, { MetricDataResults: [r], Messages: [] }, AMZ_JSON);
      }
      json(
        res,
        200,
        {
          MetricDataResults: [
            {
              Id: 'e1',
              Label: 'ErrorRate',
              StatusCode: 'Complete',
              Timestamps: [1_700_000_120, 1_700_000_060, 1_700_000_000],
              Values: [9, 0.25, 0.5],
            },
          ],
          Messages: [],
        },
        AMZ_JSON,
      );
    });
  });
  after(() => cw?.server.close());

  const provider = (credentials: Record<string, string> = creds) =>
    createProvider({
      provider: { type: 'cloudwatch', region: 'ap-northeast-1', address: cw.url },
      credentials,
      interval: '1m',
    });

  const QUERY = JSON.stringify([
    { Id: 'e1', Expression: 'm1 / m2', Label: 'ErrorRate' },
    {
      Id: 'm1',
      MetricStat: {
        Metric: {
          Namespace: 'MyKubernetesCluster',
          MetricName: 'ErrorCount',
          Dimensions: [{ Name: 'appName', Value: 'podinfo.test' }],
        },
        Period: 60,
        Stat: 'Sum',
        Unit: 'Count',
      },
      ReturnData: false,
    },
  ]);

  test('GetMetricData through the real SDK: signed request, window 10 × interval, newest complete period', async () => {
    assert.equal(await provider().runQuery(QUERY), 0.25, 'not the partial newest period (9, Flagger: Values[0])');
    const req = cw.seen.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['x-amz-target'], 'GraniteServiceVersion20100801.GetMetricData');
    assert.equal(req.headers['content-type'], AMZ_JSON);
    assert.match(
      String(req.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIDFLEDGETEST\/\d{8}\/ap-northeast-1\/monitoring\/aws4_request/,
    );
    const body = JSON.parse(req.body) as Record<string, unknown>;
    assert.equal(body.MaxDatapoints, 20);
    assert.equal(body.ScanBy, 'TimestampDescending', 'the 20 points of the first page are the newest');
    assert.equal(Number(body.EndTime) - Number(body.StartTime), 600, '10 × 1m');
    assert.deepEqual(body.MetricDataQueries, JSON.parse(QUERY));
  });

  test('no data points is no values; a bad query JSON or a 400 is a failed check; 5xx is unavailability', async () => {
    await assert.rejects(provider().runQuery('[{"Id":"none","Expression":"x"}]'), NoValuesError);
    await assert.rejects(
      provider().runQuery('not json'),
      (e: Error) => e instanceof QueryError && /unmarshaling/.test(e.message),
    );
    await assert.rejects(provider().runQuery('[]'), QueryError);
    await assert.rejects(provider().runQuery('[{"Id":"boom","Expression":"x"}]'), ProviderUnavailableError);
  });

  test('the order of the answer does not matter: an ascending answer judges the same period', async () => {
    assert.equal(await provider().runQuery('[{"Id":"ascending","Expression":"x"}]'), 0.25);
  });

  test('issue 18 on CloudWatch: the partial period (42) is not judged, the complete one (0.5 ≤ 1) passes', async () => {
    const spec: MetricTemplateSpec = {
      provider: { type: 'cloudwatch', region: 'ap-northeast-1', address: cw.url, secretRef: { name: 'aws' } },
      query: '[{"Id":"filling","Expression":"SEARCH(\'{{ namespace }}\', \'Average\', 60)"}]',
    };
    const out = await evaluate(
      { canary: FACTS.ref, target: 'podinfo', observer: 'kubernetes' },
      checkOrder([{ name: 'latency', templateRef: { name: 'cw-latency' }, thresholdRange: { max: 1 } }]),
      templateReader(spec, { aws: creds }),
    );
    assert.deepEqual(out.results, [{ name: 'latency', range: { max: 1 }, value: 0.5, verdict: 'pass' }]);
  });

  test('one period only is no values (noDataPolicy applies); timestamps not matching values fail', async () => {
    await assert.rejects(provider().runQuery('[{"Id":"single","Expression":"x"}]'), NoCompletePointError);
    await assert.rejects(provider().runQuery('[{"Id":"mismatch","Expression":"x"}]'), /2 values/);
    const read = templateReader(
      {
        provider: { type: 'cloudwatch', region: 'ap-northeast-1', address: cw.url, secretRef: { name: 'aws' } },
        query: '[{"Id":"single","Expression":"x"}]',
      },
      { aws: creds },
    );
    const out = await evaluate(
      { canary: FACTS.ref, target: 'podinfo', observer: 'kubernetes' },
      checkOrder([
        { name: 'skipped', templateRef: { name: 'cw' }, thresholdRange: { max: 1 }, noDataPolicy: 'skip' },
        { name: 'failed', templateRef: { name: 'cw' }, thresholdRange: { max: 1 } },
      ]),
      read,
    );
    assert.equal(out.ok, false);
    assert.deepEqual(
      out.results.map((r) => [r.name, r.verdict]),
      [
        ['skipped', 'no-data'],
        ['failed', 'no-data'],
      ],
    );
    assert.match(
      out.results[1]!.message!,
      /^Halt advancement no values found for custom metric: failed: no complete bucket/,
    );
  });

  test('isOnline: a 400 to the empty probe means reachable; region is required', async () => {
    assert.equal(await provider().isOnline(), true);
    assert.throws(
      () => createProvider({ provider: { type: 'cloudwatch' }, credentials: {}, interval: '1m' }),
      /region not specified/,
    );
  });

  test('a CloudWatch MetricTemplate renders {{ name }}.{{ namespace }} and evaluates', async () => {
    const spec: MetricTemplateSpec = {
      provider: { type: 'cloudwatch', region: 'ap-northeast-1', address: cw.url, secretRef: { name: 'aws' } },
      query: QUERY.replace('podinfo.test', '{{ name }}.{{ namespace }}'),
    };
    const read = templateReader(spec, { aws: creds });
    const out = await evaluate(
      { canary: FACTS.ref, target: 'podinfo', observer: 'kubernetes' },
      checkOrder([
        { name: 'app error rate', templateRef: { name: 'cloudwatch-error-rate' }, thresholdRange: { max: 0.1 } },
      ]),
      read,
    );
    assert.equal(out.results[0]!.value, 0.25);
    assert.equal(out.results[0]!.message, 'Halt podinfo.test advancement app error rate 0.25 > 0.1');
    assert.deepEqual(JSON.parse(cw.seen.at(-1)!.body).MetricDataQueries, JSON.parse(QUERY));
  });
});
