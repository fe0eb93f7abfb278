// Knative router (Flagger pkg/router/knative.go): the Canary's target is a Knative Service
// (`serving.knative.dev/v1`), and traffic is split in that very Service's `spec.traffic` between the latest
// revision (the canary) and the revision named by its `flagger.app/primary-revision` annotation (the primary).
// Nothing is created: fledge patches the user's Service (JSON merge patches, field manager `fledge`; a missing
// Service is a 404, never created by a write). Shapes come from the pure builders in knative-service.ts.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { Canary } from '../../api/canary.ts';
import type { Routes } from '../../api/ports.ts';
import { FAILURE, statusCode } from './errors.ts';
import {
  KNATIVE_GROUP,
  KNATIVE_VERSION,
  PRIMARY_REVISION_ANNOTATION,
  adoptPatch,
  releasePatch,
  routesOfSpec,
  routesOfStatus,
  splitTraffic,
  type KnativeRevision,
  type KnativeService,
} from './knative-service.ts';
import { FIELD_MANAGER } from './router.ts';
import type { Router, RouterDeps } from './router.ts';

const ALL_TO_PRIMARY: Routes = { primary: 100, canary: 0, mirrored: false };
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Reads and merge patches of Knative Services and Revisions; undefined for a 404 read. */
export interface KnativeClient {
  readService(namespace: string, name: string): Promise<KnativeService | undefined>;
  /** JSON merge patch (field manager `fledge`); a missing Service is the apiserver's 404, not a creation. */
  patchService(namespace: string, name: string, body: object): Promise<KnativeService>;
  readRevision(namespace: string, name: string): Promise<KnativeRevision | undefined>;
}

export function knativeClient(kube: KubeConfig): KnativeClient {
  const custom = kube.makeApiClient(CustomObjectsApi);
  const at = (plural: string, namespace: string, name: string) => ({
    group: KNATIVE_GROUP,
    version: KNATIVE_VERSION,
    plural,
    namespace,
    name,
  });
  const optional = async <T>(read: () => Promise<unknown>): Promise<T | undefined> => {
    try {
      return (await read()) as T;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  };
  return {
    readService: (namespace, name) =>
      optional<KnativeService>(() => custom.getNamespacedCustomObject(at('services', namespace, name))),
    readRevision: (namespace, name) =>
      optional<KnativeRevision>(() => custom.getNamespacedCustomObject(at('revisions', namespace, name))),
    async patchService(namespace, name, body) {
      const stored: unknown = await custom.patchNamespacedCustomObject(
        { ...at('services', namespace, name), body, fieldManager: FIELD_MANAGER },
        MERGE_PATCH,
      );
      return stored as KnativeService;
    },
  };
}

/**
 * The Knative router.
 * - reconcile: a Service without the primary annotation gets it (its latest created revision) and traffic 100 %
 *   to that revision, the traffic found before saved for finalize (Flagger's Reconcile adds only the annotation;
 *   its Initialize writes the split). A Service already routed keeps its split. Returns the split in `spec.traffic`.
 * - setRoutes: `spec.traffic` = latest revision `canary` %, primary revision `primary` %; `mirrored` is ignored
 *   (Knative cannot mirror; validation warns).
 * - getRoutes: Knative's `status.traffic` once it observed the current generation (see routesOfStatus); all to the
 *   primary while fledge has not routed the Service (or it does not exist); else a retryable RouteNotReady.
 * - finalize: annotation removed, `spec.traffic` restored to what it was before fledge (Flagger only removes the
 *   annotation).
 * Errors: a missing Service on a write is a retryable 404 (the target activities report TargetNotFound); a Service
 * without any revision yet is a retryable RouteNotReady.
 */
export function createKnativeRouter(deps: RouterDeps): Router {
  const client = knativeClient(deps.kube);
  const where = (canary: Canary) => ({ namespace: canary.metadata.namespace ?? '', name: canary.spec.targetRef.name });

  async function read(canary: Canary): Promise<KnativeService | undefined> {
    const { namespace, name } = where(canary);
    return client.readService(namespace, name);
  }

  async function mustRead(canary: Canary): Promise<KnativeService> {
    const svc = await read(canary);
    if (svc) return svc;
    const { namespace, name } = where(canary);
    throw ApplicationFailure.retryable(`Knative Service ${namespace}/${name} not found`, FAILURE.routeNotFound);
  }

  /** The Service routed by fledge: annotated with a primary revision (the latest created one when it had none). */
  async function adopted(canary: Canary): Promise<KnativeService> {
    const svc = await mustRead(canary);
    if (svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION]) return svc;
    const latest = svc.status?.latestCreatedRevisionName;
    const { namespace, name } = where(canary);
    if (!latest)
      throw ApplicationFailure.retryable(
        `Knative Service ${namespace}/${name} has no revision yet (status.latestCreatedRevisionName is empty)`,
        FAILURE.routeNotReady,
      );
    const patch = adoptPatch(svc, latest)!;
    deps.log?.info({ knativeService: `${namespace}/${name}`, primaryRevision: latest }, 'routed by fledge');
    return client.patchService(namespace, name, patch);
  }

  return {
    async reconcile(canary) {
      const svc = await adopted(canary);
      return routesOfSpec(svc, svc.metadata.annotations![PRIMARY_REVISION_ANNOTATION]!) ?? ALL_TO_PRIMARY;
    },

    async setRoutes(canary, primary, canaryWeight) {
      const svc = await adopted(canary);
      const primaryRevision = svc.metadata.annotations![PRIMARY_REVISION_ANNOTATION]!;
      const { namespace, name } = where(canary);
      const traffic = splitTraffic(primaryRevision, primary, canaryWeight);
      const stored = await client.patchService(namespace, name, { spec: { traffic } });
      return routesOfSpec(stored, primaryRevision) ?? { primary, canary: canaryWeight, mirrored: false };
    },

    async getRoutes(canary) {
      const svc = await read(canary);
      const primaryRevision = svc?.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION];
      // observe runs before the first reconcile routes the Service: nothing reaches the canary then.
      if (!svc || !primaryRevision) return ALL_TO_PRIMARY;
      const inForce = routesOfStatus(svc, primaryRevision);
      if (inForce.ok) return inForce.routes;
      throw ApplicationFailure.retryable(inForce.reason, FAILURE.routeNotReady);
    },

    async finalize(canary) {
      const svc = await read(canary);
      const patch = svc && releasePatch(svc);
      if (!patch) return;
      const { namespace, name } = where(canary);
      await client.patchService(namespace, name, patch);
      deps.log?.info({ knativeService: `${namespace}/${name}` }, 'traffic restored, primary annotation removed');
    },
  };
}
