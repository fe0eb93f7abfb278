// kubernetes provider: blue/green through the apex Service alone. There are no weights: the apex Service selects
// either the primary pods (`<label>-primary`, 100/0) or the canary pods (0/100). The Services themselves are
// created by activities/kubernetes; this router only switches the apex selector and reads it back. A Service target
// (`targetRef.kind: Service`) is the user's apex: nothing is switched, all traffic stays where the user routes it.
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Service } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { FAILURE, statusCode } from './errors.ts';
import { isServiceTarget } from '../kubernetes/service-target.ts';
import { FIELD_MANAGER } from './router.ts';
import type { Router, RouterDeps } from './router.ts';

/** The apex selector that points at the primary, saved while the apex points at the canary. */
export const PRIMARY_SELECTOR_ANNOTATION = 'fledge.app/primary-selector';
const PRIMARY_SUFFIX = '-primary';
const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

/** Flagger's warnings for the kubernetes provider, used as failure messages when a caller asks for more. */
export const KUBERNETES_WARNINGS = {
  weights: 'Progressive traffic is not supported when using the kubernetes provider',
  mirror: 'Traffic mirroring is not supported when using the kubernetes provider',
  abTesting: 'A/B testing is not supported when using the kubernetes provider',
} as const;

/** Pure: which side a selector points at. Primary pods carry `<value>-primary` in every selector label. */
export function routesOfSelector(selector: Record<string, string> | undefined): Routes {
  const values = Object.values(selector ?? {});
  const primary = values.length === 0 || values.some((v) => v.endsWith(PRIMARY_SUFFIX));
  return primary ? { primary: 100, canary: 0, mirrored: false } : { primary: 0, canary: 100, mirrored: false };
}

/** Pure: the selector of the canary pods, from the primary one (`podinfo-primary` → `podinfo`). */
export function canarySelector(primary: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(primary).map(([k, v]) => [k, v.endsWith(PRIMARY_SUFFIX) ? v.slice(0, -PRIMARY_SUFFIX.length) : v]),
  );
}

/** Pure: the primary selector from a canary one, for when the saved annotation is gone. */
export function primarySelector(canary: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(canary).map(([k, v]) => [k, v.endsWith(PRIMARY_SUFFIX) ? v : `${v}${PRIMARY_SUFFIX}`]),
  );
}

/** Rejects what blue/green through Services cannot do, with Flagger's warning texts. */
export function checkKubernetesRoutes(primary: number, canary: number, mirrored: boolean): void {
  if (mirrored) throw ApplicationFailure.nonRetryable(KUBERNETES_WARNINGS.mirror, FAILURE.invalidSpec);
  const allOrNothing = (primary === 100 && canary === 0) || (primary === 0 && canary === 100);
  if (!allOrNothing)
    throw ApplicationFailure.nonRetryable(
      `${KUBERNETES_WARNINGS.weights} (asked for primary ${primary} / canary ${canary})`,
      FAILURE.invalidSpec,
    );
}

export function createKubernetesRouter(deps: RouterDeps): Router {
  const core = deps.kube.makeApiClient(CoreV1Api);

  async function readApex(canary: Canary): Promise<V1Service> {
    const name = serviceNames(canary).apex;
    const namespace = canary.metadata.namespace ?? 'default';
    try {
      return await core.readNamespacedService({ name, namespace });
    } catch (err) {
      // initializePrimary creates the apex Service before routes are reconciled: a miss is worth retrying.
      if (statusCode(err) === 404)
        throw ApplicationFailure.retryable(`apex Service ${namespace}/${name} not found`, FAILURE.routeNotFound);
      throw err;
    }
  }

  async function patchApex(canary: Canary, body: object): Promise<V1Service> {
    return core.patchNamespacedService(
      {
        name: serviceNames(canary).apex,
        namespace: canary.metadata.namespace ?? 'default',
        body,
        fieldManager: FIELD_MANAGER,
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async function switchTo(canary: Canary, side: 'primary' | 'canary'): Promise<Routes> {
    const apex = await readApex(canary);
    const selector = apex.spec?.selector ?? {};
    const current = routesOfSelector(selector);
    if ((side === 'canary') === current.canary > 0) return current;
    const annotations = apex.metadata?.annotations ?? {};
    let patch: object;
    if (side === 'canary') {
      patch = {
        metadata: { annotations: { [PRIMARY_SELECTOR_ANNOTATION]: JSON.stringify(selector) } },
        spec: { selector: canarySelector(selector) },
      };
    } else {
      const saved = annotations[PRIMARY_SELECTOR_ANNOTATION];
      patch = {
        metadata: { annotations: { [PRIMARY_SELECTOR_ANNOTATION]: null } },
        spec: { selector: saved ? (JSON.parse(saved) as Record<string, string>) : primarySelector(selector) },
      };
    }
    const updated = await patchApex(canary, patch);
    deps.log?.info({ service: updated.metadata?.name, side }, 'switched apex Service selector');
    return routesOfSelector(updated.spec?.selector);
  }

  return {
    // The apex Service is its route: reconciled after the Services.
    readsServices: true,
    async reconcile(canary) {
      if (isServiceTarget(canary.spec.targetRef)) return ALL_TO_PRIMARY;
      return routesOfSelector((await readApex(canary)).spec?.selector);
    },
    async setRoutes(canary, primary, canaryWeight, mirrored) {
      checkKubernetesRoutes(primary, canaryWeight, mirrored);
      // A Service target's apex is the user's target Service: Flagger's KubernetesNoopRouter leaves it alone.
      if (isServiceTarget(canary.spec.targetRef)) return ALL_TO_PRIMARY;
      return switchTo(canary, canaryWeight === 100 ? 'canary' : 'primary');
    },
    async getRoutes(canary) {
      if (isServiceTarget(canary.spec.targetRef)) return ALL_TO_PRIMARY;
      try {
        return routesOfSelector((await readApex(canary)).spec?.selector);
      } catch (err) {
        // observe runs before initialization creates the apex Service: all traffic is still the target's.
        if (err instanceof ApplicationFailure && err.type === FAILURE.routeNotFound) return ALL_TO_PRIMARY;
        throw err;
      }
    },
    // Flagger's NopRouter: on deletion the Kubernetes activities' finalizeCanary points an adopted apex Service
    // at the target's pods; switching it back to the primary here would undo that (the primary is about to go).
    async finalize() {},
  };
}
