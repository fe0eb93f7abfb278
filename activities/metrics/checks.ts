// Running one check against its backend and turning every outcome into a Reading for evaluate.ts, with
// Flagger's error texts. Infrastructure errors leave as retryable ApplicationFailures instead.
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { MetricTemplateSpec } from '../../api/metric-template.ts';
import { NoValuesError, ProviderConfigError, ProviderUnavailableError, QueryError, TemplateError } from './errors.ts';
import type { Check, Reading } from './evaluate.ts';
import { NotFoundError, type CanaryFacts, type KubeReader } from './kube.ts';
import type { Observer } from './observers/index.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { createPrometheusProvider } from './prometheus.ts';
import { createProvider, type MetricsProvider } from './registry.ts';
import { renderQuery, type TemplateModel } from './template.ts';

export const DEFAULT_WINDOW = '1m';

export interface CheckEnv {
  facts: CanaryFacts;
  observer: Observer;
  kube: KubeReader;
  /** The apiserver connection itself, for providers that query through it (externalmetrics). */
  kubeConfig?: KubeConfig;
  /** Prometheus of builtin metrics and inline queries: the Canary's metricsServer, else the worker's. */
  metricsServer?: string;
  /** Window of builtin metrics without their own interval (the analysis interval). */
  analysisInterval?: string;
  timeoutMs?: number;
  log?: Logger;
  /** Flagger's `-no-cross-namespace-refs`: MetricTemplates only from the Canary's own namespace. */
  noCrossNamespaceRefs?: boolean;
}

/** Why a MetricTemplate in `namespace` may not be used, when cross-namespace references are forbidden. */
export function crossNamespaceRefBlocked(env: CheckEnv, id: string, namespace: string): string | undefined {
  if (!env.noCrossNamespaceRefs || namespace === env.facts.ref.namespace) return undefined;
  return `Metric template ${id} error: cross-namespace references are forbidden (--forbid-cross-namespace-refs)`;
}

export function modelFor(facts: CanaryFacts, interval: string, variables: Record<string, string> = {}): TemplateModel {
  return {
    name: facts.ref.name,
    namespace: facts.ref.namespace,
    target: facts.target,
    service: facts.service,
    ingress: facts.ingress,
    route: facts.route,
    interval,
    variables,
  };
}

export function createCheckReader(env: CheckEnv): (check: Check) => Promise<Reading> {
  let prometheus: MetricsProvider | undefined;
  const builtinProvider = (): MetricsProvider => (prometheus ??= metricsServerProvider(env));

  return async (check) => {
    switch (check.kind) {
      case 'template':
        return readTemplate(env, check);
      case 'query':
        return withProvider(builtinProvider, (p) =>
          run(env, p, check.metric.query!, (m) => `Prometheus query failed for ${check.metric.name}: ${m}`),
        );
      case 'request-success-rate':
      case 'request-duration':
        return withProvider(builtinProvider, (p) => readBuiltin(env, p, check));
    }
  };
}

function metricsServerProvider(env: CheckEnv): MetricsProvider {
  const address = env.facts.metricsServer || env.metricsServer;
  if (!address) {
    throw new ProviderConfigError('no metrics server: set spec.metricsServer or the worker metrics server');
  }
  return createPrometheusProvider({
    provider: { type: 'prometheus', address },
    credentials: {},
    interval: DEFAULT_WINDOW,
    timeoutMs: env.timeoutMs,
  });
}

async function withProvider(
  get: () => MetricsProvider,
  use: (p: MetricsProvider) => Promise<Reading>,
): Promise<Reading> {
  let provider: MetricsProvider;
  try {
    provider = get();
  } catch (err) {
    if (err instanceof ProviderConfigError) return { error: `Error building Prometheus client ${err.message}` };
    throw err;
  }
  return use(provider);
}

async function readBuiltin(env: CheckEnv, provider: MetricsProvider, { metric, kind }: Check): Promise<Reading> {
  const interval = metric.interval || env.analysisInterval || DEFAULT_WINDOW;
  const { observer } = env;
  const source = kind === 'request-duration' ? observer.duration : observer.successRate;
  const query = renderQuery(source, modelFor(env.facts, interval), `${observer.name}/${kind}`);
  const reading = await run(env, provider, query, (m) => `Prometheus query failed: ${m}`);
  // Builtin durations are judged in milliseconds.
  if ('value' in reading && kind === 'request-duration' && observer.durationUnit === 's') {
    return { value: reading.value * 1000 };
  }
  return reading;
}

async function readTemplate(env: CheckEnv, { metric }: Check): Promise<Reading> {
  const ref = metric.templateRef!;
  const namespace = ref.namespace || env.facts.ref.namespace;
  const id = `${ref.name}.${namespace}`;
  const blocked = crossNamespaceRefBlocked(env, id, namespace);
  if (blocked) return { error: blocked };
  let spec: MetricTemplateSpec;
  try {
    spec = await env.kube.template(namespace, ref.name);
  } catch (err) {
    if (err instanceof NotFoundError) return { error: `Metric template ${id} error: ${err.message}` };
    throw err;
  }
  const secretName = spec.provider.secretRef?.name;
  let credentials: Record<string, string> = {};
  if (secretName) {
    try {
      credentials = await env.kube.secretData(namespace, secretName);
    } catch (err) {
      if (err instanceof NotFoundError)
        return { error: `Metric template ${id} secret ${secretName} error: ${err.message}` };
      throw err;
    }
  }
  const interval = metric.interval || DEFAULT_WINDOW;
  let provider: MetricsProvider;
  let query: string;
  try {
    provider = createProvider({
      provider: spec.provider,
      credentials,
      interval,
      timeoutMs: env.timeoutMs,
      kubeConfig: env.kubeConfig,
    });
    query = renderQuery(spec.query, modelFor(env.facts, interval, metric.templateVariables), id);
  } catch (err) {
    if (err instanceof ProviderConfigError) {
      return { error: `Metric template ${id} provider ${spec.provider.type} error: ${err.message}` };
    }
    if (err instanceof TemplateError) return { error: `Metric template ${id} query render error: ${err.message}` };
    throw err;
  }
  return run(env, provider, query, (m) => `Metric query failed for ${metric.name}: ${m}`);
}

/** Runs a query; no values and unusable answers become readings, an unreachable backend a retryable failure. */
export async function run(
  env: Pick<CheckEnv, 'log'>,
  provider: MetricsProvider,
  query: string,
  failureText: (message: string) => string,
): Promise<Reading> {
  try {
    const value = await provider.runQuery(query);
    env.log?.debug({ provider: provider.type, query, value }, 'metric query');
    return { value };
  } catch (err) {
    if (err instanceof NoValuesError) return { noValues: err.message };
    if (err instanceof QueryError) return { error: failureText(err.message) };
    if (err instanceof ProviderUnavailableError) {
      env.log?.warn({ provider: provider.type, err: err.message }, 'metric provider unavailable');
      throw ApplicationFailure.retryable(err.message, 'MetricProviderUnavailable');
    }
    throw err;
  }
}
