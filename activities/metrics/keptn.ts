// Keptn (metrics.keptn.sh/v1beta1) through the worker's apiserver connection, as Flagger's dynamic client does
// (pkg/metrics/providers/keptn.go). The query is `<keptnmetric|analysis>/<namespace>/<name>[/<duration>[/<k=v;…>]]`
// (lower-cased): a KeptnMetric's `status.value` is the value; an Analysis is created for the AnalysisDefinition
// `<name>` over the `recent` duration (default 1m) with the arguments, polled every second until Keptn marks it
// `Completed` (1 passed, 0 failed; 10 s at most), and deleted again.
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { NoValuesError, ProviderConfigError, ProviderUnavailableError, QueryError, errorText } from './errors.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

const GROUP = 'metrics.keptn.sh';
const VERSION = 'v1beta1';
const QUERY_FORMAT =
  'unexpected query format. query must be in the format <keptnmetric|analysis>/<namespace>/<resourceName>/<duration>/<arguments>';

export interface KeptnQuery {
  plural: 'keptnmetrics' | 'analyses';
  namespace: string;
  name: string;
  /** Analysis only: `timeframe.recent` and `args`. */
  duration?: string;
  args?: Record<string, string>;
}

export interface KeptnTiming {
  pollMs: number;
  timeoutMs: number;
}

/** Flagger's timing of an Analysis: poll every 1 s, give up after 10 s. */
export const KEPTN_ANALYSIS_TIMING: KeptnTiming = { pollMs: 1_000, timeoutMs: 10_000 };

/**
 * Needs `kubeConfig` (ProviderConfigError). runQuery: QueryError for a malformed query, a missing resource, an
 * unparsable value or an Analysis that does not complete in time; NoValuesError for a KeptnMetric without a value
 * yet; ProviderUnavailableError when the apiserver cannot be reached or answers 5xx. isOnline: the API group is
 * served (Flagger always answers true).
 */
export function createKeptnProvider(
  opts: ProviderOptions,
  timing: KeptnTiming = KEPTN_ANALYSIS_TIMING,
): MetricsProvider {
  if (!opts.kubeConfig) throw new ProviderConfigError('could not initialize KeptnProvider: no KubeConfig provided');
  const kubeConfig = opts.kubeConfig;
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  return {
    type: 'keptn',
    async runQuery(query) {
      const q = parseKeptnQuery(query);
      return q.plural === 'keptnmetrics' ? keptnMetric(api, q) : analysis(api, q, timing);
    },
    async isOnline() {
      await apiCall(`${GROUP}/${VERSION} is not served`, () =>
        api.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: 'default',
          plural: 'keptnmetrics',
          limit: 1,
        }),
      );
      return true;
    },
  };
}

/** Flagger's parseQuery (pure); QueryError with its texts. */
export function parseKeptnQuery(query: string): KeptnQuery {
  const split = query.toLowerCase().replace(/\n$/, '').trim().split('/');
  if (split.length < 3) throw new QueryError(QUERY_FORMAT);
  const [kind, namespace, name] = split as [string, string, string];
  if (kind === 'keptnmetric' || kind === 'keptnmetrics') return { plural: 'keptnmetrics', namespace, name };
  if (kind !== 'analysis' && kind !== 'analyses') {
    throw new QueryError("unexpected resource kind provided in the query. must be one of: ['keptnmetric', 'analysis']");
  }
  const args: Record<string, string> = {};
  for (const pair of (split[4] ?? '').split(';')) {
    const kv = pair.split('=');
    if (kv.length === 2) args[kv[0]!] = kv[1]!;
  }
  return { plural: 'analyses', namespace, name, duration: split[3] ?? '1m', args };
}

async function keptnMetric(api: CustomObjectsApi, q: KeptnQuery): Promise<number> {
  const id = `${q.namespace}/${q.name}`;
  const obj = (await apiCall(`could not retrieve KeptnMetric ${id}`, () =>
    api.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: q.namespace,
      plural: q.plural,
      name: q.name,
    }),
  )) as { status?: { value?: unknown } };
  const value = obj?.status?.value;
  if (typeof value !== 'string' || value === '') {
    throw new NoValuesError(`could not retrieve KeptnMetric - no value found in resource ${id}`);
  }
  const n = Number(value.trim());
  if (value.trim() === '' || Number.isNaN(n)) {
    throw new QueryError(`could not parse value of KeptnMetric ${id} to float: ${value}`);
  }
  return n;
}

async function analysis(api: CustomObjectsApi, q: KeptnQuery, timing: KeptnTiming): Promise<number> {
  const id = `${q.namespace}/${q.name}`;
  const ref = { group: GROUP, version: VERSION, namespace: q.namespace, plural: q.plural };
  const name = `${q.name}-${randomBytes(3).toString('hex')}`;
  await apiCall(`could not create Keptn Analysis ${id}`, () =>
    api.createNamespacedCustomObject({
      ...ref,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'Analysis',
        metadata: { name, namespace: q.namespace },
        spec: { analysisDefinition: { name: q.name }, timeframe: { recent: q.duration }, args: q.args },
      },
    }),
  );
  try {
    const deadline = Date.now() + timing.timeoutMs;
    for (;;) {
      await new Promise((r) => setTimeout(r, timing.pollMs));
      if (Date.now() > deadline) {
        throw new QueryError(`encountered timeout while waiting for Keptn Analysis ${id} to be finished`);
      }
      const got = (await apiCall(`could not check status of created Keptn Analysis ${id}`, () =>
        api.getNamespacedCustomObject({ ...ref, name }),
      )) as { status?: { state?: unknown; pass?: unknown } };
      if (got?.status?.state === 'Completed' && typeof got.status.pass === 'boolean') return got.status.pass ? 1 : 0;
    }
  } finally {
    await api.deleteNamespacedCustomObject({ ...ref, name }).catch(() => undefined);
  }
}

/** An apiserver call: 5xx / no answer is unavailability, any other error a failed check with `what` in front. */
async function apiCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'number' || code >= 500 || code === 429) {
      throw new ProviderUnavailableError(`${what}: ${errorText(err)}`);
    }
    throw new QueryError(`${what}: ${code} ${snippet((err as { body?: unknown }).body)}`);
  }
}

function snippet(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
