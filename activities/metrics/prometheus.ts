// Prometheus: instant query `GET <address>/api/v1/query`, as Flagger's PrometheusProvider, but strict about
// the shape of the answer: one sample or a clear error, never "the last of several series".
import { DEFAULT_TIMEOUT_MS, getText, parseJson, snippet, templateHeaders } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

const ONLINE_QUERY = 'vector(1)';

interface PromAnswer {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

export function createPrometheusProvider(opts: ProviderOptions): MetricsProvider {
  const { provider } = opts;
  const base = parseAddress(provider.type, provider.address);
  const headers = { ...templateHeaders(provider.headers), ...authHeader(opts) };
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function runQuery(query: string): Promise<number> {
    const url = new URL(base);
    url.pathname = `${base.pathname.replace(/\/+$/, '')}/api/v1/query`;
    url.searchParams.set('query', collapseWhitespace(query));
    const body = await getText(url, { headers, timeoutMs, insecureSkipVerify: provider.insecureSkipVerify });
    return singleValue(parseJson(body) as PromAnswer, body);
  }

  return {
    type: provider.type,
    runQuery,
    async isOnline() {
      const v = await runQuery(ONLINE_QUERY);
      if (v !== 1) throw new QueryError(`value is not 1 for query: ${ONLINE_QUERY}`);
      return true;
    },
  };
}

function parseAddress(type: string, address: string | undefined): URL {
  const url = address ? URL.parse(address) : null;
  if (!url || !/^https?:$/.test(url.protocol)) {
    throw new ProviderConfigError(`${type} address ${address ?? ''} is not a valid URL`);
  }
  return url;
}

/** Flagger's secret keys: `token` (bearer) wins over `username` + `password` (basic). */
function authHeader({ provider, credentials }: ProviderOptions): Record<string, string> {
  if (!provider.secretRef) return {};
  if (credentials.token) return { authorization: `Bearer ${credentials.token}` };
  if (credentials.username === undefined) {
    throw new ProviderConfigError(`${provider.type} credentials does not contain a username`);
  }
  if (credentials.password === undefined) {
    throw new ProviderConfigError(`${provider.type} credentials does not contain a password`);
  }
  const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
  return { authorization: `Basic ${basic}` };
}

export function collapseWhitespace(query: string): string {
  return query.replace(/\s+/g, ' ');
}

function singleValue(answer: PromAnswer, body: string): number {
  if (answer.status === 'error') throw new QueryError(`error response: ${answer.error ?? snippet(body)}`);
  const type = answer.data?.resultType;
  const result = answer.data?.result;
  switch (type) {
    case 'scalar':
      return sampleValue(result);
    case 'vector': {
      const series = Array.isArray(result) ? (result as { value?: unknown }[]) : [];
      if (series.length === 0) throw new NoValuesError();
      if (series.length > 1) {
        throw new QueryError(
          `multiple values: the query returned ${series.length} series, it must return one (aggregate with sum() or similar)`,
        );
      }
      return sampleValue(series[0]!.value);
    }
    case 'matrix':
      throw new QueryError('multiple values: the query returned a range vector (matrix), it must return one sample');
    default:
      throw new QueryError(`unexpected result type ${String(type)}: '${snippet(body)}'`);
  }
}

/** A sample is `[timestamp, "value"]`; Prometheus spells specials "NaN", "+Inf", "-Inf". */
function sampleValue(sample: unknown): number {
  const raw = Array.isArray(sample) ? sample[1] : undefined;
  if (typeof raw !== 'string') throw new QueryError(`malformed sample ${JSON.stringify(sample)}`);
  const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
  if (Number.isNaN(value)) throw new NoValuesError();
  return value;
}
