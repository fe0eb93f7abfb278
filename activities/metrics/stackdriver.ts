// Google Cloud Monitoring (Flagger's "stackdriver"): MQL through the REST form of QueryTimeSeries,
// `POST <endpoint>/v3/projects/<project>/timeSeries:query` with `{query}`; Flagger uses the Go SDK's gRPC client
// (pkg/metrics/providers/stackdriver.go). Credentials: Secret keys `project` (required with a `secretRef`) and
// `serviceAccountKey` (a service account JSON key: its JWT is exchanged at the key's `token_uri` for an access
// token, as Google's SDKs do); without a key the GKE/GCE metadata server's token (workload identity). The first
// time series is judged by series.ts's rule (Flagger: `pointData[0]`, the newest, partial point).
import { createSign } from 'node:crypto';
import { DEFAULT_TIMEOUT_MS, parseJson, postText, snippet, templateHeaders, getText } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
import { judgedPoint, type SeriesPoint } from './series.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

export const MONITORING_DEFAULT_ADDRESS = 'https://monitoring.googleapis.com';
const METADATA_TOKEN_URL = 'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token';
const SCOPE = 'https://www.googleapis.com/auth/monitoring.read';

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  token_uri: string;
}

/**
 * `address` (fledge addition) overrides the Monitoring endpoint. Throws ProviderConfigError without `project`
 * (with a `secretRef`) or with a key that is not a service account JSON key. runQuery: NoValuesError when no time
 * series or no complete point has a value; QueryError on a 4xx (Google's `{error: {status, message}}`).
 * isOnline sends the empty query: INVALID_ARGUMENT (400) or success means reachable and authorised (Flagger's rule).
 */
export function createStackdriverProvider(opts: ProviderOptions): MetricsProvider {
  const { provider, credentials } = opts;
  const address = (provider.address || MONITORING_DEFAULT_ADDRESS).replace(/\/+$/, '');
  if (!URL.canParse(address)) throw new ProviderConfigError(`stackdriver address ${address} is not a valid URL`);
  const project = credentials.project;
  if (provider.secretRef && !project) {
    throw new ProviderConfigError('stackdriver credentials does not contain a project id');
  }
  if (!project) throw new ProviderConfigError('stackdriver needs a secretRef with a project id');
  const key = credentials.serviceAccountKey ? serviceAccountKey(credentials.serviceAccountKey) : undefined;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const http = { timeoutMs, insecureSkipVerify: provider.insecureSkipVerify };
  const query = async (mql: string) =>
    postText(queryUrl(address, project), JSON.stringify({ query: mql }), {
      ...http,
      headers: {
        ...templateHeaders(provider.headers),
        'content-type': 'application/json',
        authorization: `Bearer ${await accessToken(key, timeoutMs)}`,
      },
    });
  return {
    type: 'stackdriver',
    async runQuery(mql) {
      const body = await query(mql);
      return judgedPoint(firstSeries(parseJson(body), body)).value;
    },
    async isOnline() {
      try {
        await query('');
      } catch (err) {
        if (!(err instanceof QueryError && / 400: .*INVALID_ARGUMENT/.test(err.message))) throw err;
      }
      return true;
    },
  };
}

/** `<address>/v3/projects/<project>/timeSeries:query` (pure). */
export function queryUrl(address: string, project: string): URL {
  return new URL(`${address}/v3/projects/${encodeURIComponent(project)}/timeSeries:query`);
}

function serviceAccountKey(json: string): ServiceAccountKey {
  let key: Partial<ServiceAccountKey>;
  try {
    key = JSON.parse(json) as Partial<ServiceAccountKey>;
  } catch (err) {
    throw new ProviderConfigError(`stackdriver serviceAccountKey is not JSON: ${(err as Error).message}`);
  }
  if (!key.client_email || !key.private_key || !key.token_uri) {
    throw new ProviderConfigError('stackdriver serviceAccountKey needs client_email, private_key and token_uri');
  }
  return key as ServiceAccountKey;
}

/** A signed JWT (RS256) asking `token_uri` for a read-only Monitoring token (RFC 7523, Google's OAuth 2.0 flow). */
export function signedAssertion(key: ServiceAccountKey, nowSeconds: number): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = { iss: key.client_email, scope: SCOPE, aud: key.token_uri, iat: nowSeconds, exp: nowSeconds + 3600 };
  const unsigned = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(key.private_key).toString('base64url');
  return `${unsigned}.${signature}`;
}

async function accessToken(key: ServiceAccountKey | undefined, timeoutMs: number): Promise<string> {
  const body = key
    ? await postText(
        new URL(key.token_uri),
        new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion: signedAssertion(key, Math.floor(Date.now() / 1000)),
        }).toString(),
        { headers: { 'content-type': 'application/x-www-form-urlencoded' }, timeoutMs },
      )
    : await getText(new URL(METADATA_TOKEN_URL), { headers: { 'metadata-flavor': 'Google' }, timeoutMs });
  const token = (parseJson(body) as { access_token?: unknown })?.access_token;
  if (typeof token !== 'string') throw new QueryError(`no access_token in the token answer: ${snippet(body)}`);
  return token;
}

interface Point {
  values?: { doubleValue?: unknown; int64Value?: unknown }[];
  timeInterval?: { endTime?: string };
}

/** Points of `timeSeriesData[0]` (value: the first of `values`, double or int64; timestamp: `endTime`). */
function firstSeries(answer: unknown, body: string): SeriesPoint[] {
  const data = (answer as { timeSeriesData?: { pointData?: Point[] }[] })?.timeSeriesData;
  if (!Array.isArray(data) || data.length === 0) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  const points = data[0]?.pointData;
  if (!Array.isArray(points) || points.length === 0) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  return points.map((p) => {
    const v = p.values?.[0];
    const raw = v?.doubleValue ?? v?.int64Value;
    const value = raw === undefined ? null : typeof raw === 'string' || typeof raw === 'number' ? Number(raw) : NaN;
    if (value !== null && Number.isNaN(value) && raw !== 'NaN') {
      throw new QueryError(`invalid response: value ${snippet(JSON.stringify(v))}`);
    }
    return { timestamp: Date.parse(p.timeInterval?.endTime ?? ''), value };
  });
}
