// What every activity factory receives. Real implementations build their clients from these; tests pass a
// kubeconfig of the harness cluster and a quiet logger.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { GlobalNotifier } from './notifiers/index.ts';

export interface ActivityDeps {
  kube: KubeConfig;
  log: Logger;
  /** Injected clock (condition and event timestamps); default `() => new Date()`. */
  clock?: () => Date;
  /** HTTP client for webhooks, metric backends and notifiers; default global fetch. */
  http?: typeof fetch;
  /** Selector labels tried in order (Flagger's `-selector-labels`); default app, name, app.kubernetes.io/name. */
  selectorLabels?: string[];
  /** Label prefixes copied from the target to the primary (Flagger's `-include-label-prefix`); default none. */
  includeLabelPrefix?: string[];
  /** Provider of Canaries that name none (Flagger's `-mesh-provider`); default kubernetes. */
  defaultProvider?: string;
  /** Flagger's `-enable-config-tracking`: false tracks no ConfigMap or Secret at all; default true. */
  configTracking?: boolean;
}

/** Options of the other areas, passed through by createActivities. */
export interface AreaOptions {
  /** Flagger's `-metrics-server`. */
  metricsServer?: string;
  /** Flagger's `-event-webhook`. */
  eventWebhook?: string;
  /** Flagger's global Slack/Teams/… notifier. */
  globalNotifier?: GlobalNotifier;
  /** Flagger's `-no-cross-namespace-refs`: MetricTemplates and AlertProviders only from the Canary's namespace. */
  noCrossNamespaceRefs?: boolean;
  /** Flagger's `-ingress-annotations-prefix` (nginx router); default nginx.ingress.kubernetes.io. */
  ingressAnnotationsPrefix?: string;
  /** Flagger's `-ingress-class` (spec.ingressClassName of Contour HTTPProxies); default none. */
  ingressClass?: string;
}
