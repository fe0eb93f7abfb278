// Gloo Edge router (Flagger pkg/router/gloo.go): two Upstreams on the primary and canary Services and one
// RouteTable `<apex>` weighting them, written by server-side apply (field manager `fledge`). A VirtualService of
// the user delegates to the RouteTable (Flagger's tutorial). Objects come from the pure builders in gloo-objects.ts.
import { CoreV1Api, KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { FAILURE, statusCode } from './errors.ts';
import {
  GLOO_API_VERSION,
  GLOO_GATEWAY_API_VERSION,
  buildRouteTable,
  buildUpstream,
  routesOfRouteTable,
  upstreamNames,
} from './gloo-objects.ts';
import type { RouteTable, Upstream } from './gloo-objects.ts';
import type { OwnerReference } from './httproute.ts';
import { canaryOwner, isManaged, namespaceOf } from './object-meta.ts';
import { serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

type Owned = { metadata: { ownerReferences?: OwnerReference[] } };

/**
 * The Gloo Edge router.
 * - reconcile: applies both Upstreams (selector read from the `<apex>-primary`/`-canary` Services; settings
 *   copied from `upstreamRef`, re-copied on every reconcile where Flagger re-synced only the load balancer config)
 *   and the RouteTable with all traffic on the primary, or keeping the weights in force. Objects fledge did not
 *   create are taken over (as Flagger does) without an owner reference.
 * - setRoutes: applies the Upstreams again (Flagger reconciles before every SetRoutes), then writes both weights
 *   and the A/B matchers; `mirrored` is ignored, as Flagger ignores it.
 * - getRoutes: the stored weights, never mirrored; 100/0 before fledge wrote the RouteTable; a retryable
 *   RouteNotReady when its first route has no primary destination. Gloo writes no status fledge reads.
 * - finalize: deletes the RouteTable and Upstreams the Canary owns (Flagger's Finalize does nothing and the garbage
 *   collector deletes them with the Canary); taken-over ones are left as they are.
 * Errors: a missing Service or `upstreamRef` Upstream is a 404 the activity retries (Flagger's "get query error").
 */
export function createGlooRouter(deps: RouterDeps): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);
  const core = deps.kube.makeApiClient(CoreV1Api);

  async function read<T>(apiVersion: string, kind: string, name: string, namespace: string): Promise<T | undefined> {
    try {
      return (await objects.read({ apiVersion, kind, metadata: { name, namespace } })) as unknown as T;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  const readTable = (canary: Canary) =>
    read<RouteTable>(GLOO_GATEWAY_API_VERSION, 'RouteTable', serviceNames(canary).apex, namespaceOf(canary));

  async function apply<T>(object: T): Promise<T> {
    return serverSideApply(objects, object);
  }

  /** The owner to keep on an object: the Canary's when fledge creates it or already owns it. */
  function ownerFor(canary: Canary, current: Owned | undefined): OwnerReference | undefined {
    const owner = canaryOwner(canary);
    return current === undefined || ownedBy(current, canary) ? owner : undefined;
  }

  async function template(canary: Canary): Promise<Record<string, unknown> | undefined> {
    const ref = canary.spec.upstreamRef;
    if (!ref) return undefined;
    const upstream = await objects.read({
      apiVersion: GLOO_API_VERSION,
      kind: 'Upstream',
      metadata: { name: ref.name, namespace: ref.namespace || namespaceOf(canary) },
    });
    return (upstream as unknown as Upstream).spec;
  }

  async function applyUpstreams(canary: Canary): Promise<void> {
    const ns = namespaceOf(canary);
    const spec = await template(canary);
    for (const role of ['primary', 'canary'] as const) {
      const service = await core.readNamespacedService({ name: serviceNames(canary)[role], namespace: ns });
      const current = await read<Upstream>(GLOO_API_VERSION, 'Upstream', upstreamNames(canary)[role], ns);
      const owner = ownerFor(canary, current);
      const selector = service.spec?.selector;
      await apply(
        buildUpstream({
          canary,
          role,
          ...(selector ? { selector } : {}),
          ...(spec ? { template: spec } : {}),
          ...(owner ? { owner } : {}),
        }),
      );
    }
  }

  async function writeTable(canary: Canary, current: RouteTable | undefined, routes: Routes): Promise<Routes> {
    const owner = ownerFor(canary, current);
    const stored = await apply(buildRouteTable({ canary, routes, ...(owner ? { owner } : {}) }));
    if (current === undefined)
      deps.log?.info({ routeTable: `${namespaceOf(canary)}/${stored.metadata.name}` }, 'created');
    return routesOfRouteTable(stored, canary) ?? ALL_TO_PRIMARY;
  }

  return {
    // Its Upstreams take the selectors of the primary and canary Services: reconciled after the Services.
    readsServices: true,
    async reconcile(canary) {
      await applyUpstreams(canary);
      const current = await readTable(canary);
      const kept = current && isManaged(current) ? routesOfRouteTable(current, canary) : undefined;
      return writeTable(canary, current, kept ?? ALL_TO_PRIMARY);
    },

    async setRoutes(canary, primary, canaryWeight) {
      // Flagger reconciles (and so syncs the Upstreams) before every SetRoutes; the weights need both Upstreams.
      await applyUpstreams(canary);
      return writeTable(canary, await readTable(canary), { primary, canary: canaryWeight, mirrored: false });
    },

    async getRoutes(canary) {
      const table = await readTable(canary);
      // observe runs before the first reconcile creates (or takes over) the table: nothing goes to the canary.
      if (!table || !isManaged(table)) return ALL_TO_PRIMARY;
      const routes = routesOfRouteTable(table, canary);
      if (routes) return routes;
      throw ApplicationFailure.retryable(
        `RouteTable ${namespaceOf(canary)}/${table.metadata.name} destinations not found`,
        FAILURE.routeNotReady,
      );
    },

    async finalize(canary) {
      const ns = namespaceOf(canary);
      const names = upstreamNames(canary);
      const owned = [
        await readTable(canary),
        await read<Upstream>(GLOO_API_VERSION, 'Upstream', names.primary, ns),
        await read<Upstream>(GLOO_API_VERSION, 'Upstream', names.canary, ns),
      ].filter((o): o is RouteTable | Upstream => o !== undefined && ownedBy(o, canary));
      for (const object of owned) {
        await objects.delete(object as unknown as KubernetesObject);
        deps.log?.info({ [object.kind]: `${ns}/${object.metadata.name}` }, `deleted ${object.kind}`);
      }
    },
  };
}

function ownedBy(object: Owned, canary: Canary): boolean {
  const uid = canaryOwner(canary)?.uid;
  return uid !== undefined && (object.metadata.ownerReferences?.some((o) => o.uid === uid) ?? false);
}
