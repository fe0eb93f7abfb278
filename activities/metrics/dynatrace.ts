// Dynatrace: `GET <address>/api/v2/metrics/query?metricSelector&resolution&from&to` (ms, looking back 10 × the
// metric interval) with `Authorization: Api-Token <token>` (Metrics API v2; Flagger pkg/metrics/providers/
// dynatrace.go). Flagger asks `resolution=Inf`, one value folded over the whole window including its still-filling
// tail; fledge asks for buckets of the metric interval (whole minutes, Dynatrace's finest resolution) and judges
// series.ts's point (newest complete bucket) of the last series of the first result, as Flagger reads that series.
// isOnline lists one metric (`/api/v2/metrics?pageSize=1`).
import { DEFAULT_TIMEOUT_MS, getText, intervalMs, parseJson, snippet, templateHeaders } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
import { judgedPoint, type SeriesPoint } from './series.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

const TOKEN = 'dynatrace_token';
const WINDOW_MULTIPLIER = 10;

interface DynatraceAnswer {
  /** One entry per metric selector; `data` one entry per dimension tuple; `values` may hold `null` (no data). */
  result?: { data?: { timestamps?: unknown; values?: unknown }[] }[];
}

/**
 * Address required ("dynatrace endpoint is not set"), Secret key `dynatrace_token`; ProviderConfigError otherwise.
 * runQuery: NoValuesError when there is no result, no series, no value or a `null` value; QueryError on a 4xx,
 * a non-JSON body or a value that is not a number.
 */
export function createDynatraceProvider(opts: ProviderOptions): MetricsProvider {
  const { provider, credentials } = opts;
  if (!provider.address) throw new ProviderConfigError('dynatrace endpoint is not set');
  const address = provider.address.replace(/\/+$/, '');
  if (!URL.canParse(address)) throw new ProviderConfigError(`dynatrace address ${address} is not a valid URL`);
  if (!credentials[TOKEN]) throw new ProviderConfigError(`dynatrace credentials does not contain ${TOKEN}`);
  const windowMs = intervalMs(opts.interval);
  const lookbackMs = WINDOW_MULTIPLIER * windowMs;
  const resolution = dynatraceResolution(windowMs);
  const get = (url: URL) =>
    getText(url, {
      headers: { ...templateHeaders(provider.headers), authorization: `Api-Token ${credentials[TOKEN]!}` },
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      insecureSkipVerify: provider.insecureSkipVerify,
    });
  return {
    type: 'dynatrace',
    async runQuery(query) {
      // Flagger truncates "now" to whole seconds before converting to ms.
      const now = Math.floor(Date.now() / 1000) * 1000;
      const url = new URL(`${address}/api/v2/metrics/query`);
      url.searchParams.set('metricSelector', query);
      url.searchParams.set('resolution', resolution);
      url.searchParams.set('from', String(now - lookbackMs));
      url.searchParams.set('to', String(now));
      const body = await get(url);
      return judgedPoint(lastSeries(parseJson(body) as DynatraceAnswer, body)).value;
    },
    async isOnline() {
      await get(new URL(`${address}/api/v2/metrics?pageSize=1`));
      return true;
    },
  };
}

/** Bucket width of a metric window: whole minutes, at least one (`1m`, `5m`; pure). */
export function dynatraceResolution(windowMs: number): string {
  return `${Math.max(1, Math.ceil(windowMs / 60_000))}m`;
}

/** The points of the last series of the first result; `values[i]` at `timestamps[i]` (ms), `null` a gap. */
function lastSeries(answer: DynatraceAnswer, body: string): SeriesPoint[] {
  const data = Array.isArray(answer?.result) ? answer.result[0]?.data : undefined;
  if (!Array.isArray(data) || data.length === 0) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  const { timestamps, values } = data.at(-1) ?? {};
  if (!Array.isArray(timestamps) || !Array.isArray(values) || timestamps.length !== values.length) {
    throw new QueryError(`malformed series, timestamps and values differ: ${snippet(body)}`);
  }
  return values.map((value: unknown, i) => {
    if (value !== null && typeof value !== 'number') throw new QueryError(`invalid response: ${snippet(body)}`);
    return { timestamp: Number(timestamps[i]), value };
  });
}
