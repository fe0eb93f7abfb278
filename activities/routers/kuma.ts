// Kuma router (Flagger pkg/router/kuma.go): one cluster-scoped TrafficRoute `<apex>` (kuma.io/v1alpha1) per
// Canary splitting the apex Service's traffic between the primary and the canary, written by server-side apply
// (field manager `fledge`). Objects come from the pure builders in trafficroute.ts.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { FAILURE, statusCode } from './errors.ts';
import { MANAGED_ANNOTATION } from './object-meta.ts';
import { serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';
import {
  ADOPTED_ANNOTATION,
  KUMA_API_VERSION,
  buildTrafficRoute,
  managedBy,
  routesOfTrafficRoute,
} from './trafficroute.ts';
import type { TrafficRoute } from './trafficroute.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

/**
 * The Kuma router.
 * - reconcile: creates the TrafficRoute with all traffic on the primary in the mesh of the Canary's `kuma.io/mesh`
 *   annotation (default `default`); an existing one keeps its mesh and the weights in force (Flagger keeps both).
 *   One fledge did not write is taken over (as Flagger does) and marked adopted.
 * - setRoutes: writes both weights; `mirrored` is ignored, as Flagger ignores it.
 * - getRoutes: the stored weights, never mirrored; 100/0 before fledge wrote the object; a retryable RouteNotReady
 *   when no split routes to the primary. Kuma writes no status, so there is no readiness gate.
 * - finalize: deletes the TrafficRoute fledge created for this Canary. Flagger's Finalize does nothing and, the
 *   object being cluster-scoped and unowned, it outlives the Canary; an adopted one is left in place.
 */
export function createKumaRouter(deps: RouterDeps): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);

  async function read(canary: Canary): Promise<TrafficRoute | undefined> {
    const header = {
      apiVersion: KUMA_API_VERSION,
      kind: 'TrafficRoute',
      metadata: { name: serviceNames(canary).apex },
    };
    try {
      return (await objects.read(header)) as unknown as TrafficRoute;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async function write(canary: Canary, current: TrafficRoute | undefined, routes: Routes): Promise<Routes> {
    const adopted =
      current !== undefined &&
      (!managed(current, canary) || current.metadata.annotations?.[ADOPTED_ANNOTATION] === 'true');
    const route = buildTrafficRoute({ canary, routes, adopted, ...(current?.mesh ? { mesh: current.mesh } : {}) });
    const stored = (await serverSideApply(objects, route)) as unknown as TrafficRoute;
    if (current === undefined) deps.log?.info({ trafficRoute: route.metadata.name, mesh: route.mesh }, 'created');
    return routesOfTrafficRoute(stored, canary) ?? ALL_TO_PRIMARY;
  }

  return {
    async reconcile(canary) {
      const current = await read(canary);
      const kept = current && managed(current, canary) ? routesOfTrafficRoute(current, canary) : undefined;
      return write(canary, current, kept ?? ALL_TO_PRIMARY);
    },

    async setRoutes(canary, primary, canaryWeight) {
      return write(canary, await read(canary), { primary, canary: canaryWeight, mirrored: false });
    },

    async getRoutes(canary) {
      const route = await read(canary);
      // observe runs before the first reconcile creates (or takes over) the object: nothing goes to the canary.
      if (!route || !managed(route, canary)) return ALL_TO_PRIMARY;
      const routes = routesOfTrafficRoute(route, canary);
      if (routes) return routes;
      const names = serviceNames(canary);
      throw ApplicationFailure.retryable(
        `TrafficRoute ${route.metadata.name} does not contain routes for ${names.primary} and ${names.canary}`,
        FAILURE.routeNotReady,
      );
    },

    async finalize(canary) {
      const route = await read(canary);
      if (!route || !managed(route, canary) || route.metadata.annotations?.[ADOPTED_ANNOTATION] === 'true') return;
      await objects.delete(route as unknown as KubernetesObject);
      deps.log?.info({ trafficRoute: route.metadata.name }, 'deleted TrafficRoute');
    },
  };
}

function managed(route: TrafficRoute, canary: Canary): boolean {
  return route.metadata.annotations?.[MANAGED_ANNOTATION] === managedBy(canary);
}
