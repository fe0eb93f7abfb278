// createActivities(deps): every port of the rollout workflow, composed from one factory per area.
import type { Provider } from '../api/canary.ts';
import type { RolloutActivities, WebhookSpec } from '../api/ports.ts';
import { parseCanary } from '../api/validate.ts';
import type { ActivityDeps, AreaOptions } from './deps.ts';
import { makeKube, withConnectionReuse, withRequestTimeout } from './kubernetes/client.ts';
import { readCanary, type RawCanary } from './kubernetes/canary.ts';
import { createKubernetesActivities, type KubernetesActivities } from './kubernetes/index.ts';
import { createDeliveryActivities, type DeliveryPort } from './delivery/index.ts';
import { withTickAnswers } from './tick-answers.ts';
import { createMetricsActivities } from './metrics/index.ts';
import { createGroupActivities, type GroupActivitySet } from './groups/index.ts';
import { createAlertActivities } from './notifiers/index.ts';
import { createRoutesActivities, type RoutesActivities } from './routers/index.ts';
import { createWebhookActivities, postEvent, type WebhookDeps } from './webhooks/index.ts';

export type { ActivityDeps, AreaOptions } from './deps.ts';

export type FledgeActivities = RolloutActivities &
  KubernetesActivities &
  Pick<RoutesActivities, 'finalizeRoutes'> &
  DeliveryPort &
  GroupActivitySet;

export function createActivities(input: ActivityDeps & AreaOptions): FledgeActivities {
  const deps = { ...input, kube: withRequestTimeout(withConnectionReuse(input.kube)) };
  const { kube, log, defaultProvider } = deps;
  const parseOptions = defaultProvider ? { defaultProvider: defaultProvider as Provider } : {};
  /** The Canary's webhooks as written (URLs, metadata): read by the activities, never passed through the workflow. */
  const hooksOf = (raw: RawCanary): WebhookSpec[] => {
    const parsed = parseCanary(raw, parseOptions);
    return parsed.ok ? parsed.canary.spec.analysis.webhooks : [];
  };
  const canaries = makeKube(kube);
  const webhookDeps: WebhookDeps = {
    kube,
    log,
    eventWebhook: deps.eventWebhook,
    resolveHooks: async (canary) => {
      const raw = await readCanary(canaries, canary);
      return raw && hooksOf(raw);
    },
  };
  const routes = createRoutesActivities({
    kube,
    log,
    defaultProvider,
    ...(deps.ingressAnnotationsPrefix ? { ingressAnnotationsPrefix: deps.ingressAnnotationsPrefix } : {}),
    ...(deps.ingressClass ? { ingressClass: deps.ingressClass } : {}),
    ...(deps.selectorLabels ? { selectorLabels: deps.selectorLabels } : {}),
  });
  const k8s = createKubernetesActivities(deps, {
    getRoutes: routes.getRoutes,
    postEvent: async (input, event, sequence, raw) => {
      // The hooks of the Canary recordEvents just read: no second read per event.
      await postEvent(
        { ...webhookDeps, resolveHooks: async () => hooksOf(raw) },
        {
          canary: input.canary,
          revision: input.revision,
          phase: input.phase,
          event,
          hooks: input.eventHooks,
          idempotencyKey: `canary/${input.canary.namespace}/${input.canary.name}/${input.runId}/event-${sequence}`,
        },
      );
    },
    finalizeRoutes: (canary) => routes.finalizeRoutes({ canary }),
    postLifecycleEvent: async (raw, event, key) => {
      const hooks = hooksOf(raw);
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
  const alerting = createAlertActivities({
    kube,
    log,
    globalNotifier: deps.globalNotifier,
    noCrossNamespaceRefs: deps.noCrossNamespaceRefs,
  });
  // observe answers the tick's DeliveryPolicy and release-group questions too when asked (activities/tick-answers.ts).
  return withTickAnswers(
    {
      ...k8s,
      // The tick's alerts ride along its status write (event-driven-phases), best effort as sendAlert is.
      writeStatus: async (input) => {
        await k8s.writeStatus(input);
        for (const a of input.alerts ?? [])
          await alerting.sendAlert({ ...a, canary: input.canary }).catch((err: unknown) => {
            log.warn({ error: String(err) }, 'alert not sent');
          });
      },
      ...routes,
      ...createGroupActivities(deps),
      // The router switches traffic between Services that the Kubernetes activities create: written alongside the
      // router's objects, or first for a router that reads them itself.
      reconcileRoutes: (input) => routes.reconcileRoutes(input, () => k8s.reconcileServices(input)),
      ...createMetricsActivities({
        kube,
        log,
        defaultProvider,
        metricsServer: deps.metricsServer,
        noCrossNamespaceRefs: deps.noCrossNamespaceRefs,
      }),
      ...createWebhookActivities(webhookDeps),
      ...createDeliveryActivities({ kube, log }),
      ...alerting,
    },
    log,
  );
}
