// The router contract (Flagger's pkg/router Interface): one implementation per traffic provider.
import { PatchStrategy } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';

export interface Router {
  /** Create or adopt the routing objects; a new route sends all traffic to the primary. Returns routes in force. */
  reconcile(canary: Canary): Promise<Routes>;
  /** Put absolute weights (and the canary mirror) in force; idempotent. Returns the routes now in force. */
  setRoutes(canary: Canary, primaryWeight: number, canaryWeight: number, mirrored: boolean): Promise<Routes>;
  /** Routes as the cluster has them; throws a retryable error while the routing layer has not accepted them. */
  getRoutes(canary: Canary): Promise<Routes>;
  /** Undo fledge's routing when the Canary is deleted (revertOnDeletion). */
  finalize(canary: Canary): Promise<void>;
  /**
   * The router reads or writes the apex/primary/canary Services itself (the kubernetes router patches the apex, Gloo
   * reads the selectors): its reconcile then runs after the Services', not at the same time (activities/index.ts).
   */
  readonly readsServices?: boolean;
}

export interface RouterDeps {
  kube: KubeConfig;
  log?: Logger;
  /**
   * Let getRoutes pass parents that have not written any status (Flagger's behaviour). Default false: a parent
   * must report Accepted=True for the current generation, so a route no gateway picked up never looks ready.
   */
  allowUnreportedParents?: boolean;
  /** Prefix of ingress-nginx's canary annotations (Flagger's `-ingress-annotations-prefix`); default nginx.ingress.kubernetes.io. */
  ingressAnnotationsPrefix?: string;
  /** spec.ingressClassName of the Contour HTTPProxy (Flagger's `-ingress-class`); default none. */
  ingressClass?: string;
  /** Source of session cookie values; default 32 random alphanumerics. */
  random?: () => string;
  /** Selector labels tried in order (Flagger's `-selector-labels`), for App Mesh pod selectors. */
  selectorLabels?: readonly string[];
}

/** Field manager of every fledge write, so apply ownership is visible in managedFields. */
export const FIELD_MANAGER = 'fledge';

/**
 * Server-side apply of `object` as field manager `fledge`, forcing conflicts: idempotent (re-applying the same
 * object changes nothing), and fields other managers own stay theirs. Returns the object as the apiserver stores it.
 * @throws the client's ApiException (e.g. 404 when the kind's CRD is missing, 422 when its schema refuses the object).
 */
export async function serverSideApply<T>(objects: KubernetesObjectApi, object: T): Promise<T> {
  const stored = await objects.patch(
    object as unknown as KubernetesObject,
    undefined,
    undefined,
    FIELD_MANAGER,
    true,
    PatchStrategy.ServerSideApply,
  );
  return stored as unknown as T;
}
