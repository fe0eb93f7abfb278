// App Mesh router (`appmesh:v1beta2`, legacy `appmesh` on the v1beta1 API): VirtualNodes, VirtualRouters and
// VirtualServices built by appmesh-objects.ts, written by server-side apply (field manager `fledge`), so fields the
// App Mesh controller owns (meshRef, awsName, status) are left alone. Flagger v1.44 pkg/router/appmesh*.go.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { MESH_NAME_REQUIRED } from '../../api/canary.ts';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { DEFAULT_SELECTOR_LABELS, selectorLabel } from '../kubernetes/workload.ts';
import type { Workload } from '../kubernetes/workload.ts';
import {
  APPMESH_GROUP,
  appMeshObjectsV1beta1,
  appMeshObjectsV1beta2,
  readWeights,
  weightsObject,
} from './appmesh-objects.ts';
import type { AppMeshObject, AppMeshVersion, BuildInput } from './appmesh-objects.ts';
import { FAILURE, statusCode } from './errors.ts';
import { canaryOwner } from './object-meta.ts';
import { serverSideApply } from './router.ts';
import type { Router, RouterDeps } from './router.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };

/** Failure text for a mirror request: App Mesh has no traffic shadowing (Flagger lists it for Istio and Gateway API). */
export const APPMESH_MIRROR_UNSUPPORTED = 'Traffic mirroring is not supported when using the appmesh provider';

/**
 * The App Mesh router of one API version. reconcile creates or updates every object, keeping the weights in force
 * (all to the primary when new); setRoutes re-applies them with new weights on the apex object's first route;
 * getRoutes reads those back (no status wait: Flagger reads the spec); finalize does nothing (Flagger: the objects go with the Canary through
 * their owner reference). Errors: legacy without `service.meshName` → non-retryable InvalidSpec
 * (`mesh name cannot be empty`); a mirror request → non-retryable InvalidSpec; an apex object without the two
 * weighted targets → retryable RouteNotReady; a missing target workload (v1beta2) → retryable RouteNotFound.
 */
export function createAppMeshRouter(deps: RouterDeps & { version: AppMeshVersion }): Router {
  const objects = KubernetesObjectApi.makeApiClient(deps.kube);
  const apiVersion = `${APPMESH_GROUP}/${deps.version}`;

  async function read(kind: string, name: string, namespace: string): Promise<KubernetesObject | undefined> {
    try {
      return await objects.read({ apiVersion, kind, metadata: { name, namespace } });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async function apply(o: AppMeshObject): Promise<void> {
    await serverSideApply(objects, o);
  }

  async function storedWeights(canary: Canary): Promise<Routes | undefined> {
    const { kind, name } = weightsObject(canary, deps.version);
    return readWeights(await read(kind, name, ns(canary)), canary);
  }

  /** The target's selector label (v1beta2 pod selectors): the first configured one it selects on, else the first. */
  async function labelOf(canary: Canary): Promise<string> {
    const labels = deps.selectorLabels ?? DEFAULT_SELECTOR_LABELS;
    const { kind, name } = canary.spec.targetRef;
    if (kind !== 'Deployment' && kind !== 'DaemonSet') return labels[0] ?? 'app';
    const target = (await objects
      .read({ apiVersion: 'apps/v1', kind, metadata: { name, namespace: ns(canary) } })
      .catch((err: unknown) => {
        if (statusCode(err) === 404)
          throw ApplicationFailure.retryable(
            `${kind.toLowerCase()} ${name}.${ns(canary)} not found`,
            FAILURE.routeNotFound,
          );
        throw err;
      })) as Workload;
    return selectorLabel(target, labels)?.label ?? labels[0] ?? 'app';
  }

  function input(canary: Canary, routes: BuildInput['routes'], label?: string): BuildInput {
    const owner = canaryOwner(canary);
    return { canary, routes, ...(owner ? { owner } : {}), ...(label ? { selectorLabel: label } : {}) };
  }

  /** Applies every object with these apex weights; re-applying unchanged objects does not rewrite them. */
  async function write(canary: Canary, routes: BuildInput['routes']): Promise<number> {
    if (deps.version === 'v1beta1' && !canary.spec.service?.meshName)
      throw ApplicationFailure.nonRetryable(MESH_NAME_REQUIRED, FAILURE.invalidSpec);
    const all =
      deps.version === 'v1beta2'
        ? appMeshObjectsV1beta2(input(canary, routes, await labelOf(canary)))
        : appMeshObjectsV1beta1(input(canary, routes));
    // Nodes first: the routers name them (Flagger's order).
    for (const o of all) await apply(o);
    return all.length;
  }

  return {
    async reconcile(canary) {
      // Keep the weights in force: reconcile runs at every initialization and spec edit, also mid-rollout.
      const routes = (await storedWeights(canary)) ?? ALL_TO_PRIMARY;
      const count = await write(canary, routes);
      deps.log?.info(
        { canary: `${ns(canary)}/${canary.metadata.name}`, objects: count },
        'reconciled App Mesh objects',
      );
      return routes;
    },

    // Flagger updates the apex object only and fails while it is missing; fledge applies the whole set, so a
    // setRoutes before any reconcile (e.g. a rollout resumed after a restart) never leaves a router without nodes.
    // Only the apex object changes when the others are in place.
    async setRoutes(canary, primary, canaryWeight, mirrored) {
      if (mirrored) throw ApplicationFailure.nonRetryable(APPMESH_MIRROR_UNSUPPORTED, FAILURE.invalidSpec);
      await write(canary, { primary, canary: canaryWeight });
      return { primary, canary: canaryWeight, mirrored: false };
    },

    async getRoutes(canary) {
      const { kind, name } = weightsObject(canary, deps.version);
      const stored = await read(kind, name, ns(canary));
      // observe runs before the first reconcile creates the objects: nothing is routed to the canary yet.
      if (!stored) return ALL_TO_PRIMARY;
      const routes = readWeights(stored, canary);
      if (!routes)
        throw ApplicationFailure.retryable(
          `${kind} ${ns(canary)}/${name} has no route to ${name.split('.')[0]}-primary and -canary`,
          FAILURE.routeNotReady,
        );
      return routes;
    },

    // Flagger's App Mesh routers finalize nothing: the objects stay until the Canary (their owner) is deleted.
    async finalize() {},
  };
}

function ns(canary: Canary): string {
  return canary.metadata.namespace ?? 'default';
}
