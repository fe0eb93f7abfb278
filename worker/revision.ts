// Revision identity of a Canary's target, and the rule that decides whether a change is a new revision.
// Pure: the watcher feeds it objects from its informer caches, unit tests feed it literals.
//
// Identity is the hash of the canonical JSON of the pod template (labels, annotations, spec; empty fields dropped,
// keys sorted) plus the checksums of the tracked configs. It is fenced by `metadata.generation`: while the target's
// generation and its configs are those we last looked at, nothing is new, even if the hash would now come out
// different (an apiserver upgrade that defaults a new field on read must not start a rollout: Flagger's spew-hash
// flaw). The fence lives in an annotation on the Canary, so a restarted watcher knows it too.
import type { V1PodTemplateSpec, V1Service, V1ServiceSpec } from '@kubernetes/client-node';
import type { Revision } from '../api/ports.ts';
import { shortHash } from '../activities/kubernetes/canonical.ts';
import { podSpecOf } from '../activities/kubernetes/workload.ts';
import { serviceRevisionHash } from '../activities/kubernetes/service-target.ts';

/** Where the watcher keeps what it last looked at: `{"generation":3,"configs":"…","hash":"…"}`. */
export const OBSERVED_ANNOTATION = 'fledge.app/observed-revision';

export interface RevisionMark {
  generation: number;
  /** Digest of the tracked config checksums. */
  configs: string;
  hash: string;
}

export function revisionHash(template: V1PodTemplateSpec | undefined, configs: Record<string, string>): string {
  const pod = {
    labels: template?.metadata?.labels,
    annotations: template?.metadata?.annotations,
    spec: podSpecOf(template),
  };
  return shortHash({ pod, configs });
}

export function configsDigest(configs: Record<string, string>): string {
  return shortHash(configs);
}

export function parseMark(raw: string | undefined): RevisionMark | undefined {
  if (!raw) return undefined;
  try {
    const m = JSON.parse(raw) as Partial<RevisionMark>;
    if (typeof m.generation === 'number' && typeof m.configs === 'string' && typeof m.hash === 'string')
      return { generation: m.generation, configs: m.configs, hash: m.hash };
  } catch {
    // A hand-edited annotation is just no fence.
  }
  return undefined;
}

export function formatMark(mark: RevisionMark): string {
  return JSON.stringify({ generation: mark.generation, configs: mark.configs, hash: mark.hash });
}

export interface TargetState {
  generation: number;
  template: V1PodTemplateSpec | undefined;
  configs: Record<string, string>;
  /** A Service target's spec: its hash is the revision (no pod template, no configs). */
  service?: V1ServiceSpec;
  /** A Knative Service target's latest created revision name: that name is the revision (Flagger's lastAppliedSpec). */
  knative?: string;
}

/**
 * The state of a Service target. Services carry no `metadata.generation`, so there is no generation fence: the
 * hash of the spec (allocated addresses left out) decides alone.
 */
export function serviceState(svc: V1Service): TargetState {
  return { generation: svc.metadata?.generation ?? 0, template: undefined, configs: {}, service: svc.spec ?? {} };
}

/**
 * The state of a Knative Service target: its latest created revision (Knative names a new one for every template
 * change; traffic edits, fledge's own among them, create none). No generation fence: the name decides alone.
 */
export function knativeState(svc: {
  metadata?: { generation?: number };
  status?: { latestCreatedRevisionName?: string };
}): TargetState {
  return {
    generation: svc.metadata?.generation ?? 0,
    template: undefined,
    configs: {},
    knative: svc.status?.latestCreatedRevisionName ?? '',
  };
}

export interface CanaryRevisionStatus {
  lastAppliedSpec?: string;
  lastPromotedSpec?: string;
}

export type Decision =
  | { signal: true; revision: Revision; mark: RevisionMark }
  | { signal: false; why: string; mark: RevisionMark | undefined };

/** Is the target's current state a new revision for this Canary? */
export function decideRevision(
  target: TargetState,
  mark: RevisionMark | undefined,
  status: CanaryRevisionStatus,
): Decision {
  const digest = configsDigest(target.configs);
  const fenced = !target.service && target.knative === undefined;
  if (fenced && mark && mark.generation === target.generation && mark.configs === digest)
    return { signal: false, why: 'generation and configs unchanged', mark };
  const hash =
    target.knative ??
    (target.service ? serviceRevisionHash(target.service) : revisionHash(target.template, target.configs));
  const next: RevisionMark = { generation: target.generation, configs: digest, hash };
  if (mark && mark.hash === hash) return { signal: false, why: 'same pod template and configs', mark: next };
  if (!mark && status.lastAppliedSpec === hash) return { signal: false, why: 'revision already applied', mark: next };
  // Flagger: "do not trigger a canary deployment on manual rollback".
  if (status.lastPromotedSpec === hash && status.lastAppliedSpec !== hash)
    return { signal: false, why: 'reverted to the promoted revision', mark: next };
  return { signal: true, revision: { hash, generation: target.generation }, mark: next };
}
