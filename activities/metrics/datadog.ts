// Datadog: `GET <address>/api/v1/query?query&from&to` with the API and application keys, looking back
// 10 × the metric interval, taking the last point of the first series (Flagger's DatadogProvider).
import { parseDuration } from '../../api/canary.ts';
import { DEFAULT_TIMEOUT_MS, getText, parseJson, snippet, templateHeaders } from './http.ts';
import { NoValuesError, ProviderConfigError } from './errors.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

export const DATADOG_DEFAULT_ADDRESS = 'https://api.datadoghq.com';
const API_KEY = 'datadog_api_key';
const APP_KEY = 'datadog_application_key';
const WINDOW_MULTIPLIER = 10;

interface DatadogAnswer {
  series?: { pointlist?: (number | null)[][] }[];
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
      return lastPoint(parseJson(body) as DatadogAnswer, body);
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

function lastPoint(answer: DatadogAnswer, body: string): number {
  const points = answer.series?.[0]?.pointlist ?? [];
  const value = points.at(-1)?.[1];
  // A null point is a gap in Datadog's series (Go read it as 0; fledge treats it as no data).
  if (typeof value !== 'number' || Number.isNaN(value)) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  return value;
}
