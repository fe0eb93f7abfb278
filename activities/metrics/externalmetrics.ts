// Kubernetes External Metrics API (`external.metrics.k8s.io/v1beta1`), queried through the controller's own
// apiserver connection like Flagger's client-go client (pkg/metrics/providers/externalmetrics.go): the query is
// `<namespace>/<metricName>?labelSelector=<selector>` (namespace `default` when left out), sent as
// `GET <apiserver>/apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>?labelSelector=…`; the first
// item's `value` (a Kubernetes quantity) is judged. `address` overrides the apiserver, Secret key `token` the bearer
// token; `insecureSkipVerify` as in Flagger. isOnline lists `kube-system/dummy-metric`: any answer but an error.
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent } from 'undici';
import { DEFAULT_TIMEOUT_MS, getText, parseJson, snippet, templateHeaders } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

const API = '/apis/external.metrics.k8s.io/v1beta1';

export interface ExternalMetricQuery {
  namespace: string;
  metric: string;
  labelSelector?: string;
}

/**
 * Needs `kubeConfig` (the worker's apiserver connection) unless `address` is set (ProviderConfigError). runQuery:
 * QueryError for a malformed query, a 4xx (no such metric, no APIService, forbidden) or a bad quantity;
 * NoValuesError ("no external metrics found") for an empty list.
 */
export function createExternalMetricsProvider(opts: ProviderOptions): MetricsProvider {
  const { provider, credentials, kubeConfig } = opts;
  const server = provider.address || kubeConfig?.getCurrentCluster()?.server;
  if (!server) throw new ProviderConfigError('could not initialize ExternalMetricsProvider: rest config is nil');
  if (!URL.canParse(server)) throw new ProviderConfigError(`externalmetrics address ${server} is not a valid URL`);
  const base = server.replace(/\/+$/, '');
  const connection = apiserverConnection(kubeConfig, provider.insecureSkipVerify);
  const list = async (q: ExternalMetricQuery) => {
    const url = new URL(`${base}${API}/namespaces/${encodeURIComponent(q.namespace)}/${encodeURIComponent(q.metric)}`);
    if (q.labelSelector) url.searchParams.set('labelSelector', q.labelSelector);
    const { headers, dispatcher } = await connection();
    return getText(url, {
      headers: {
        ...templateHeaders(provider.headers),
        ...headers,
        accept: 'application/json',
        ...(credentials.token && { authorization: `Bearer ${credentials.token}` }),
      },
      dispatcher,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      insecureSkipVerify: provider.insecureSkipVerify,
    });
  };
  return {
    type: 'externalmetrics',
    async runQuery(query) {
      let q: ExternalMetricQuery;
      try {
        q = parseExternalMetricQuery(query);
      } catch (err) {
        throw new QueryError(`error parsing metric query: ${(err as Error).message}`);
      }
      const body = await list(q);
      const items = (parseJson(body) as { items?: { value?: unknown }[] })?.items;
      if (!Array.isArray(items) || items.length === 0) throw new NoValuesError('no external metrics found');
      const value = items[0]?.value;
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw new QueryError(`invalid response: ${snippet(body)}`);
      }
      return parseQuantity(String(value));
    },
    async isOnline() {
      await list({ namespace: 'kube-system', metric: 'dummy-metric' }).catch((err: unknown) => {
        throw new Error(`external metrics service unavailable: ${(err as Error).message}`, { cause: err });
      });
      return true;
    },
  };
}

/** `[<namespace>/]<metric>[?labelSelector=<selector>]` (pure; Flagger's parseExternalMetricsQuery). */
export function parseExternalMetricQuery(query: string): ExternalMetricQuery {
  const url = new URL(`dummy:///${query.trim()}`);
  const parts = url.pathname.replace(/^\//, '').split('/');
  if (parts.length > 2) {
    throw new Error(
      `malformed query string, too many slashes, expected <namespace>/<metricName>?labelSelector=<urlencoded label selectors>, got ${query}`,
    );
  }
  const [namespace, metric] = parts.length === 2 ? [parts[0] || 'default', parts[1]!] : ['default', parts[0]!];
  if (!metric) throw new Error('metric name cannot be empty');
  const labelSelector = url.searchParams.get('labelSelector') || undefined;
  return { namespace: decodeURIComponent(namespace), metric: decodeURIComponent(metric), labelSelector };
}

const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** A Kubernetes resource quantity (`1500m`, `2k`, `1Gi`, `1e3`) as a float (pure); QueryError when malformed. */
export function parseQuantity(s: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(s.trim());
  if (!m) throw new QueryError(`invalid quantity ${snippet(s)}`);
  const n = Number(m[1]);
  if (m[2]) return Number(`${m[1]}${m[2]}`);
  const suffix = m[3] ?? '';
  return n * (BINARY[suffix] ?? DECIMAL[suffix]!);
}

/** Headers and TLS of the kubeconfig's current user and cluster (client certificates, CA, token); computed once. */
function apiserverConnection(kubeConfig: KubeConfig | undefined, insecure: boolean | undefined) {
  let cached: Promise<{ headers: Record<string, string>; dispatcher?: Agent }> | undefined;
  return () =>
    (cached ??= (async () => {
      if (!kubeConfig) return { headers: {} };
      const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; headers?: Record<string, string> } = {};
      await kubeConfig.applyToHTTPSOptions(tls as never);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(tls.headers ?? {})) headers[k.toLowerCase()] = String(v);
      const connect = { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !insecure };
      return { headers, dispatcher: new Agent({ connect }) };
    })());
}
