// Contour router (Flagger pkg/router/contour.go): one HTTPProxy `<apex>` per Canary with weighted
// `<apex>-primary`/`<apex>-canary` services, written by server-side apply (field manager `fledge`). A root
// HTTPProxy of the user includes it (Flagger's tutorial). A pre-existing HTTPProxy of that name is taken over and
// its spec put back on finalize (Flagger overwrote it for good).
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { FAILURE, statusCode } from './errors.ts';
import {
  CONTOUR_API_VERSION,
  ORIGINAL_SPEC_ANNOTATION,
  buildHttpProxy,
  proxyAcceptance,
  routesOfHttpProxy,
} from './httpproxy.ts';
import type { HTTPProxy } from './httpproxy.ts';
import { canaryOwner, isManaged, isManagedFor, namespaceOf } from './object-meta.ts';
import { serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

export function createContourRouter(deps: RouterDeps): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);

  async function read(canary: Canary): Promise<HTTPProxy | undefined> {
    const header = {
      apiVersion: CONTOUR_API_VERSION,
      kind: 'HTTPProxy',
      metadata: { name: serviceNames(canary).apex, namespace: namespaceOf(canary) },
    };
    try {
      return (await objects.read(header)) as unknown as HTTPProxy;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async function write(canary: Canary, current: HTTPProxy | undefined, routes: Routes): Promise<Routes> {
    const adopted = current !== undefined && !isManaged(current);
    const originalSpec = adopted
      ? JSON.stringify(current.spec)
      : current?.metadata.annotations?.[ORIGINAL_SPEC_ANNOTATION];
    // Proxies fledge creates belong to the Canary (garbage-collected with it, as Flagger does); taken-over ones not.
    const owner = originalSpec === undefined ? canaryOwner(canary) : undefined;
    const proxy = buildHttpProxy({
      canary,
      routes,
      ...(deps.ingressClass ? { ingressClass: deps.ingressClass } : {}),
      ...(owner ? { owner } : {}),
      ...(originalSpec !== undefined ? { originalSpec } : {}),
    });
    if (adopted) deps.log?.info({ proxy: `${namespaceOf(canary)}/${proxy.metadata.name}` }, 'taking over HTTPProxy');
    const stored = (await serverSideApply(objects, proxy)) as unknown as HTTPProxy;
    return routesOfHttpProxy(stored, canary);
  }

  return {
    async reconcile(canary) {
      const current = await read(canary);
      // Keep the weights in force (Flagger's Reconcile ignores them when comparing): also mid-rollout.
      const routes = current && isManaged(current) ? routesOfHttpProxy(current, canary) : ALL_TO_PRIMARY;
      return write(canary, current, routes);
    },

    async setRoutes(canary, primary, canaryWeight, mirrored) {
      return write(canary, await read(canary), { primary, canary: canaryWeight, mirrored });
    },

    async getRoutes(canary) {
      const proxy = await read(canary);
      // observe runs before the first reconcile creates the proxy: nothing is routed to the canary yet.
      if (!proxy || !isManaged(proxy)) return ALL_TO_PRIMARY;
      const acceptance = proxyAcceptance(proxy, deps.allowUnreportedParents);
      if (!acceptance.ready) throw ApplicationFailure.retryable(acceptance.message, FAILURE.routeNotReady);
      return routesOfHttpProxy(proxy, canary);
    },

    // Flagger's Finalize does nothing (its proxy goes with the Canary through the owner reference). fledge deletes
    // the proxy it created and puts a taken-over one back as it found it.
    async finalize(canary) {
      const proxy = await read(canary);
      if (!proxy || !isManagedFor(proxy, canary)) return;
      const id = `${namespaceOf(canary)}/${proxy.metadata.name}`;
      const original = proxy.metadata.annotations?.[ORIGINAL_SPEC_ANNOTATION];
      if (original === undefined) {
        await objects.delete(proxy as unknown as KubernetesObject);
        deps.log?.info({ proxy: id }, 'deleted HTTPProxy');
        return;
      }
      await objects.replace(restored(proxy, JSON.parse(original) as HTTPProxy['spec']) as unknown as KubernetesObject);
      deps.log?.info({ proxy: id }, 'restored taken-over HTTPProxy');
    },
  };
}

/** The stored proxy with its pre-takeover spec and without fledge's annotations. */
function restored(proxy: HTTPProxy, spec: HTTPProxy['spec']): HTTPProxy {
  const annotations = Object.fromEntries(
    Object.entries(proxy.metadata.annotations ?? {}).filter(([k]) => !k.startsWith('fledge.app/')),
  );
  const { managedFields: _managed, ...metadata } = proxy.metadata as HTTPProxy['metadata'] & {
    managedFields?: unknown;
  };
  void _managed;
  return { ...proxy, metadata: { ...metadata, annotations }, spec };
}
