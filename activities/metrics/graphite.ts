// Graphite: the query is a render URL query string (`target=...&from=-5min`), whitespace collapsed, sent as
// `GET <address>/render?<query>&format=json`, with basic auth when the template names a Secret (Flagger
// pkg/metrics/providers/graphite.go). The answer is `[{target, datapoints: [[value, epoch s], ...]}]`; fledge
// drops the buckets Graphite pads past the query time and judges series.ts's point (newest complete bucket) of the
// last target that has one, where Flagger takes the last non-null value, which is Graphite's bucket still filling.
import { DEFAULT_TIMEOUT_MS, basicAuth, getText, parseJson, snippet, templateHeaders } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
import { judgedPoint, type SeriesPoint } from './series.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

/** Flagger's probe: a query for a target that need not exist; "no values" still proves the API answers. */
const PROBE = 'target=test';

/**
 * Address required and a URL; with `secretRef`, Secret keys `username` and `password` are required
 * (ProviderConfigError). runQuery: NoValuesError when no target has a complete value; QueryError on a 4xx, a
 * non-JSON body or a malformed datapoint.
 */
export function createGraphiteProvider(opts: ProviderOptions): MetricsProvider {
  const { provider, credentials } = opts;
  if (!provider.address || !URL.canParse(provider.address)) {
    throw new ProviderConfigError(`graphite address ${provider.address ?? ''} is not a valid URL`);
  }
  const base = new URL(provider.address);
  const headers: Record<string, string | string[]> = templateHeaders(provider.headers);
  if (provider.secretRef) {
    for (const key of ['username', 'password']) {
      if (!(key in credentials)) throw new ProviderConfigError(`graphite credentials does not contain a ${key}`);
    }
    if (credentials.username && credentials.password) {
      headers.authorization = basicAuth(credentials.username, credentials.password);
    }
  }
  const runQuery = async (query: string): Promise<number> => {
    const url = renderUrl(base, query);
    const askedAt = Date.now();
    const body = await getText(url, {
      headers,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      insecureSkipVerify: provider.insecureSkipVerify,
    });
    return lastJudged(parseTargets(parseJson(body), body).map((points) => startedBy(points, askedAt)));
  };
  return {
    type: 'graphite',
    runQuery,
    async isOnline() {
      await runQuery(PROBE).catch((err: unknown) => {
        if (!(err instanceof NoValuesError)) throw err;
      });
      return true;
    },
  };
}

/** `<address path>/render?<query, whitespace collapsed>&format=json` (pure). */
export function renderUrl(base: URL, query: string): URL {
  const url = new URL(base);
  url.pathname = `${base.pathname.replace(/\/+$/, '')}/render`;
  url.search = query.replace(/\s+/g, ' ').trim();
  url.searchParams.set('format', 'json');
  return url;
}

/** Points of each target; values and timestamps may be numbers or numeric strings (Graphite's JSON). */
function parseTargets(answer: unknown, body: string): SeriesPoint[][] {
  if (!Array.isArray(answer)) throw new QueryError(`error unmarshaling result: not a list, '${snippet(body)}'`);
  return answer.map((target: { datapoints?: unknown }) => {
    const points = Array.isArray(target?.datapoints) ? (target.datapoints as unknown[]) : [];
    return points.map((p) => {
      if (!Array.isArray(p) || p.length !== 2)
        throw new QueryError(`error unmarshaling data point: ${snippet(JSON.stringify(p) ?? '')}`);
      const value = p[0] === null ? null : numeric(p[0]);
      const seconds = numeric(p[1]);
      if (Number.isNaN(value) || seconds === null || Number.isNaN(seconds)) {
        throw new QueryError(`error unmarshaling data point: ${snippet(JSON.stringify(p))}`);
      }
      return { timestamp: seconds * 1000, value };
    });
  });
}

/**
 * The buckets that had begun when the query was sent (pure). Graphite pads its answer past "now": whisper aligns
 * `until` up to the next bucket boundary, so unless the query falls exactly on a boundary the last datapoint is a
 * bucket that starts after the query time (always `null`), and the bucket still filling is the one before it
 * (`summarize` can add one more). Without them the filling bucket is the newest, which series.ts sets aside.
 */
export function startedBy(points: SeriesPoint[], askedAtMs: number): SeriesPoint[] {
  return points.filter((p) => p.timestamp <= askedAtMs);
}

function numeric(v: unknown): number | null {
  if (v === null) return null;
  if (typeof v === 'number') return v;
  return typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
}

/** series.ts's point of the last target that has one (Flagger: the last value wins across targets). */
function lastJudged(targets: SeriesPoint[][]): number {
  let first: NoValuesError | undefined;
  for (const points of [...targets].reverse()) {
    try {
      return judgedPoint(points).value;
    } catch (err) {
      if (!(err instanceof NoValuesError)) throw err;
      first ??= err;
    }
  }
  throw first ?? new NoValuesError('no targets');
}
