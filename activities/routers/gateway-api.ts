// Gateway API router: one HTTPRoute `<service.name>` per Canary, written by server-side apply (field manager
// `fledge`), so re-applying the same routes is a no-op and fields other managers own are left alone.
import { randomBytes } from 'node:crypto';
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { serviceNames } from '../../api/validate.ts';
import { FAILURE, statusCode } from './errors.ts';
import {
  ANNOTATIONS,
  buildHttpRoute,
  cookiesFromAnnotations,
  nextSessionCookies,
  parentAcceptance,
  readRoutes,
} from './httproute.ts';
import type { GatewayApiVersion, HTTPRoute } from './httproute.ts';
import { canaryOwner, namespaceOf } from './object-meta.ts';
import { FIELD_MANAGER, serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

type StoredRoute = HTTPRoute & { metadata: { managedFields?: unknown[] } };

export function createGatewayApiRouter(deps: RouterDeps & { version: GatewayApiVersion }): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);
  const apiVersion = `gateway.networking.k8s.io/${deps.version}`;
  const random = deps.random ?? randomCookieValue;

  async function read(canary: Canary): Promise<StoredRoute | undefined> {
    const header = {
      apiVersion,
      kind: 'HTTPRoute',
      metadata: { name: routeName(canary), namespace: namespaceOf(canary) },
    };
    try {
      return (await objects.read(header)) as unknown as StoredRoute;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async function apply(route: HTTPRoute): Promise<HTTPRoute> {
    return serverSideApply(objects, route);
  }

  /** Writes the routes, keeping what the stored route says about ownership, adoption and session cookies. */
  async function write(canary: Canary, current: StoredRoute | undefined, routes: Routes): Promise<Routes> {
    const adopted = current !== undefined && !managedByFledge(current);
    const originalSpec = adopted
      ? JSON.stringify(current.spec)
      : current?.metadata.annotations?.[ANNOTATIONS.originalSpec];
    const cookies = nextSessionCookies(
      canary,
      routes.canary,
      cookiesFromAnnotations(current?.metadata.annotations),
      random,
    );
    // Routes we create belong to the Canary (garbage-collected with it, as Flagger does); adopted ones do not.
    const owner = originalSpec === undefined ? canaryOwner(canary) : undefined;
    const route = buildHttpRoute({
      canary,
      version: deps.version,
      routes,
      cookies,
      ...(owner ? { owner } : {}),
      ...(originalSpec !== undefined ? { originalSpec } : {}),
    });
    if (adopted)
      deps.log?.info({ route: `${namespaceOf(canary)}/${route.metadata.name}` }, 'adopting existing HTTPRoute');
    const stored = await apply(route);
    return readRoutes(stored, canary);
  }

  return {
    async reconcile(canary) {
      const current = await read(canary);
      // Keep the weights in force: reconcile runs at every initialization, also mid-rollout after a restart.
      const routes = current && managedByFledge(current) ? readRoutes(current, canary) : ALL_TO_PRIMARY;
      return write(canary, current, routes);
    },

    async setRoutes(canary, primary, canaryWeight, mirrored) {
      return write(canary, await read(canary), { primary, canary: canaryWeight, mirrored });
    },

    async getRoutes(canary) {
      const route = await read(canary);
      // observe runs before the first reconcile creates the route: nothing is routed to the canary yet.
      if (!route) return ALL_TO_PRIMARY;
      const acceptance = parentAcceptance(route, deps.allowUnreportedParents);
      if (!acceptance.ready) throw ApplicationFailure.retryable(acceptance.message, FAILURE.routeNotReady);
      return readRoutes(route, canary);
    },

    async finalize(canary) {
      const route = await read(canary);
      if (!route || !managedByFledge(route)) return;
      const original = route.metadata.annotations?.[ANNOTATIONS.originalSpec];
      if (original === undefined) {
        await objects.delete(route as unknown as KubernetesObject);
        deps.log?.info({ route: `${namespaceOf(canary)}/${route.metadata.name}` }, 'deleted HTTPRoute');
        return;
      }
      await objects.replace(
        restored(route, JSON.parse(original) as HTTPRoute['spec']) as unknown as KubernetesObject,
        undefined,
        undefined,
        FIELD_MANAGER,
      );
      deps.log?.info({ route: `${namespaceOf(canary)}/${route.metadata.name}` }, 'restored adopted HTTPRoute');
    },
  };
}

/** The stored route with its pre-adoption spec and without fledge's annotations. */
function restored(route: StoredRoute, spec: HTTPRoute['spec']): HTTPRoute {
  const annotations = Object.fromEntries(
    Object.entries(route.metadata.annotations ?? {}).filter(([k]) => !k.startsWith('fledge.app/')),
  );
  const { managedFields: _managed, ...metadata } = route.metadata;
  void _managed;
  return { ...route, metadata: { ...metadata, annotations }, spec };
}

function managedByFledge(route: HTTPRoute): boolean {
  return route.metadata.annotations?.[ANNOTATIONS.canary] !== undefined;
}

function routeName(canary: Canary): string {
  return serviceNames(canary).apex;
}

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Flagger's randSeq: an opaque cookie value. */
function randomCookieValue(): string {
  return [...randomBytes(32)].map((b) => ALPHANUMERIC[b % ALPHANUMERIC.length]).join('');
}
