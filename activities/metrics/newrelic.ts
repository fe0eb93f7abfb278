// New Relic: `GET <address>/v1/accounts/<account id>/query?nrql=<query> SINCE <interval in s> seconds ago` with the
// `X-Query-Key` header (Insights query API), judging the single `results[0].result` (Flagger pkg/metrics/providers/
// newrelic.go). The window is the metric interval itself; an aggregate query answers one number, no series.
import { DEFAULT_TIMEOUT_MS, getText, intervalMs, parseJson, snippet, templateHeaders } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

export const NEWRELIC_DEFAULT_ADDRESS = 'https://insights-api.newrelic.com';
const QUERY_KEY = 'newrelic_query_key';
const ACCOUNT_ID = 'newrelic_account_id';
/** Flagger's probe query. */
const PROBE = 'SELECT * FROM Metric';

/**
 * Credentials (Secret keys): `newrelic_account_id`, `newrelic_query_key`. Throws ProviderConfigError when one is
 * missing, the address is not a URL or the interval does not parse. runQuery: NoValuesError unless `results` holds
 * exactly one entry with a numeric `result`; QueryError on a 4xx or a non-JSON body.
 */
export function createNewRelicProvider(opts: ProviderOptions): MetricsProvider {
  const { provider, credentials } = opts;
  const address = (provider.address || NEWRELIC_DEFAULT_ADDRESS).replace(/\/+$/, '');
  if (!URL.canParse(address)) throw new ProviderConfigError(`newrelic address ${address} is not a valid URL`);
  for (const key of [ACCOUNT_ID, QUERY_KEY]) {
    if (!credentials[key]) throw new ProviderConfigError(`newrelic credentials does not contain the key '${key}'`);
  }
  const sinceSeconds = Math.floor(intervalMs(opts.interval) / 1000);
  const endpoint = `${address}/v1/accounts/${encodeURIComponent(credentials[ACCOUNT_ID]!)}/query`;
  const get = (nrql: string) => {
    const url = new URL(endpoint);
    url.searchParams.set('nrql', `${nrql} SINCE ${sinceSeconds} seconds ago`);
    return getText(url, {
      headers: { ...templateHeaders(provider.headers), 'x-query-key': credentials[QUERY_KEY]! },
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      insecureSkipVerify: provider.insecureSkipVerify,
    });
  };
  return {
    type: 'newrelic',
    async runQuery(query) {
      const body = await get(query);
      return singleResult(parseJson(body), body);
    },
    async isOnline() {
      await get(PROBE);
      return true;
    },
  };
}

/** `{"results":[{"result": number}]}` → the number; anything else with one `result` is malformed. */
function singleResult(answer: unknown, body: string): number {
  const results = (answer as { results?: unknown })?.results;
  if (!Array.isArray(results) || results.length !== 1) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  const result = (results[0] as { result?: unknown } | null)?.result;
  if (result === null || result === undefined) throw new NoValuesError(`invalid response: ${snippet(body)}`);
  if (typeof result !== 'number') throw new QueryError(`invalid response: ${snippet(body)}`);
  return result;
}
