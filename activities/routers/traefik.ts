// Traefik router (Flagger pkg/router/traefik.go): one TraefikService `<apex>` (traefik.io/v1alpha1) per Canary,
// a weighted round robin over the primary and canary Services, written by server-side apply (field manager
// `fledge`). Objects come from the pure builders in traefikservice.ts.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { FAILURE, statusCode } from './errors.ts';
import { MANAGED_ANNOTATION, canaryOwner, namespaceOf } from './object-meta.ts';
import { serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';
import { TRAEFIK_API_VERSION, buildTraefikService, routesOfTraefikService } from './traefikservice.ts';
import type { TraefikService } from './traefikservice.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

/**
 * The Traefik router.
 * - reconcile: creates the TraefikService with all traffic on the primary, owned by the Canary; an existing one is
 *   rewritten to the Canary's services keeping the primary's weight in force (Flagger keeps the weights too). A
 *   TraefikService fledge did not create is taken over (as Flagger does) but gets no owner reference.
 * - setRoutes: writes both weights (the canary left out at 0); `mirrored` is ignored, as Flagger ignores it.
 * - getRoutes: the stored weights, never mirrored; 100/0 before fledge wrote the object; a retryable RouteNotReady when
 *   the primary is not among its services. Traefik writes no status, so there is no readiness gate.
 * - finalize: deletes the TraefikService the Canary owns (Flagger's Finalize is a no-op and the garbage collector
 *   deletes it with the Canary); one fledge took over is left as it is.
 */
export function createTraefikRouter(deps: RouterDeps): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);

  async function read(canary: Canary): Promise<TraefikService | undefined> {
    const header = {
      apiVersion: TRAEFIK_API_VERSION,
      kind: 'TraefikService',
      metadata: { name: serviceNames(canary).apex, namespace: namespaceOf(canary) },
    };
    try {
      return (await objects.read(header)) as unknown as TraefikService;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async function write(canary: Canary, current: TraefikService | undefined, routes: Routes): Promise<Routes> {
    // The owner is set when fledge creates the object; keep it on later applies, or apply would drop it.
    const owner = canaryOwner(canary);
    const owned = current === undefined || ownedBy(current, canary);
    const service = buildTraefikService({ canary, routes, ...(owned && owner ? { owner } : {}) });
    const stored = (await serverSideApply(objects, service)) as unknown as TraefikService;
    if (current === undefined)
      deps.log?.info({ traefikService: `${namespaceOf(canary)}/${service.metadata.name}` }, 'created');
    return routesOfTraefikService(stored, canary) ?? ALL_TO_PRIMARY;
  }

  return {
    async reconcile(canary) {
      const current = await read(canary);
      const kept = current ? routesOfTraefikService(current, canary) : undefined;
      return write(canary, current, kept ?? ALL_TO_PRIMARY);
    },

    async setRoutes(canary, primary, canaryWeight) {
      return write(canary, await read(canary), { primary, canary: canaryWeight, mirrored: false });
    },

    async getRoutes(canary) {
      const service = await read(canary);
      // observe runs before the first reconcile creates (or takes over) the object: nothing is routed to the canary.
      if (!service || service.metadata.annotations?.[MANAGED_ANNOTATION] === undefined) return ALL_TO_PRIMARY;
      const routes = routesOfTraefikService(service, canary);
      if (routes) return routes;
      throw ApplicationFailure.retryable(
        `TraefikService ${namespaceOf(canary)}/${service.metadata.name} does not route to ${serviceNames(canary).primary}`,
        FAILURE.routeNotReady,
      );
    },

    async finalize(canary) {
      const service = await read(canary);
      if (!service || !ownedBy(service, canary)) return;
      await objects.delete(service as unknown as KubernetesObject);
      deps.log?.info({ traefikService: `${namespaceOf(canary)}/${service.metadata.name}` }, 'deleted TraefikService');
    },
  };
}

function ownedBy(service: TraefikService, canary: Canary): boolean {
  const uid = canaryOwner(canary)?.uid;
  return uid !== undefined && (service.metadata.ownerReferences?.some((o) => o.uid === uid) ?? false);
}
