// APISIX router (Flagger pkg/router/apisix.go): the user's ApisixRoute (spec.routeRef) stays as written; fledge
// applies a `<route>-<apex>-canary` copy whose HTTP route, at a higher priority, splits traffic between
// `<apex>-primary` and `<apex>-canary` by backend weight. Written by server-side apply (field manager `fledge`);
// the user's ApisixRoute is only read.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import {
  buildCanaryApisixRoute,
  canaryApisixRouteName,
  requireRouteRef,
  routesOfApisixRoute,
  type ApisixRoute,
} from './apisix-route.ts';
import { FAILURE, statusCode } from './errors.ts';
import { canaryOwner, isManaged, isManagedFor, isOwnedBy, namespaceOf } from './object-meta.ts';
import { serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

/** APISIX's weighted backends cannot copy requests (Flagger's router ignores the mirror flag). */
export const APISIX_MIRROR_UNSUPPORTED = 'Traffic mirroring is not supported when using the apisix provider';

export function createApisixRouter(deps: RouterDeps): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);

  async function read(canary: Canary, name: string): Promise<ApisixRoute | undefined> {
    const header = {
      apiVersion: 'apisix.apache.org/v2',
      kind: 'ApisixRoute',
      metadata: { name, namespace: namespaceOf(canary) },
    };
    try {
      return JSON.parse(JSON.stringify(await objects.read(header))) as ApisixRoute;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async function write(canary: Canary, current: ApisixRoute | undefined, primary: number, weight: number) {
    const name = requireRouteRef(canary);
    const route = await read(canary, name);
    // The route may be applied after the Canary: worth retrying, as Flagger does every interval.
    if (!route)
      throw ApplicationFailure.retryable(
        `APISIX route ${name}.${namespaceOf(canary)} not found`,
        FAILURE.routeNotFound,
      );
    // Created by fledge: owned by the Canary. One found in place (e.g. Flagger's) is taken over unowned.
    const owner = current === undefined || isOwnedBy(current, canary) ? canaryOwner(canary) : undefined;
    const desired = buildCanaryApisixRoute({
      canary,
      route,
      primaryWeight: primary,
      canaryWeight: weight,
      ...(owner ? { owner } : {}),
    });
    if (current && !isManaged(current))
      deps.log?.info({ route: `${namespaceOf(canary)}/${desired.metadata.name}` }, 'taking over canary ApisixRoute');
    const stored = (await serverSideApply(objects, desired)) as unknown as ApisixRoute;
    return routesOfApisixRoute(canary, JSON.parse(JSON.stringify(stored)) as ApisixRoute);
  }

  return {
    // A new copy sends everything to the primary (Flagger's Reconcile); an existing one keeps its weights, since
    // reconcile also runs mid-rollout after a restart.
    async reconcile(canary) {
      const current = await read(canary, canaryApisixRouteName(canary));
      const routes = current && isManaged(current) ? routesOfApisixRoute(canary, current) : ALL_TO_PRIMARY;
      return write(canary, current, routes.primary, routes.canary);
    },

    async setRoutes(canary, primary, weight, mirrored) {
      if (mirrored) throw ApplicationFailure.nonRetryable(APISIX_MIRROR_UNSUPPORTED, FAILURE.invalidSpec);
      return write(canary, await read(canary, canaryApisixRouteName(canary)), primary, weight);
    },

    async getRoutes(canary) {
      const current = await read(canary, canaryApisixRouteName(canary));
      // observe runs before the first reconcile creates (or takes over) the copy: nothing reaches the canary yet.
      if (!current || !isManaged(current)) return ALL_TO_PRIMARY;
      return routesOfApisixRoute(canary, current);
    },

    // Flagger leaves the copy to garbage collection through its owner reference; fledge deletes the one it
    // manages for this Canary right away (the user's route, below it in priority, takes the traffic back).
    async finalize(canary) {
      const current = await read(canary, canaryApisixRouteName(canary));
      if (!current || !isManagedFor(current, canary)) return;
      await objects.delete(current as unknown as KubernetesObject);
      deps.log?.info({ route: `${namespaceOf(canary)}/${current.metadata.name}` }, 'deleted canary ApisixRoute');
    },
  };
}
