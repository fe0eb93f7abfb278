// SMI router (providers linkerd, osm, smi:v1alpha1|2|3): one TrafficSplit `<service.name>` per Canary, written
// by server-side apply (field manager `fledge`), so re-applying the same weights is a no-op. Behaviour follows
// Flagger v1.44 pkg/router/smi.go and smi_v1alpha2/3.go; objects come from the pure builders in trafficsplit.ts.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { FAILURE, statusCode } from './errors.ts';
import { canaryOwner, namespaceOf } from './object-meta.ts';
import { serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';
import { SMI_GROUP, buildTrafficSplit, readSplit, splitMatches } from './trafficsplit.ts';
import type { SmiVersion, TrafficSplit } from './trafficsplit.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

/**
 * The SMI router of one TrafficSplit API version.
 * - reconcile: creates the TrafficSplit at 100/0 (owned by the Canary), or keeps the stored weights when the stored
 *   split already routes the Canary's services (Flagger resets only a split whose service/backends differ).
 * - setRoutes: writes both weights; `mirrored` is ignored (SMI cannot mirror; Flagger ignores it too).
 * - getRoutes: the stored weights, never mirrored; 100/0 before the split exists; a retryable RouteNotReady when
 *   neither backend has weight (Flagger's "does not contain routes" error).
 * - finalize: deletes the TrafficSplit fledge created (the one owned by the Canary), which the garbage collector
 *   would delete with the Canary anyway (Flagger's Finalize is a no-op and leaves it to the collector); a split
 *   fledge adopted is left as it is.
 */
export function createSmiRouter(deps: RouterDeps & { version: SmiVersion }): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);
  const apiVersion = `${SMI_GROUP}/${deps.version}`;

  async function read(canary: Canary): Promise<TrafficSplit | undefined> {
    const header = {
      apiVersion,
      kind: 'TrafficSplit',
      metadata: { name: splitName(canary), namespace: namespaceOf(canary) },
    };
    try {
      return (await objects.read(header)) as unknown as TrafficSplit;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async function write(canary: Canary, current: TrafficSplit | undefined, routes: Routes): Promise<Routes> {
    // Flagger sets the owner when it creates the split; keep it on later applies, or apply would drop it.
    const owner = canaryOwner(canary);
    const owned = current === undefined || current.metadata.ownerReferences?.some((o) => o.uid === owner?.uid);
    const split = buildTrafficSplit({ canary, version: deps.version, routes, ...(owned && owner ? { owner } : {}) });
    const stored = (await serverSideApply(objects, split)) as unknown as TrafficSplit;
    if (current === undefined)
      deps.log?.info({ trafficSplit: `${namespaceOf(canary)}/${split.metadata.name}` }, 'created');
    return readSplit(stored, canary) ?? ALL_TO_PRIMARY;
  }

  return {
    async reconcile(canary) {
      const current = await read(canary);
      const kept = current && splitMatches(current, canary) ? readSplit(current, canary) : undefined;
      return write(canary, current, kept ?? ALL_TO_PRIMARY);
    },

    async setRoutes(canary, primary, canaryWeight) {
      return write(canary, await read(canary), { primary, canary: canaryWeight, mirrored: false });
    },

    async getRoutes(canary) {
      const split = await read(canary);
      // observe runs before the first reconcile creates the split: nothing is routed to the canary yet.
      if (!split) return ALL_TO_PRIMARY;
      const routes = readSplit(split, canary);
      if (routes) return routes;
      const names = serviceNames(canary);
      throw ApplicationFailure.retryable(
        `TrafficSplit ${namespaceOf(canary)}/${split.metadata.name} does not contain routes for ${names.primary} and ${names.canary}`,
        FAILURE.routeNotReady,
      );
    },

    async finalize(canary) {
      const split = await read(canary);
      const uid = canaryOwner(canary)?.uid;
      if (!split || !uid || !split.metadata.ownerReferences?.some((o) => o.uid === uid)) return;
      await objects.delete(split as unknown as KubernetesObject);
      deps.log?.info({ trafficSplit: `${namespaceOf(canary)}/${split.metadata.name}` }, 'deleted TrafficSplit');
    },
  };
}

function splitName(canary: Canary): string {
  return serviceNames(canary).apex;
}
