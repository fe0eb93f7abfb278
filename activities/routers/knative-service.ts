// Pure builders and readers of the Knative Service (`serving.knative.dev/v1`) that the knative provider routes
// with (Flagger v1.44 pkg/router/knative.go, pkg/canary/knative_controller.go). There is no primary workload and no
// generated Service: the primary is a Knative Revision named in the Service's `flagger.app/primary-revision`
// annotation, the canary is the Service's latest revision, and `spec.traffic` splits between the two by percent.
// No I/O here: knative.ts (router) and activities/kubernetes/knative-target.ts (target) do the reads and writes.
import type { Readiness, Routes } from '../../api/ports.ts';

/** The annotation naming the primary revision, Flagger's (its e2e test greps for it). */
export const PRIMARY_REVISION_ANNOTATION = 'flagger.app/primary-revision';
/**
 * The Service's `spec.traffic` as it was before fledge first wrote it (JSON; `null` when it had none), so
 * finalize can put it back.
 */
export const ORIGINAL_TRAFFIC_ANNOTATION = 'fledge.app/original-traffic';

export const KNATIVE_GROUP = 'serving.knative.dev';
export const KNATIVE_VERSION = 'v1';

/** One entry of a Knative routing table (spec.traffic, status.traffic). */
export interface TrafficTarget {
  revisionName?: string;
  configurationName?: string;
  latestRevision?: boolean;
  /** 0–100; the entries' percents add up to 100. */
  percent?: number;
  tag?: string;
  url?: string;
}

export interface KnativeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The fields of a Knative Service fledge reads. */
export interface KnativeService {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    generation?: number;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec?: { template?: Record<string, unknown>; traffic?: TrafficTarget[] };
  status?: {
    observedGeneration?: number;
    latestCreatedRevisionName?: string;
    latestReadyRevisionName?: string;
    traffic?: TrafficTarget[];
    conditions?: KnativeCondition[];
  };
}

/** The fields of a Knative Revision fledge reads. */
export interface KnativeRevision {
  metadata: { name: string; namespace?: string };
  status?: { conditions?: KnativeCondition[] };
}

/**
 * `spec.traffic` for a split: the latest revision (the canary) gets `canary` percent, the primary revision
 * `primary` percent; both entries are always written, 0 included (Flagger's SetRoutes and Initialize).
 */
export function splitTraffic(primaryRevision: string, primary: number, canary: number): TrafficTarget[] {
  return [
    { latestRevision: true, percent: canary },
    { revisionName: primaryRevision, percent: primary },
  ];
}

/**
 * The merge patch that makes fledge route the Service: the primary annotation set to `primaryRevision`, traffic
 * 100 % to it, and (the first time only) the traffic found before saved in ORIGINAL_TRAFFIC_ANNOTATION. Undefined
 * when the Service already names that primary: an existing split is kept (Flagger's router Reconcile only adds a
 * missing annotation).
 */
export function adoptPatch(svc: KnativeService, primaryRevision: string): object | undefined {
  const annotations = svc.metadata.annotations ?? {};
  if (annotations[PRIMARY_REVISION_ANNOTATION] === primaryRevision) return undefined;
  const saved =
    ORIGINAL_TRAFFIC_ANNOTATION in annotations
      ? {}
      : { [ORIGINAL_TRAFFIC_ANNOTATION]: JSON.stringify(svc.spec?.traffic ?? null) };
  return {
    metadata: { annotations: { [PRIMARY_REVISION_ANNOTATION]: primaryRevision, ...saved } },
    spec: { traffic: splitTraffic(primaryRevision, 100, 0) },
  };
}

/**
 * The merge patch of finalize: fledge's annotations removed and `spec.traffic` as it was before fledge (removed
 * when there was none: Knative then sends everything to the latest ready revision). Undefined when fledge never
 * routed this Service. Flagger's Finalize only removes the annotation, leaving its split in place.
 */
export function releasePatch(svc: KnativeService): object | undefined {
  const annotations = svc.metadata.annotations ?? {};
  if (!(PRIMARY_REVISION_ANNOTATION in annotations) && !(ORIGINAL_TRAFFIC_ANNOTATION in annotations)) return undefined;
  return {
    metadata: { annotations: { [PRIMARY_REVISION_ANNOTATION]: null, [ORIGINAL_TRAFFIC_ANNOTATION]: null } },
    spec: { traffic: originalTraffic(annotations[ORIGINAL_TRAFFIC_ANNOTATION]) },
  };
}

function originalTraffic(saved: string | undefined): TrafficTarget[] | null {
  if (!saved) return null;
  try {
    const parsed = JSON.parse(saved) as unknown;
    return Array.isArray(parsed) ? (parsed as TrafficTarget[]) : null;
  } catch {
    return null; // a hand-edited annotation: Knative's default routing
  }
}

/** The routes as Knative reports them, or why they cannot be read yet (retryable). */
export type RoutesRead = { ok: true; routes: Routes } | { ok: false; reason: string };

/**
 * The routes in force from `status.traffic` (Knative's word, as Flagger's GetRoutes reads it), once Knative has
 * observed the Service's current generation (a fledge gate: a split Knative has not applied yet is not in force).
 * Canary: the `latestRevision` entry's percent. Primary: the other entry naming the primary revision; right after
 * a promotion (the annotation names the latest revision, the old split not rewritten yet) the other entries
 * together, since all of them then serve what used to be the canary. Never mirrored (Knative cannot mirror).
 */
export function routesOfStatus(svc: KnativeService, primaryRevision: string): RoutesRead {
  const id = `Knative Service ${svc.metadata.namespace}/${svc.metadata.name}`;
  const status = svc.status;
  const generation = svc.metadata.generation ?? 0;
  if ((status?.observedGeneration ?? 0) < generation)
    return {
      ok: false,
      reason: `${id}: Knative has not observed generation ${generation} yet (observedGeneration ${status?.observedGeneration ?? 'none'})`,
    };
  const traffic = status?.traffic ?? [];
  const latest = traffic.find((t) => t.latestRevision === true);
  const others = traffic.filter((t) => t.latestRevision !== true);
  const named = others.find((t) => t.revisionName === primaryRevision);
  if (!latest) return { ok: false, reason: `${id}: status.traffic has no latestRevision entry (the canary's share)` };
  const canary = latest.percent ?? 0;
  if (named) return { ok: true, routes: { primary: named.percent ?? 0, canary, mirrored: false } };
  if (latest.revisionName === primaryRevision) {
    const primary = others.reduce((sum, t) => sum + (t.percent ?? 0), 0);
    return { ok: true, routes: { primary, canary, mirrored: false } };
  }
  return { ok: false, reason: `${id}: status.traffic does not route to the primary revision ${primaryRevision}` };
}

/** The weights fledge's own `spec.traffic` asks for (what setRoutes and reconcile report as written). */
export function routesOfSpec(svc: KnativeService, primaryRevision: string): Routes | undefined {
  const traffic = svc.spec?.traffic ?? [];
  const latest = traffic.find((t) => t.latestRevision === true);
  const primary = traffic.find((t) => t.latestRevision !== true && t.revisionName === primaryRevision);
  if (!latest || !primary || traffic.length !== 2) return undefined;
  return { primary: primary.percent ?? 0, canary: latest.percent ?? 0, mirrored: false };
}

/**
 * Readiness of a revision: its `Ready` condition (Flagger's `revision.IsReady()`). Knative's own progress deadline
 * (Ready=False, reason ProgressDeadlineExceeded) is reported as `deadlineExceeded`.
 */
export function revisionReadiness(name: string, revision: KnativeRevision | undefined): Readiness {
  if (!name) return { ready: false, message: 'no revision created yet (status.latestCreatedRevisionName is empty)' };
  if (!revision) return { ready: false, message: `Knative Revision ${name} not found` };
  const ready = revision.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return { ready: true };
  const why = ready
    ? `Ready=${ready.status}${ready.reason ? ` (${ready.reason}${ready.message ? `: ${ready.message}` : ''})` : ''}`
    : 'no Ready condition yet';
  return {
    ready: false,
    message: `Knative Revision ${name} is not ready: ${why}`,
    ...(ready?.status === 'False' && ready.reason === 'ProgressDeadlineExceeded' ? { deadlineExceeded: true } : {}),
  };
}
