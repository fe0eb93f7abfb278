// Messages, ids and shared types of release groups (docs/release-groups.md): the group workflow, its member
// children, the member's start gate in the rollout workflow, the group watcher and the CLI. Definitions only.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { GroupMemberStatus, GroupPhase } from '../api/release-group.ts';
import type { CanaryRef, Revision } from '../api/ports.ts';

export interface GroupRef {
  namespace: string;
  name: string;
}

export const GROUP_WORKFLOW = 'releaseGroup';
export const GROUP_MEMBER_WORKFLOW = 'releaseGroupMember';

/** One workflow per ReleaseGroup: `releasegroup/<namespace>/<name>`. */
export function groupWorkflowId(group: GroupRef): string {
  return `releasegroup/${group.namespace}/${group.name}`;
}

/** The previous revision of a member: what its primary ran before the group run, and the target's pod template of it. */
export interface PreviousRevision {
  hash: string;
  /** The target's `spec.template` of that revision (from the target's ReplicaSet history); absent when not found. */
  template?: Record<string, unknown>;
}

/** A member's rollout reached its start gate with a new revision (sent by the rollout workflow). */
export interface MemberArrival {
  member: string;
  revision: Revision;
  previous?: PreviousRevision;
}

/** The group lets a member's rollout of `hash` start (sent by the member's child workflow). */
export interface GroupRelease {
  group: string;
  hash: string;
}

/** What the `memberOf` activity finds for a Canary: its ReleaseGroup (if any) and its previous revision. */
export interface MemberOf {
  group?: string;
  previous?: PreviousRevision;
  /** The lookup failed through its attempts (set by the workflow's port, never by the activity): asked again next tick. */
  error?: string;
}

export interface MemberOfInput {
  canary: CanaryRef;
  revision: Revision;
}

/** From the group watcher: the ReleaseGroup was created or its spec changed (signal-with-start). */
export const groupChangedSignal = defineSignal<[]>('groupChanged');
/** From the group watcher: the ReleaseGroup is gone; held members are released and the workflow ends. */
export const groupDeletedSignal = defineSignal<[]>('groupDeleted');
/** From a member's rollout workflow, at its start gate. */
export const memberArrivedSignal = defineSignal<[MemberArrival]>('memberArrived');
/** To a member's rollout workflow: its start gate opens for this revision. */
export const releaseGroupGateSignal = defineSignal<[GroupRelease]>('releaseGroupGate');

export interface GroupView {
  group: GroupRef;
  phase: GroupPhase;
  run: number;
  message: string;
  members: GroupMemberStatus[];
  pending: string[];
}

export const groupStatusQuery = defineQuery<GroupView>('groupStatus');

// ---------------------------------------------------------------------------------------------------------
// Activities of the group workflow (activities/groups/index.ts)
// ---------------------------------------------------------------------------------------------------------

export interface GroupPlanView {
  /** Members in dependency order. */
  order: string[];
  dependsOn: Record<string, string[]>;
  settleMs: number;
}

export interface LoadGroupResult {
  /** False when the ReleaseGroup is gone. */
  found: boolean;
  generation?: number;
  /** The validated plan; absent when the spec is invalid (then `errors`). */
  plan?: GroupPlanView;
  errors?: string[];
}

export interface GroupEvent {
  type: 'Normal' | 'Warning';
  message: string;
  /** Also recorded on this member's Canary. */
  member?: string;
}

export type MemberResultPhase = 'Succeeded' | 'Failed' | 'Superseded';

export interface MemberOutcome {
  /** Set once the member's rollout of the revision ended (or a newer revision replaced it). */
  phase?: MemberResultPhase;
  /** The Canary's status has shown this revision (a later other revision then means Superseded). */
  seen: boolean;
  message?: string;
}

export interface GroupActivities {
  /** Reads and validates the ReleaseGroup, writes its Ready condition; Warning event when invalid. */
  loadGroup(input: { group: GroupRef }): Promise<LoadGroupResult>;
  writeGroupStatus(input: { group: GroupRef; status: Record<string, unknown> }): Promise<void>;
  /** Events on the ReleaseGroup (and on a member's Canary), named by run id + sequence (a retry is a no-op). */
  recordGroupEvents(input: {
    group: GroupRef;
    runId: string;
    firstSequence: number;
    events: GroupEvent[];
  }): Promise<void>;
  /** Puts the target's pod template of the previous revision back; `changed` false when it already runs it. */
  restoreTarget(input: {
    canary: CanaryRef;
    template: Record<string, unknown>;
    previousHash: string;
  }): Promise<{ changed: boolean }>;
  /** Waits (up to about 20 s, heartbeating) for the member's rollout of `hash` to end. */
  memberOutcome(input: { canary: CanaryRef; hash: string; seen: boolean }): Promise<MemberOutcome>;
}
