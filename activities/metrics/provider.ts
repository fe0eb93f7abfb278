// The contract every metric backend implements, and what it is built from.
import type { KubeConfig } from '@kubernetes/client-node';
import type { MetricTemplateProvider } from '../../api/metric-template.ts';

export interface MetricsProvider {
  readonly type: string;
  /**
   * Runs a rendered query and returns its single value. Throws NoValuesError (empty / NaN), QueryError (ran,
   * unusable answer) or ProviderUnavailableError (unreachable, 5xx: retry, don't count a check).
   */
  runQuery(query: string): Promise<number>;
  /** Cheap round trip proving the backend answers with these credentials (Flagger's IsOnline). */
  isOnline(): Promise<boolean>;
}

export interface ProviderOptions {
  provider: MetricTemplateProvider;
  /** Decoded data of the template's secretRef Secret; stays inside the activity. */
  credentials: Record<string, string>;
  /** Window of the metric (Go duration); Datadog and CloudWatch look back 10 × this. */
  interval: string;
  timeoutMs?: number;
  /** The controller's own apiserver connection (externalmetrics queries the External Metrics API through it). */
  kubeConfig?: KubeConfig;
}
