// createActivities(deps): every port of the rollout workflow, composed from one factory per area.
import type { Provider } from '../api/canary.ts';
import type { RolloutActivities } from '../api/ports.ts';
import { parseCanary } from '../api/validate.ts';
import type { ActivityDeps, AreaOptions } from './deps.ts';
import { withRequestTimeout } from './kubernetes/client.ts';
import { createKubernetesActivities, type KubernetesActivities } from './kubernetes/index.ts';
import { createMetricsActivities } from './metrics/index.ts';
import { createAlertActivities } from './notifiers/index.ts';
import { createRoutesActivities, type RoutesActivities } from './routers/index.ts';
import { createWebhookActivities, postEvent, type WebhookDeps } from './webhooks/index.ts';

export type { ActivityDeps, AreaOptions } from './deps.ts';

export type FledgeActivities = RolloutActivities & KubernetesActivities & Pick<RoutesActivities, 'finalizeRoutes'>;

export function createActivities(input: ActivityDeps & AreaOptions): FledgeActivities {
  const deps = { ...input, kube: withRequestTimeout(input.kube) };
  const { kube, log, defaultProvider } = deps;
  const webhookDeps: WebhookDeps = { kube, log, eventWebhook: deps.eventWebhook };
  const routes = createRoutesActivities({ kube, log, defaultProvider });
  const k8s = createKubernetesActivities(deps, {
    getRoutes: routes.getRoutes,
    postEvent: async (input, event, sequence) => {
      await postEvent(webhookDeps, {
        canary: input.canary,
        revision: input.revision,
        phase: input.phase,
        event,
        hooks: input.eventHooks,
        idempotencyKey: `canary/${input.canary.namespace}/${input.canary.name}/${input.runId}/event-${sequence}`,
      });
    },
    finalizeRoutes: (canary) => routes.finalizeRoutes({ canary }),
    postLifecycleEvent: async (raw, event, key) => {
      const parsed = parseCanary(raw, defaultProvider ? { defaultProvider: defaultProvider as Provider } : {});
      const hooks = parsed.ok ? parsed.canary.spec.analysis.webhooks : [];
      await postEvent(webhookDeps, {
        canary: { namespace: raw.metadata.namespace, name: raw.metadata.name },
        revision: { hash: raw.status?.lastAppliedSpec ?? '', generation: raw.metadata.generation ?? 0 },
        phase: 'Terminating',
        event,
        hooks,
        idempotencyKey: key,
      });
    },
  });
  return {
    ...k8s,
    ...routes,
    // The router switches traffic between Services that the Kubernetes activities create: Services first.
    reconcileRoutes: async (input) => {
      await k8s.reconcileServices(input);
      return routes.reconcileRoutes(input);
    },
    ...createMetricsActivities({
      kube,
      log,
      defaultProvider,
      metricsServer: deps.metricsServer,
      noCrossNamespaceRefs: deps.noCrossNamespaceRefs,
    }),
    ...createWebhookActivities(webhookDeps),
    ...createAlertActivities({
      kube,
      log,
      globalNotifier: deps.globalNotifier,
      noCrossNamespaceRefs: deps.noCrossNamespaceRefs,
    }),
  };
}
