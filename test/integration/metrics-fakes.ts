// Local servers speaking the wire formats of New Relic (Insights query API), Dynatrace (Metrics API v2), Graphite
// (render API, JSON) and InfluxDB 2 (Flux query API, annotated CSV), as their public API references document them
// and Flagger's provider tests show. Each checks the credentials the way the real API does (401/403 otherwise),
// records every request, and answers each query from the test's `answer` function: a value, no data, or a status.
// Bound to 127.0.0.1 on a free port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createVerify } from 'node:crypto';

export interface Seen {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: string;
  /** CN of the client cert a TLS fake verified. */
  peer?: string;
}

/** What the backend answers for one query: a value (the judged one), no data at all, or an error status. */
export type Answer = { value: number } | { noData: true } | { status: number };

export interface Fake {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

type Handler = (req: Seen, res: ServerResponse) => void;

/** TLS of an aggregated API server: its serving cert, and the CA of the callers it accepts (client certs). */
export interface ServingTls {
  key: string;
  cert: string;
  clientCa: string;
}

async function wireServer(handler: Handler, tls?: ServingTls): Promise<Fake> {
  const seen: Seen[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const tlsSocket = tls ? (req.socket as TLSSocket) : undefined;
      const peer = tlsSocket?.authorized ? String(tlsSocket.getPeerCertificate().subject?.CN) : undefined;
      const url = new URL(req.url ?? '/', 'http://x');
      const s: Seen = { method: req.method ?? '', url, headers: req.headers, body, ...(peer && { peer }) };
      seen.push(s);
      handler(s, res);
    });
  };
  const server: Server = tls
    ? createHttpsServer(
        { key: tls.key, cert: tls.cert, ca: tls.clientCa, requestCert: true, rejectUnauthorized: false },
        listener,
      )
    : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

/** An address where nothing listens: the transport error (connection refused). */
export async function closedAddress(): Promise<string> {
  const f = await wireServer(() => {});
  await f.close();
  return f.url;
}

/** New Relic Insights: `GET /v1/accounts/<id>/query?nrql=...` with `X-Query-Key`; `{"results":[{"result": v}]}`. */
export function newRelicFake(account: string, key: string, answer: (nrql: string) => Answer): Promise<Fake> {
  return wireServer((req, res) => {
    if (req.url.pathname !== `/v1/accounts/${account}/query`) return json(res, 404, { error: 'Not found' });
    if (req.headers['x-query-key'] !== key) {
      return json(res, 401, { error: 'Invalid query key.' });
    }
    const nrql = req.url.searchParams.get('nrql') ?? '';
    const a = answer(nrql);
    if ('status' in a) return json(res, a.status, { error: 'NRQL Syntax Error' });
    const result = 'value' in a ? a.value : null;
    json(res, 200, {
      results: [{ result }],
      metadata: { eventTypes: ['Metric'], messages: [], contents: [{ function: 'alias', alias: 'result' }] },
    });
  });
}

/**
 * Dynatrace: `GET /api/v2/metrics/query` (`Authorization: Api-Token`) answers one series per dimension tuple, a
 * bucket of `resolution` (`<n>m`) each over [from, to], timestamps at bucket ends; the newest bucket is still
 * filling (1000 × the value), the one before holds the value, older ones half of it. No data is a result without
 * series. `GET /api/v2/metrics?pageSize=1` lists metrics.
 */
export function dynatraceFake(token: string, answer: (selector: string) => Answer): Promise<Fake> {
  return wireServer((req, res) => {
    if (req.headers.authorization !== `Api-Token ${token}`) {
      return json(res, 401, { error: { code: 401, message: 'Missing authorization parameter.' } });
    }
    if (req.url.pathname === '/api/v2/metrics') {
      return json(res, 200, {
        totalCount: 1,
        nextPageKey: null,
        metrics: [{ metricId: 'builtin:service.errors.total.rate' }],
      });
    }
    if (req.url.pathname !== '/api/v2/metrics/query') return json(res, 404, { error: { code: 404 } });
    const selector = req.url.searchParams.get('metricSelector') ?? '';
    const a = answer(selector);
    if ('status' in a) return json(res, a.status, { error: { code: a.status, message: 'Invalid metric selector' } });
    const [from, to] = [Number(req.url.searchParams.get('from')), Number(req.url.searchParams.get('to'))];
    const minutes = /^(\d+)m$/.exec(req.url.searchParams.get('resolution') ?? '');
    if (!minutes) return json(res, 400, { error: { code: 400, message: 'Invalid resolution' } });
    const step = Number(minutes[1]) * 60_000;
    const timestamps: number[] = [];
    for (let t = Math.ceil(from / step) * step + step; t <= Math.ceil(to / step) * step; t += step) timestamps.push(t);
    const values = timestamps.map((_, i) =>
      'value' in a
        ? i === timestamps.length - 1
          ? a.value * 1000
          : i === timestamps.length - 2
            ? a.value
            : a.value / 2
        : 0,
    );
    const data = 'value' in a ? [{ dimensions: ['SERVICE-1'], dimensionMap: {}, timestamps, values }] : [];
    json(res, 200, {
      totalCount: 1,
      nextPageKey: null,
      resolution: req.url.searchParams.get('resolution'),
      result: [{ metricId: selector, dataPointCountRatio: 0.0001, dimensionCountRatio: 0.0001, data }],
    });
  });
}

/**
 * Graphite render API: `GET /render?target=...&format=json` → `[{target, tags, datapoints: [[value, epoch s]]}]`,
 * oldest first; the bucket holding "now" is still filling (here: 1000 × the value, so judging it would fail loudly)
 * and, as real Graphite does (whisper aligns `until` up to the next boundary), a `null` bucket after it follows.
 * No matching series is `[]`. Basic auth when `auth` is given.
 */
export function graphiteFake(auth: string | undefined, answer: (target: string) => Answer): Promise<Fake> {
  return wireServer((req, res) => {
    if (auth && req.headers.authorization !== auth) return json(res, 401, { error: 'unauthorized' });
    if (req.url.pathname !== '/render') return json(res, 404, { error: 'not found' });
    const target = req.url.searchParams.getAll('target').join(';');
    const a = answer(target);
    if ('status' in a) return res.writeHead(a.status, { 'content-type': 'text/html' }).end('<h1>Server Error</h1>');
    if (!('value' in a)) return json(res, 200, []);
    const now = Math.floor(Date.now() / 60_000) * 60;
    json(res, 200, [
      {
        target,
        tags: { name: target },
        datapoints: [
          [null, now - 180],
          [a.value / 2, now - 120],
          [a.value, now - 60],
          [a.value * 1000, now],
          [null, now + 60],
        ],
      },
    ]);
  });
}

/**
 * InfluxDB 2: `POST /api/v2/query?org=` with `Authorization: Token`, a JSON body `{query, type, dialect}`;
 * answers annotated CSV, one table; no data is an empty body. A Flux error is a 400 `{code, message}`.
 */
export function influxdbFake(org: string, token: string, answer: (flux: string) => Answer): Promise<Fake> {
  return wireServer((req, res) => {
    if (req.headers.authorization !== `Token ${token}`) {
      return json(res, 401, { code: 'unauthorized', message: 'unauthorized access' });
    }
    if (req.method !== 'POST' || req.url.pathname !== '/api/v2/query') return json(res, 404, { code: 'not found' });
    if (req.url.searchParams.get('org') !== org) {
      return json(res, 404, {
        code: 'not found',
        message: `organization name "${req.url.searchParams.get('org')}" not found`,
      });
    }
    const body = JSON.parse(req.body) as { query: string; type: string };
    const a = answer(body.query);
    if ('status' in a) return json(res, a.status, { code: 'invalid', message: 'compilation failed: error @1:1-1:5' });
    res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' });
    if (!('value' in a)) return res.end('\r\n');
    res.end(
      [
        '#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,double,string,string',
        '#group,false,false,true,true,false,true,true',
        '#default,_result,,,,,,',
        ',result,table,_start,_stop,_value,_field,_measurement',
        `,,0,2026-01-01T00:00:00Z,2026-01-01T00:05:00Z,${a.value},count,requests`,
        '',
        '',
      ].join('\r\n'),
    );
  });
}

/**
 * Google Cloud Monitoring: `POST /token` is the OAuth 2.0 JWT-bearer exchange of a service account key (the
 * assertion's RS256 signature is verified with `publicKey`, its `aud` must be this token URL);
 * `POST /v3/projects/<project>/timeSeries:query` (`Authorization: Bearer`) answers MQL with
 * `{timeSeriesDescriptor, timeSeriesData: [{labelValues, pointData}]}`, points newest first, the newest one still
 * filling (1000 × the value). No data is a descriptor without `timeSeriesData`; the empty query is
 * INVALID_ARGUMENT; errors are Google's `{error: {code, message, status}}`.
 */
export function stackdriverFake(project: string, publicKey: string, answer: (mql: string) => Answer): Promise<Fake> {
  const token = 'ya29.fledge-test';
  const googleError = (res: ServerResponse, code: number, status: string, message: string) =>
    json(res, code, { error: { code, message, status } });
  let self = '';
  const fake = wireServer((req, res) => {
    if (req.url.pathname === '/token') {
      const form = new URLSearchParams(req.body);
      const [h, c, sig] = (form.get('assertion') ?? '').split('.');
      const ok =
        form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' &&
        createVerify('RSA-SHA256')
          .update(`${h}.${c}`)
          .verify(publicKey, Buffer.from(sig ?? '', 'base64url'));
      const claims = ok ? (JSON.parse(Buffer.from(c!, 'base64url').toString()) as { aud?: string }) : {};
      if (!ok || claims.aud !== `${self}/token`) return json(res, 400, { error: 'invalid_grant' });
      return json(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      return googleError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    }
    if (req.method !== 'POST' || req.url.pathname !== `/v3/projects/${project}/timeSeries:query`) {
      return googleError(res, 404, 'NOT_FOUND', 'not found');
    }
    const mql = (JSON.parse(req.body) as { query?: string }).query ?? '';
    if (mql === '') return googleError(res, 400, 'INVALID_ARGUMENT', 'Field query had an invalid value: empty');
    const a = answer(mql);
    if ('status' in a) return googleError(res, a.status, 'INTERNAL', 'query failed');
    const descriptor = {
      labelDescriptors: [{ key: 'resource.project_id' }],
      pointDescriptors: [{ key: 'value.request_count', valueType: 'DOUBLE', metricKind: 'GAUGE' }],
    };
    if (!('value' in a)) return json(res, 200, { timeSeriesDescriptor: descriptor });
    const now = Math.floor(Date.now() / 60_000) * 60_000;
    const point = (value: number, end: number) => ({
      values: [{ doubleValue: value }],
      timeInterval: { startTime: new Date(end).toISOString(), endTime: new Date(end).toISOString() },
    });
    json(res, 200, {
      timeSeriesDescriptor: descriptor,
      timeSeriesData: [
        {
          labelValues: [{ stringValue: project }],
          pointData: [point(a.value * 1000, now), point(a.value, now - 60_000), point(a.value / 2, now - 120_000)],
        },
      ],
    });
  });
  return fake.then((f) => {
    self = f.url;
    return f;
  });
}

/**
 * Kubernetes External Metrics API (`external.metrics.k8s.io/v1beta1`, as an aggregated API server serves it behind
 * the apiserver): `GET /apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>?labelSelector=` with a bearer
 * token → `ExternalMetricValueList`, values as quantities (`500m`); no data is an empty `items`; errors are
 * `Status` objects. With `tls` it is the aggregated server itself (external-metrics-apiserver.ts): HTTPS, callers
 * authenticated as the apiserver's front proxy (a client cert of `tls.clientCa` with CN `front-proxy-client`, the
 * user in `X-Remote-User`), `token` unused; it serves the group version's discovery (`APIResourceList`) too.
 */
export function externalMetricsFake(token: string, answer: (query: string) => Answer, tls?: ServingTls): Promise<Fake> {
  const status = (res: ServerResponse, code: number, reason: string, message: string) =>
    json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  const API = '/apis/external.metrics.k8s.io/v1beta1';
  return wireServer((req, res) => {
    if (!(tls ? viaFrontProxy(req) : req.headers.authorization === `Bearer ${token}`)) {
      return status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    if (tls && req.url.pathname === API) {
      return json(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: 'external.metrics.k8s.io/v1beta1',
        resources: [{ name: '*', singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] }],
      });
    }
    const m = /^\/apis\/external\.metrics\.k8s\.io\/v1beta1\/namespaces\/([^/]+)\/([^/]+)$/.exec(req.url.pathname);
    if (!m) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const selector = req.url.searchParams.get('labelSelector') ?? '';
    const a = answer(`${m[1]}/${m[2]}?${selector}`);
    if ('status' in a) return status(res, a.status, 'InternalError', 'unable to fetch metrics');
    const quantity = (v: number) => (Number.isInteger(v) ? String(v) : `${Math.round(v * 1000)}m`);
    json(res, 200, {
      kind: 'ExternalMetricValueList',
      apiVersion: 'external.metrics.k8s.io/v1beta1',
      metadata: {},
      items:
        'value' in a
          ? [
              {
                metricName: decodeURIComponent(m[2]!),
                metricLabels: Object.fromEntries(
                  selector
                    .split(',')
                    .filter(Boolean)
                    .map((kv) => kv.split('=')),
                ),
                timestamp: new Date().toISOString(),
                value: quantity(a.value),
              },
            ]
          : [],
    });
  }, tls);
}

/** The request came through the apiserver's aggregator: its front-proxy client cert, and the user it vouches for. */
function viaFrontProxy(req: Seen): boolean {
  return req.peer === 'front-proxy-client' && typeof req.headers['x-remote-user'] === 'string';
}

/**
 * A reverse proxy in front of a real backend that checks the `authorization` header first (401 otherwise), as the
 * web server in front of graphite-web does for basic auth, and records every request; answers are the backend's.
 */
export function authProxy(target: string, authorization: string): Promise<Fake> {
  return wireServer((req, res) => {
    if (req.headers.authorization !== authorization) {
      return void res.writeHead(401, { 'www-authenticate': 'Basic realm="graphite"' }).end('Unauthorized');
    }
    fetch(`${target}${req.url.pathname}${req.url.search}`, { method: req.method }).then(
      async (r) => res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? '' }).end(await r.text()),
      (err: unknown) => res.writeHead(502).end(String(err)),
    );
  });
}
