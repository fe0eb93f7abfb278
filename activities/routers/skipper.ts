// Skipper ingress router (Flagger pkg/router/skipper.go): the user's Ingress (spec.ingressRef) stays as written;
// fledge applies a `<ingress>-canary` copy whose apex backends are split into `<apex>-primary` and `<apex>-canary`,
// weighted by `zalando.org/backend-weights`. Written by server-side apply (field manager `fledge`); the user's
// Ingress is only read.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { FAILURE, statusCode } from './errors.ts';
import { RouteSpecError } from './httproute.ts';
import type { Ingress } from './ingress.ts';
import { canaryOwner, isManaged, isManagedFor, isOwnedBy, namespaceOf } from './object-meta.ts';
import { serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';
import { buildSkipperIngress, isDisabled, routesOfSkipperIngress } from './skipper-ingress.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

/** Skipper's backend weights cannot copy requests (Flagger's router ignores the mirror flag). */
export const SKIPPER_MIRROR_UNSUPPORTED = 'Traffic mirroring is not supported when using the skipper provider';

/** spec.ingressRef.name; a RouteSpecError (non-retryable InvalidSpec) when the Canary has none. */
function ingressRefName(canary: Canary): string {
  const name = canary.spec.ingressRef?.name;
  if (!name) throw new RouteSpecError('spec.ingressRef is required with provider skipper (the Ingress to clone)');
  return name;
}

export function createSkipperRouter(deps: RouterDeps): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);

  async function read(canary: Canary, name: string): Promise<Ingress | undefined> {
    const header = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace: namespaceOf(canary) },
    };
    try {
      return JSON.parse(JSON.stringify(await objects.read(header))) as Ingress;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  const readCopy = (canary: Canary) => read(canary, `${ingressRefName(canary)}-canary`);

  /** Applies the copy with these weights; `disabled` puts False() in its predicate. Returns the routes stored. */
  async function write(
    canary: Canary,
    current: Ingress | undefined,
    primaryWeight: number,
    canaryWeight: number,
    disabled: boolean,
  ): Promise<Routes> {
    const name = ingressRefName(canary);
    const ingress = await read(canary, name);
    // The Ingress may be applied after the Canary: worth retrying, as Flagger does every interval.
    if (!ingress)
      throw ApplicationFailure.retryable(`ingress ${name}.${namespaceOf(canary)} not found`, FAILURE.routeNotFound);
    // Created by fledge: owned by the Canary. One found in place (e.g. Flagger's) is taken over unowned.
    const owner = current === undefined || isOwnedBy(current, canary) ? canaryOwner(canary) : undefined;
    const desired = buildSkipperIngress({
      canary,
      ingress,
      primaryWeight,
      canaryWeight,
      disabled,
      ...(owner ? { owner } : {}),
    });
    if (current && !isManaged(current))
      deps.log?.info({ ingress: `${namespaceOf(canary)}/${desired.metadata.name}` }, 'taking over canary Ingress');
    const stored = (await serverSideApply(objects, desired)) as unknown as Ingress;
    return routesOfSkipperIngress(canary, JSON.parse(JSON.stringify(stored)) as Ingress);
  }

  return {
    // A new copy sends everything to the primary with Weight(100), as Flagger's Reconcile creates it; an existing
    // one keeps its weights and its False() (reconcile also runs mid-rollout, after a restart).
    async reconcile(canary) {
      const current = await readCopy(canary);
      if (!current || !isManaged(current)) return write(canary, current, 100, 0, false);
      const routes = routesOfSkipperIngress(canary, current);
      return write(canary, current, routes.primary, routes.canary, isDisabled(current));
    },

    async setRoutes(canary, primaryWeight, canaryWeight, mirrored) {
      if (mirrored) throw ApplicationFailure.nonRetryable(SKIPPER_MIRROR_UNSUPPORTED, FAILURE.invalidSpec);
      // Flagger's SetRoutes disables the copy's routes whenever the canary weight is 0.
      return write(canary, await readCopy(canary), primaryWeight, canaryWeight, canaryWeight === 0);
    },

    async getRoutes(canary) {
      const current = await readCopy(canary);
      // observe runs before the first reconcile creates (or takes over) the copy: nothing reaches the canary yet.
      if (!current || !isManaged(current)) return ALL_TO_PRIMARY;
      return routesOfSkipperIngress(canary, current);
    },

    // Flagger deletes the canary Ingress on finalize; fledge only deletes the one it manages for this Canary.
    async finalize(canary) {
      const current = await readCopy(canary);
      if (!current || !isManagedFor(current, canary)) return;
      await objects.delete(current as unknown as KubernetesObject);
      deps.log?.info({ ingress: `${namespaceOf(canary)}/${current.metadata.name}` }, 'deleted canary Ingress');
    },
  };
}
