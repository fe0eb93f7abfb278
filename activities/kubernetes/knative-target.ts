// `targetRef: {apiVersion: serving.knative.dev/v1, kind: Service}` (Flagger pkg/canary/knative_controller.go): the
// target is a Knative Service. No primary workload, no generated Services, nothing scaled: the primary is the
// revision its `flagger.app/primary-revision` annotation names, the canary its latest created revision, and a
// revision's readiness is its Ready condition. The revision identity fledge fences with is the revision's name
// (`status.latestCreatedRevisionName`), as Flagger's lastAppliedSpec is. The traffic split is the knative router's.
import type { PromoteResult, Readiness, Revision } from '../../api/ports.ts';
import { knativeClient, type KnativeClient } from '../routers/knative.ts';
import {
  PRIMARY_REVISION_ANNOTATION,
  adoptPatch,
  revisionReadiness,
  type KnativeService,
} from '../routers/knative-service.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RawCanary } from './canary.ts';

/** Canary phases in which Flagger's KnativeController.Initialize (re)points the primary at the latest revision. */
const INITIALIZING: readonly (string | undefined)[] = [undefined, '', 'Initializing'];

/** The revision a Service is at: its latest created revision's name; generation: the Service's. */
export function knativeRevision(svc: KnativeService): Revision {
  return { hash: svc.status?.latestCreatedRevisionName ?? '', generation: svc.metadata.generation ?? 0 };
}

export interface KnativeTarget {
  read(namespace: string, name: string): Promise<KnativeService | undefined>;
  /**
   * Flagger's Initialize: while the Canary initializes (phase unset or Initializing), or whenever the Service has no
   * primary annotation, the annotation names `revision.hash` (else the latest created revision) and `spec.traffic`
   * sends it all the traffic. Later (a spec edit mid-rollout) nothing changes. Returns false while the Service has
   * no revision to name yet.
   */
  initialize(raw: RawCanary, svc: KnativeService, revision: Revision): Promise<boolean>;
  /**
   * Flagger's Promote: the annotation names the latest created revision, fenced like a workload's promotion: when
   * that is no longer the analysed revision nothing is written and the current revision is returned.
   */
  promote(svc: KnativeService, revision: Revision): Promise<PromoteResult>;
  /** Ready conditions of the primary revision (the annotation's) and of the latest created one. */
  readiness(svc: KnativeService): Promise<{ primary: Readiness; canary: Readiness }>;
}

export function createKnativeTarget(kube: KubeConfig, client: KnativeClient = knativeClient(kube)): KnativeTarget {
  const revision = async (namespace: string, name: string | undefined): Promise<Readiness> =>
    revisionReadiness(name ?? '', name ? await client.readRevision(namespace, name) : undefined);

  return {
    read: (namespace, name) => client.readService(namespace, name),

    async initialize(raw, svc, rev) {
      const annotated = svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION];
      if (annotated && !INITIALIZING.includes(raw.status?.phase)) return true;
      const primary = rev.hash || svc.status?.latestCreatedRevisionName;
      if (!primary) return false;
      const patch = adoptPatch(svc, primary);
      if (patch) await client.patchService(svc.metadata.namespace, svc.metadata.name, patch);
      return true;
    },

    async promote(svc, rev) {
      const current = knativeRevision(svc);
      if (rev.hash && current.hash !== rev.hash) return { promoted: false, current };
      if (svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION] !== current.hash)
        await client.patchService(svc.metadata.namespace, svc.metadata.name, {
          metadata: { annotations: { [PRIMARY_REVISION_ANNOTATION]: current.hash } },
        });
      return { promoted: true };
    },

    async readiness(svc) {
      const ns = svc.metadata.namespace;
      const annotated = svc.metadata.annotations?.[PRIMARY_REVISION_ANNOTATION];
      const primary = annotated
        ? await revision(ns, annotated)
        : {
            ready: false,
            message: `Knative Service ${ns}/${svc.metadata.name} has no ${PRIMARY_REVISION_ANNOTATION} yet`,
          };
      return { primary, canary: await revision(ns, svc.status?.latestCreatedRevisionName) };
    },
  };
}
