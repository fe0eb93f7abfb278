// Metric analysis activities (MetricsPort): read the Canary, its MetricTemplates and their Secrets from the
// apiserver, run each check against its backend in Flagger's order, and return every value, range and verdict.
// Credentials stay in here; only numbers and Flagger's messages go back into workflow history.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { CanaryRef, MetricsInput, MetricsOutcome, MetricsPort } from '../../api/ports.ts';
import { createCheckReader, crossNamespaceRefBlocked, DEFAULT_WINDOW, type CheckEnv } from './checks.ts';
import { errorText } from './errors.ts';
import { checkOrder, evaluate, type Metric } from './evaluate.ts';
import { createKubeReader } from './kube.ts';
import { observerFor } from './observers/index.ts';
import { createPrometheusProvider } from './prometheus.ts';
import { createProvider } from './registry.ts';

export { checkOrder, evaluate, judge, effectiveRange, goDuration, goFloat } from './evaluate.ts';
export type { Check, CheckKind, EvalContext, Metric, NoDataPolicy, Reading } from './evaluate.ts';
export { renderQuery, compileTemplate, renderCompiled, type TemplateModel } from './template.ts';
export { createProvider, supportedProviderTypes, type MetricsProvider, type ProviderOptions } from './registry.ts';
export { observerFor, observerNames, type Observer } from './observers/index.ts';
export * from './errors.ts';
export { judgedPoint, NoCompletePointError, type JudgedPoint, type SeriesPoint } from './series.ts';

export interface MetricsDeps {
  kube: KubeConfig;
  log?: Logger;
  /** Default Prometheus of builtin metrics and inline queries (Flagger's `-metrics-server`). */
  metricsServer?: string;
  /** Provider of Canaries that name none (Flagger's `-mesh-provider`); picks the builtin observer. */
  defaultProvider?: string;
  /** Per-request timeout of metric backends; default 5 s. */
  timeoutMs?: number;
  /** Flagger's `-no-cross-namespace-refs`: MetricTemplates only from the Canary's own namespace. */
  noCrossNamespaceRefs?: boolean;
}

export interface ProviderAvailability {
  available: boolean;
  /** Flagger's event text: "all the metrics providers are available!" or why one is not. */
  message: string;
}

export interface MetricsActivities extends MetricsPort {
  /** Flagger's checkMetricProviderAvailability, run at initialization; meant for an event, never a gate. */
  checkMetricProviders(input: { canary: CanaryRef; metrics: Metric[] }): Promise<ProviderAvailability>;
}

export const PROVIDERS_AVAILABLE = 'all the metrics providers are available!';

export function createMetricsActivities(deps: MetricsDeps): MetricsActivities {
  const kube = createKubeReader(deps.kube);

  async function envFor(canary: CanaryRef, analysisInterval?: string): Promise<CheckEnv> {
    const facts = await kube.canary(canary);
    return {
      facts,
      observer: observerFor(facts.provider ?? deps.defaultProvider ?? 'kubernetes'),
      kube,
      kubeConfig: deps.kube,
      analysisInterval,
      ...(deps.metricsServer && { metricsServer: deps.metricsServer }),
      ...(deps.timeoutMs && { timeoutMs: deps.timeoutMs }),
      ...(deps.log && { log: deps.log }),
      ...(deps.noCrossNamespaceRefs && { noCrossNamespaceRefs: true }),
    };
  }

  return {
    async runMetrics(input: MetricsInput): Promise<MetricsOutcome> {
      const env = await envFor(input.canary, input.interval);
      const ctx = { canary: input.canary, target: env.facts.target, observer: env.observer.name };
      const outcome = await evaluate(ctx, checkOrder(input.metrics as Metric[]), createCheckReader(env));
      deps.log?.info({ canary: input.canary, ok: outcome.ok, results: outcome.results }, 'metric analysis');
      return outcome;
    },
    async checkMetricProviders({ canary, metrics }) {
      const env = await envFor(canary);
      try {
        for (const m of metrics) await probe(env, m);
      } catch (err) {
        return { available: false, message: errorText(err) };
      }
      return { available: true, message: PROVIDERS_AVAILABLE };
    },
  };
}

/** One provider round trip per metric, with Flagger's texts (including its "avaiable" spelling). */
async function probe(env: CheckEnv, metric: Metric): Promise<void> {
  if (!metric.templateRef) {
    if (metric.name !== 'request-success-rate' && metric.name !== 'request-duration') return;
    const address = env.facts.metricsServer || env.metricsServer || '';
    try {
      const prom = createPrometheusProvider({
        provider: { type: 'prometheus', address },
        credentials: {},
        interval: DEFAULT_WINDOW,
        timeoutMs: env.timeoutMs,
      });
      await prom.isOnline();
    } catch (err) {
      throw new Error(`prometheus not avaiable: ${errorText(err)}`, { cause: err });
    }
    return;
  }
  const namespace = metric.templateRef.namespace || env.facts.ref.namespace;
  const id = `${metric.templateRef.name}.${namespace}`;
  const blocked = crossNamespaceRefBlocked(env, id, namespace);
  if (blocked) throw new Error(blocked);
  const spec = await env.kube.template(namespace, metric.templateRef.name).catch((err: unknown) => {
    throw new Error(`metric template ${id} error: ${errorText(err)}`, { cause: err });
  });
  const secret = spec.provider.secretRef?.name;
  const credentials = secret
    ? await env.kube.secretData(namespace, secret).catch((err: unknown) => {
        throw new Error(`metric template ${id} secret ${secret} error: ${errorText(err)}`, { cause: err });
      })
    : {};
  try {
    const interval = metric.interval || DEFAULT_WINDOW;
    const opts = {
      provider: spec.provider,
      credentials,
      interval,
      timeoutMs: env.timeoutMs,
      kubeConfig: env.kubeConfig,
    };
    await createProvider(opts).isOnline();
  } catch (err) {
    throw new Error(`${spec.provider.type} in metric template ${id} not avaiable: ${errorText(err)}`, { cause: err });
  }
}
