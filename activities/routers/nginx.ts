// NGINX ingress router (Flagger pkg/router/ingress.go): the user's Ingress (spec.ingressRef) keeps sending traffic
// to the apex Service (which selects the primary pods); fledge applies a `<ingress>-canary` copy that points at
// `<apex>-canary` and moves traffic with ingress-nginx's canary annotations (weight, or header/cookie for A/B).
// Written by server-side apply (field manager `fledge`); the user's Ingress is only read.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { FAILURE, statusCode } from './errors.ts';
import {
  DEFAULT_ANNOTATIONS_PREFIX,
  buildCanaryIngress,
  canaryIngressName,
  requireIngressRef,
  routesOfCanaryIngress,
} from './ingress.ts';
import type { Ingress } from './ingress.ts';
import { canaryOwner, isManaged, isManagedFor, isOwnedBy, namespaceOf } from './object-meta.ts';
import { serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

/** What ingress-nginx canaries cannot do (Flagger ignores a mirror request and then never gets past weight 0). */
export const NGINX_MIRROR_UNSUPPORTED = 'Traffic mirroring is not supported when using the nginx provider';

export function createNginxRouter(deps: RouterDeps): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);
  const prefix = deps.ingressAnnotationsPrefix || DEFAULT_ANNOTATIONS_PREFIX;

  async function read(canary: Canary, name: string): Promise<Ingress | undefined> {
    const header = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace: namespaceOf(canary) },
    };
    try {
      // A plain JSON copy: the client's model classes carry Dates and undefined fields the builders do not want.
      return JSON.parse(JSON.stringify(await objects.read(header))) as Ingress;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async function userIngress(canary: Canary): Promise<Ingress> {
    const name = requireIngressRef(canary);
    const ingress = await read(canary, name);
    // The Ingress may be applied after the Canary: worth retrying, as Flagger does every interval.
    if (!ingress)
      throw ApplicationFailure.retryable(`ingress ${name}.${namespaceOf(canary)} not found`, FAILURE.routeNotFound);
    return ingress;
  }

  async function write(canary: Canary, current: Ingress | undefined, canaryWeight: number): Promise<Routes> {
    const ingress = await userIngress(canary);
    // Created by fledge: owned by the Canary. One fledge found in place (e.g. Flagger's) is taken over unowned.
    const owner = current === undefined || isOwnedBy(current, canary) ? canaryOwner(canary) : undefined;
    const desired = buildCanaryIngress({ canary, ingress, prefix, canaryWeight, ...(owner ? { owner } : {}) });
    if (current && !isManaged(current))
      deps.log?.info({ ingress: `${namespaceOf(canary)}/${desired.metadata.name}` }, 'taking over canary Ingress');
    const stored = (await serverSideApply(objects, desired)) as unknown as Ingress;
    return routesOfCanaryIngress(stored, prefix, canary.spec.analysis.match);
  }

  return {
    async reconcile(canary) {
      const current = await read(canary, canaryIngressName(canary));
      // Keep the weights in force: reconcile runs at every initialization, also mid-rollout after a restart.
      const routes =
        current && isManaged(current)
          ? routesOfCanaryIngress(current, prefix, canary.spec.analysis.match)
          : ALL_TO_PRIMARY;
      return write(canary, current, routes.canary);
    },

    async setRoutes(canary, _primary, canaryWeight, mirrored) {
      if (mirrored) throw ApplicationFailure.nonRetryable(NGINX_MIRROR_UNSUPPORTED, FAILURE.invalidSpec);
      return write(canary, await read(canary, canaryIngressName(canary)), canaryWeight);
    },

    async getRoutes(canary) {
      const current = await read(canary, canaryIngressName(canary));
      // observe runs before the first reconcile creates (or takes over) the canary Ingress: nothing reaches the
      // canary yet, whatever a leftover copy says.
      if (!current || !isManaged(current)) return ALL_TO_PRIMARY;
      return routesOfCanaryIngress(current, prefix, canary.spec.analysis.match);
    },

    // Flagger leaves the canary Ingress to garbage collection through its owner reference; fledge deletes it
    // right away (same end state, no window where a deleted Canary still splits traffic).
    async finalize(canary) {
      const current = await read(canary, canaryIngressName(canary));
      if (!current || !isManagedFor(current, canary)) return;
      await objects.delete(current as unknown as KubernetesObject);
      deps.log?.info({ ingress: `${namespaceOf(canary)}/${current.metadata.name}` }, 'deleted canary Ingress');
    },
  };
}
