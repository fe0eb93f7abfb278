// Dynatrace: `GET <address>/api/v2/metrics/query?metricSelector&resolution=Inf&from&to` (ms, looking back
// 10 × the metric interval) with `Authorization: Api-Token <token>` (Metrics API v2; Flagger pkg/metrics/providers/
// dynatrace.go). `resolution=Inf` folds the window into one value per series: the first value of the last series
// of the first result is judged. isOnline lists one metric (`/api/v2/metrics?pageSize=1`).
import { DEFAULT_TIMEOUT_MS, getText, intervalMs, parseJson, snippet, templateHeaders } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
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
  const lookbackMs = WINDOW_MULTIPLIER * intervalMs(opts.interval);
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
      url.searchParams.set('resolution', 'Inf');
      url.searchParams.set('from', String(now - lookbackMs));
      url.searchParams.set('to', String(now));
      const body = await get(url);
      return firstValue(parseJson(body) as DynatraceAnswer, body);
    },
    async isOnline() {
      await get(new URL(`${address}/api/v2/metrics?pageSize=1`));
      return true;
    },
  };
}

function firstValue(answer: DynatraceAnswer, body: string): number {
  const data = Array.isArray(answer?.result) ? answer.result[0]?.data : undefined;
  if (!Array.isArray(data) || data.length === 0) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  const values = data.at(-1)?.values;
  if (!Array.isArray(values) || values.length === 0) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  const value: unknown = values[0];
  if (value === null) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  if (typeof value !== 'number') throw new QueryError(`invalid response: ${snippet(body)}`);
  return value;
}
