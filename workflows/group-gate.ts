// The start gate of a release group member, inside the rollout workflow's startRollout (workflows/tick.ts):
// a Canary listed in a ReleaseGroup waits in phase `Waiting` until the group's workflow releases this revision
// (docs/release-groups.md). Pure like tick.ts: the ports come from the workflow (group-gate-ports.ts); without
// them (unit tests) or while replaying a history from before the gate (`patched`), there is no gate.
import type { Revision } from '../api/ports.ts';
import type { GroupRef, MemberArrival, MemberOf, MemberOfInput, PreviousRevision } from './group-messages.ts';
import { emit, type RolloutState } from './state.ts';

/** Patch id of the gate: histories recorded before it replay without the gate's activity and signal. */
export const RELEASE_GROUP_PATCH = 'release-group';

export interface GroupGatePorts {
  /** The ReleaseGroup of this Canary, if any, and its previous revision (local activity `memberOf`). */
  memberOf(input: MemberOfInput): Promise<MemberOf>;
  /** Tells the group's workflow the member arrived; false when that workflow is not running (retried next tick). */
  arrive(group: GroupRef, arrival: MemberArrival): Promise<boolean>;
}

/** The gate's state for the revision at hand (carried in RolloutState.group, so across continue-as-new too). */
export interface GroupGateState {
  hash: string;
  /** The ReleaseGroup holding this revision; absent: the Canary is in no group (no gate). */
  group?: string;
  /** The group's workflow has been told. */
  notified?: boolean;
  /** The group released this revision (or there is no group). */
  released?: boolean;
  /** The previous revision found at lookup, kept only until the group has it (it may carry a pod template). */
  previous?: PreviousRevision;
}

/**
 * Undefined when the rollout may start, else the tick's outcome (`continue`: held at the gate, phase Waiting).
 * Looks the group up once per revision: `observed` when the tick's observation carries the lookup (it was asked
 * with `memberOf`: only code with the gate records that, so no patch check), else the `memberOf` local activity
 * (histories recorded before, or a lookup that failed alongside the observation). Tells the group once; opens when
 * the release signal for this revision came.
 */
export async function groupGate(
  state: RolloutState,
  env: { group?: GroupGatePorts; patched?(id: string): boolean },
  observed?: MemberOf,
): Promise<'continue' | undefined> {
  if (!env.group) return undefined;
  const { canary, revision } = state;
  const lookup = state.group?.hash !== revision.hash;
  if (lookup && !observed && env.patched && !env.patched(RELEASE_GROUP_PATCH)) return undefined;
  if (lookup) {
    const found = observed ?? (await env.group.memberOf({ canary, revision }));
    if (found.error) {
      // Held, not failed: the apiserver may be back at the next tick (an absent CRD is no group, not an error).
      state.waitingFor = `release group lookup to succeed: ${found.error}`;
      return 'continue';
    }
    state.group = gateOf(found, revision);
  }
  const gate = state.group;
  if (!gate || gate.released || !gate.group) return undefined;
  if (!gate.notified) {
    const arrival: MemberArrival = {
      member: canary.name,
      revision,
      ...(gate.previous ? { previous: gate.previous } : {}),
    };
    gate.notified = await env.group.arrive({ namespace: canary.namespace, name: gate.group }, arrival);
    if (gate.notified) delete gate.previous;
  }
  if (state.phase !== 'Waiting') {
    state.phase = 'Waiting';
    emit(state, 'Normal', `Waiting for release group ${gate.group} to start ${canary.name}.${canary.namespace}`);
  }
  state.waitingFor = `its turn in release group ${gate.group}${gate.notified ? '' : ' (group workflow not running yet)'}`;
  return 'continue';
}

function gateOf(found: MemberOf, revision: Revision): GroupGateState {
  if (!found.group) return { hash: revision.hash, released: true };
  return { hash: revision.hash, group: found.group, ...(found.previous ? { previous: found.previous } : {}) };
}

/** The release signal's effect on the gate: opens it for `hash` (a release of an older revision is ignored). */
export function releaseGate(state: RolloutState, group: string, hash: string): boolean {
  if (state.group && state.group.hash !== hash) return false;
  state.group = { ...state.group, hash, group, released: true };
  return true;
}
