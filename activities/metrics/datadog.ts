// Datadog: `GET <address>/api/v1/query?query&from&to` with the API and application keys, looking back
// 10 × the metric interval (Flagger's DatadogProvider), judging the first series by series.ts's rule: the newest
// complete bucket, never the last one, which Datadog is still filling (Flagger judges the oldest point).
import { parseDuration } from '../../api/canary.ts';
import { DEFAULT_TIMEOUT_MS, getText, parseJson, snippet, templateHeaders } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
import { judgedPoint, type SeriesPoint } from './series.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

export const DATADOG_DEFAULT_ADDRESS = 'https://api.datadoghq.com';
const API_KEY = 'datadog_api_key';
const APP_KEY = 'datadog_application_key';
const WINDOW_MULTIPLIER = 10;

interface DatadogAnswer {
  /** One entry per series; `pointlist` is `[timestamp ms, value | null]` pairs, oldest first. */
  series?: { pointlist?: unknown }[];
}

export function createDatadogProvider(opts: ProviderOptions): MetricsProvider {
  const { provider, credentials } = opts;
  const address = (provider.address || DATADOG_DEFAULT_ADDRESS).replace(/\/+$/, '');
  if (!URL.canParse(address)) throw new ProviderConfigError(`datadog address ${address} is not a valid URL`);
  for (const key of [API_KEY, APP_KEY]) {
    if (!credentials[key]) throw new ProviderConfigError(`datadog credentials does not contain ${key}`);
  }
  const headers = {
    ...templateHeaders(provider.headers),
    'dd-api-key': credentials[API_KEY]!,
    'dd-application-key': credentials[APP_KEY]!,
  };
  const lookbackSeconds = windowSeconds(opts.interval);
  const get = (url: URL) =>
    getText(url, {
      headers,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      insecureSkipVerify: provider.insecureSkipVerify,
    });

  return {
    type: 'datadog',
    async runQuery(query) {
      const now = Math.floor(Date.now() / 1000);
      const url = new URL(`${address}/api/v1/query`);
      url.searchParams.set('from', String(now - lookbackSeconds));
      url.searchParams.set('query', query);
      url.searchParams.set('to', String(now));
      const body = await get(url);
      return judgedPoint(firstSeries(parseJson(body) as DatadogAnswer, body)).value;
    },
    async isOnline() {
      await get(new URL(`${address}/api/v1/validate`));
      return true;
    },
  };
}

function windowSeconds(interval: string): number {
  try {
    return Math.floor((WINDOW_MULTIPLIER * parseDuration(interval)) / 1000);
  } catch (err) {
    throw new ProviderConfigError(`error parsing metric interval: ${(err as Error).message}`);
  }
}

/**
 * The points of the first series (Flagger also reads only the first). No series is no values; a point that is not
 * `[number, number | null]` is a malformed answer (QueryError). A `null` value is a gap, judged by series.ts.
 */
function firstSeries(answer: DatadogAnswer, body: string): SeriesPoint[] {
  const series = Array.isArray(answer?.series) ? answer.series : [];
  if (series.length === 0) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  const pointlist = series[0]?.pointlist ?? [];
  if (!Array.isArray(pointlist)) throw new QueryError(`malformed pointlist: ${snippet(body)}`);
  return pointlist.map((point: unknown) => {
    const [timestamp, value] = Array.isArray(point) ? (point as unknown[]) : [];
    if (typeof timestamp !== 'number' || (value !== null && typeof value !== 'number')) {
      throw new QueryError(`malformed point ${snippet(JSON.stringify(point) ?? String(point))}: ${snippet(body)}`);
    }
    return { timestamp, value };
  });
}
