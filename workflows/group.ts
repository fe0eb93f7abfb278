// The release group workflow: one long-lived execution per ReleaseGroup (id `releasegroup/<namespace>/<name>`),
// started by the group watcher. Members' rollouts stop at their start gate (group-gate.ts) and tell it; once no
// member has arrived for the settle window, a group run releases them in dependency order, one child workflow
// per member (release the gate by signal, wait for the rollout's outcome). When a member fails, the members not
// yet finished are aborted and the members this run promoted are compensated: their target's pod template goes
// back to the previous revision, whose rollout the group releases at once (the primary follows, as Flagger's
// semantics want: the target is the source of truth). docs/release-groups.md.
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { GroupMemberStatus, GroupPhase } from '../api/release-group.ts';
import { controlSignals, rolloutWorkflowId } from './controls.ts';
import {
  GROUP_MEMBER_WORKFLOW,
  groupChangedSignal,
  groupDeletedSignal,
  groupStatusQuery,
  groupWorkflowId,
  memberArrivedSignal,
  releaseGroupGateSignal,
  type GroupActivities,
  type GroupEvent,
  type GroupPlanView,
  type GroupRef,
  type GroupView,
  type MemberArrival,
  type MemberOutcome,
  type MemberResultPhase,
} from './group-messages.ts';

export interface GroupOptions {
  /** How long a compensation waits for the restored revision's rollout to reach its gate; default 10 min. */
  compensationArrivalMs?: number;
  /** Start-to-close timeout of the non-local activities; default 2 min. */
  activityTimeout?: string;
}

/** State carried across continue-as-new (between group runs only). */
interface Carried {
  runSeq: number;
  pending: Record<string, MemberArrival>;
  lastArrivalAt: number;
  members: GroupMemberStatus[];
  phase: GroupPhase;
  message: string;
  eventSequence: number;
}

export interface GroupInput {
  group: GroupRef;
  options?: GroupOptions;
  carried?: Carried;
}

interface GroupState extends Carried {
  group: GroupRef;
  plan?: GroupPlanView;
  errors?: string[];
  dirty: boolean;
  deleted: boolean;
  /** Arrivals of Canaries the group does not gate (not a member, invalid spec): released at once. */
  ungated: MemberArrival[];
  /** The compensation waiting for its member's restored revision to arrive. */
  compensating?: { member: string; arrival?: MemberArrival };
  outbox: GroupEvent[];
  lastStatus: string;
}

const retry = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' };
const HISTORY_BOUND = 5000;

function activities(options: GroupOptions | undefined) {
  return {
    local: proxyLocalActivities<Pick<GroupActivities, 'loadGroup' | 'writeGroupStatus' | 'recordGroupEvents'>>({
      startToCloseTimeout: '30s',
      localRetryThreshold: '10s',
      retry,
    }),
    actions: proxyActivities<Pick<GroupActivities, 'restoreTarget'>>({
      startToCloseTimeout: options?.activityTimeout ?? '2m',
      retry: { ...retry, nonRetryableErrorTypes: ['TargetNotFound', 'InvalidSpec'] },
    }),
  };
}
type Acts = ReturnType<typeof activities>;

export async function releaseGroup(input: GroupInput): Promise<{ runs: number; deleted: boolean }> {
  const s: GroupState = {
    ...(input.carried ?? {
      runSeq: 0,
      pending: {},
      lastArrivalAt: 0,
      members: [],
      phase: 'Idle',
      message: '',
      eventSequence: 0,
    }),
    group: input.group,
    dirty: true,
    deleted: false,
    ungated: [],
    outbox: [],
    lastStatus: '',
  };
  const acts = activities(input.options);
  installGroupHandlers(s);
  for (;;) {
    if (s.dirty) await load(s, acts);
    if (s.deleted) break;
    await releaseUngated(s);
    if (Object.keys(s.pending).length === 0) {
      if (s.phase === 'Settling') s.phase = 'Idle';
      await flush(s, acts);
      if (workflowInfo().historyLength > HISTORY_BOUND || workflowInfo().continueAsNewSuggested)
        return carryOn(input, s);
      await condition(() => s.dirty || s.deleted || s.ungated.length > 0 || Object.keys(s.pending).length > 0);
      continue;
    }
    const left = s.lastArrivalAt + (s.plan?.settleMs ?? 0) - Date.now();
    if (left > 0) {
      s.phase = 'Settling';
      s.message = `settling: ${Object.keys(s.pending).join(', ')} arrived; run starts ${Math.ceil(left / 1000)}s after the last arrival`;
      await flush(s, acts);
      const last = s.lastArrivalAt;
      await condition(() => s.dirty || s.deleted || s.ungated.length > 0 || s.lastArrivalAt !== last, left);
      continue;
    }
    // The Canaries may have changed since the last validation (e.g. a member created after its group).
    await load(s, acts);
    if (s.plan && Object.keys(s.pending).length) await runGroup(s, acts, input.options);
  }
  // The ReleaseGroup is gone: nothing may stay held by it.
  s.ungated.push(...Object.values(s.pending));
  s.pending = {};
  await releaseUngated(s);
  await condition(allHandlersFinished);
  return { runs: s.runSeq, deleted: true };
}

async function carryOn(input: GroupInput, s: GroupState): Promise<never> {
  await condition(allHandlersFinished);
  const { runSeq, pending, lastArrivalAt, members, phase, message, eventSequence } = s;
  return continueAsNew<typeof releaseGroup>({
    group: input.group,
    options: input.options,
    carried: { runSeq, pending, lastArrivalAt, members, phase, message, eventSequence },
  });
}

function installGroupHandlers(s: GroupState): void {
  setHandler(groupChangedSignal, () => void (s.dirty = true));
  setHandler(groupDeletedSignal, () => void (s.deleted = true));
  setHandler(memberArrivedSignal, (a) => {
    if (s.compensating?.member === a.member && !s.compensating.arrival) {
      s.compensating.arrival = a;
      return;
    }
    if (s.pending[a.member]?.revision.hash === a.revision.hash) return; // a duplicate
    // A newer revision keeps the previous revision of the first arrival: the one the primary ran before the run.
    const previous = s.pending[a.member]?.previous ?? a.previous;
    s.pending[a.member] = { ...a, ...(previous ? { previous } : {}) };
    s.lastArrivalAt = Date.now();
    // Not in the plan (the spec changed, or was invalid): validate again; load() releases non-members.
    if (!s.plan?.order.includes(a.member)) s.dirty = true;
  });
  setHandler(groupStatusQuery, () => view(s));
}

function view(s: GroupState): GroupView {
  return {
    group: s.group,
    phase: s.phase,
    run: s.runSeq,
    message: s.message,
    members: s.members,
    pending: Object.keys(s.pending),
  };
}

/** Re-read and validate the ReleaseGroup (its Ready condition and Warning event are the activity's). */
async function load(s: GroupState, acts: Acts): Promise<void> {
  s.dirty = false;
  const r = await acts.local.loadGroup.executeWithOptions({ summary: `load release group ${s.group.name}` }, [
    { group: s.group },
  ]);
  if (!r.found) {
    s.deleted = true;
    return;
  }
  s.plan = r.plan;
  s.errors = r.errors;
  if (!r.plan) {
    s.phase = 'Invalid';
    s.message = `invalid: ${(r.errors ?? []).join('; ')}; members roll out on their own`;
    // Nothing is gated by an invalid group: arrivals held so far go.
    s.ungated.push(...Object.values(s.pending));
    s.pending = {};
    return;
  }
  if (s.phase === 'Invalid') {
    s.phase = 'Idle';
    s.message = '';
  }
  for (const m of Object.keys(s.pending))
    if (!r.plan.order.includes(m)) {
      s.ungated.push(s.pending[m]!);
      delete s.pending[m];
    }
  if (!s.members.length || s.phase === 'Idle') s.members = idleMembers(r.plan, s.members);
}

function idleMembers(plan: GroupPlanView, before: GroupMemberStatus[]): GroupMemberStatus[] {
  return plan.order.map((name, order) => {
    const was = before.find((m) => m.name === name);
    return {
      name,
      order,
      dependsOn: plan.dependsOn[name] ?? [],
      phase: was?.phase ?? 'Idle',
      ...(was?.revision ? { revision: was.revision } : {}),
    };
  });
}

async function releaseUngated(s: GroupState): Promise<void> {
  while (s.ungated.length) {
    const a = s.ungated.shift()!;
    await signalRollout(s.group, a.member, (h) =>
      h.signal(releaseGroupGateSignal, { group: s.group.name, hash: a.revision.hash }),
    );
  }
}

/** Signals a member's rollout workflow; a rollout that is not running has nothing to act on. */
async function signalRollout(
  group: GroupRef,
  member: string,
  send: (h: ReturnType<typeof getExternalWorkflowHandle>) => Promise<void>,
): Promise<boolean> {
  try {
    await send(getExternalWorkflowHandle(rolloutWorkflowId({ namespace: group.namespace, name: member })));
    return true;
  } catch (err) {
    if (isCancellation(err)) throw err;
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// A group run
// ---------------------------------------------------------------------------------------------------------

interface Finished {
  member: string;
  outcome: MemberOutcome;
}

async function runGroup(s: GroupState, acts: Acts, options: GroupOptions | undefined): Promise<void> {
  const plan = s.plan!;
  const no = ++s.runSeq;
  const arrivals = s.pending;
  s.pending = {};
  const inRun = plan.order.filter((m) => arrivals[m]);
  const deps = (m: string) => (plan.dependsOn[m] ?? []).filter((d) => inRun.includes(d));
  s.members = plan.order.map((name, order) => ({
    name,
    order,
    dependsOn: plan.dependsOn[name] ?? [],
    ...(arrivals[name]
      ? {
          phase: 'Held' as const,
          revision: arrivals[name].revision.hash,
          ...(arrivals[name].previous ? { previousRevision: arrivals[name].previous.hash } : {}),
          message: deps(name).length ? `waits for ${deps(name).join(', ')}` : 'first in order',
        }
      : { phase: 'Idle' as const, message: 'no new revision in this run' }),
  }));
  s.phase = 'Progressing';
  s.message = `run ${no}: ${inRun.join(' → ')}`;
  emit(s, 'Normal', `Group run ${no} started: ${inRun.join(', ')} in dependency order ${inRun.join(' → ')}`);
  await flush(s, acts);

  const finished: Finished[] = [];
  const results: Record<string, MemberResultPhase> = {};
  const started = new Set<string>();
  const promoted: string[] = [];
  let failed: string | undefined;
  for (;;) {
    if (!failed)
      for (const m of inRun) {
        if (started.has(m) || !deps(m).every((d) => results[d] === 'Succeeded')) continue;
        // A newer revision that arrived meanwhile (the member was still held) is the one released.
        if (s.pending[m]) {
          arrivals[m] = { ...s.pending[m], previous: arrivals[m]!.previous ?? s.pending[m].previous };
          delete s.pending[m];
        }
        started.add(m);
        const hash = arrivals[m]!.revision.hash;
        member(s, m, {
          phase: 'Released',
          revision: hash,
          startedAt: new Date().toISOString(),
          message: 'rolling out',
        });
        const after = deps(m).length ? ` after ${deps(m).join(', ')} succeeded` : '';
        emit(s, 'Normal', `Releasing ${m} (revision ${hash})${after}`, m);
        void runMember(s, no, m, hash, 'release').then(
          (outcome) => finished.push({ member: m, outcome }),
          (err: unknown) => finished.push({ member: m, outcome: childFailed(err) }),
        );
      }
    await flush(s, acts);
    if (Object.keys(results).length === started.size && (failed || started.size === inRun.length)) break;
    await condition(() => finished.length > 0);
    for (const { member: m, outcome } of finished.splice(0)) {
      results[m] = outcome.phase!;
      const done = { finishedAt: new Date().toISOString() };
      if (outcome.phase === 'Succeeded') {
        promoted.push(m);
        member(s, m, { ...done, phase: 'Succeeded', message: 'promoted' });
        emit(s, 'Normal', `Member ${m} succeeded (revision ${arrivals[m]!.revision.hash})`, m);
        continue;
      }
      member(s, m, { ...done, phase: 'Failed', message: outcome.message ?? outcome.phase! });
      emit(
        s,
        'Warning',
        `Member ${m} ${outcome.phase === 'Superseded' ? 'was superseded' : 'failed'}: ${outcome.message ?? ''}`.trim(),
        m,
      );
      if (!failed) {
        failed = m;
        await abortUnfinished(s, no, inRun, started, results, m);
      }
    }
  }
  if (failed) await compensate(s, acts, no, [...promoted].reverse(), arrivals, failed, options);
  s.phase = failed ? 'Failed' : 'Succeeded';
  s.message = failed
    ? `run ${no} failed at ${failed}; ${promoted.length ? `compensated ${[...promoted].reverse().join(', ')}` : 'nothing to compensate'}`
    : `run ${no} succeeded: ${inRun.join(', ')}`;
  emit(s, failed ? 'Warning' : 'Normal', `Group run ${no} ${failed ? 'failed' : 'succeeded'}: ${s.message}`);
  await flush(s, acts);
}

/** A member failed: the members still held are not released but aborted, those still rolling out are aborted. */
async function abortUnfinished(
  s: GroupState,
  no: number,
  inRun: string[],
  started: Set<string>,
  results: Record<string, MemberResultPhase>,
  failed: string,
): Promise<void> {
  const reason = `release group ${s.group.name} run ${no}: member ${failed} failed`;
  for (const m of inRun) {
    if (results[m]) continue;
    const held = !started.has(m);
    await signalRollout(s.group, m, (h) =>
      h.signal(controlSignals.abort, { by: `releasegroup/${s.group.name}`, reason }),
    );
    if (held) {
      member(s, m, { phase: 'Aborted', message: `not started: ${failed} failed` });
      emit(s, 'Warning', `Aborting ${m}, not started: ${reason}`, m);
    } else emit(s, 'Warning', `Aborting ${m}, still rolling out: ${reason}`, m);
  }
}

/**
 * Compensation of the members this run promoted, last promoted first: the target's pod template of the previous
 * revision is restored, the watcher signals that revision, and its rollout (released at once, by a child like the
 * forward ones) promotes it back to the primary.
 */
async function compensate(
  s: GroupState,
  acts: Acts,
  no: number,
  members: string[],
  arrivals: Record<string, MemberArrival>,
  failed: string,
  options: GroupOptions | undefined,
): Promise<void> {
  if (!members.length) return;
  s.phase = 'Compensating';
  s.message = `run ${no} failed at ${failed}: rolling back ${members.join(', ')}`;
  for (const m of members) {
    const previous = arrivals[m]!.previous;
    if (!previous?.template) {
      member(s, m, { phase: 'CompensationFailed', message: 'previous pod template unknown: restore it by hand' });
      emit(s, 'Warning', `Cannot roll back ${m}: the pod template of its previous revision is unknown`, m);
      continue;
    }
    member(s, m, { phase: 'Compensating', message: `rolling back to ${previous.hash}` });
    emit(
      s,
      'Warning',
      `Rolling back ${m} to revision ${previous.hash}: release group ${s.group.name} run ${no} failed at member ${failed}`,
      m,
    );
    await flush(s, acts);
    s.compensating = { member: m };
    const { changed } = await acts.actions.restoreTarget.executeWithOptions(
      { summary: `restore the pod template of ${m} to revision ${previous.hash}` },
      [{ canary: { namespace: s.group.namespace, name: m }, template: previous.template, previousHash: previous.hash }],
    );
    const wait = options?.compensationArrivalMs ?? 600_000;
    const arrived = changed && (await condition(() => Boolean(s.compensating?.arrival), wait));
    const arrival = s.compensating.arrival;
    s.compensating = undefined;
    if (!changed) {
      member(s, m, { phase: 'Compensated', message: `target already at revision ${previous.hash}` });
      continue;
    }
    if (!arrived || !arrival) {
      member(s, m, { phase: 'CompensationFailed', message: 'no rollout of the restored revision reached its gate' });
      emit(s, 'Warning', `Rollback of ${m}: no rollout of revision ${previous.hash} reached its gate`, m);
      continue;
    }
    const outcome = await runMember(s, no, m, arrival.revision.hash, 'compensate').catch(childFailed);
    const ok = outcome.phase === 'Succeeded';
    member(s, m, {
      phase: ok ? 'Compensated' : 'CompensationFailed',
      revision: arrival.revision.hash,
      finishedAt: new Date().toISOString(),
      message: ok ? `back on revision ${arrival.revision.hash}` : `rollback ${outcome.phase}: ${outcome.message ?? ''}`,
    });
    emit(
      s,
      ok ? 'Normal' : 'Warning',
      ok ? `Rolled back ${m} to revision ${arrival.revision.hash}` : `Rollback of ${m} ${outcome.phase}`,
      m,
    );
    await flush(s, acts);
  }
}

/** One child workflow per member run: it releases the member's gate and waits for its rollout's outcome. */
function runMember(s: GroupState, no: number, m: string, hash: string, purpose: MemberInput['purpose']) {
  const id = `${groupWorkflowId(s.group)}/run-${no}/${purpose === 'compensate' ? 'rollback-' : ''}${m}`;
  return executeChild<typeof releaseGroupMember>(GROUP_MEMBER_WORKFLOW, {
    workflowId: id,
    args: [{ group: s.group, member: m, hash, purpose }],
    staticSummary: `${purpose === 'compensate' ? 'roll back' : 'release'} ${m} (revision ${hash}) in release group ${s.group.name} run ${no}`,
  });
}

/** A member child that failed (its rollout stopped running, the child was terminated): the member failed. */
function childFailed(err: unknown): MemberOutcome {
  if (isCancellation(err)) throw err;
  const cause = err instanceof ChildWorkflowFailure && err.cause ? err.cause.message : String(err);
  return { phase: 'Failed', seen: false, message: `member workflow failed: ${cause}` };
}

function member(s: GroupState, name: string, patch: Partial<GroupMemberStatus>): void {
  s.members = s.members.map((x) => (x.name === name ? { ...x, ...patch } : x));
}

function emit(s: GroupState, type: GroupEvent['type'], message: string, memberName?: string): void {
  s.outbox.push({ type, message, ...(memberName ? { member: memberName } : {}) });
}

/** Status (on change) and events of the group; a failed write is retried at the next flush. */
async function flush(s: GroupState, acts: Acts): Promise<void> {
  const status = {
    phase: s.phase,
    run: s.runSeq,
    message: s.message,
    members: s.members,
    workflowId: workflowInfo().workflowId,
  };
  const key = JSON.stringify(status);
  try {
    if (key !== s.lastStatus) {
      await acts.local.writeGroupStatus.executeWithOptions({ summary: `write group status: ${s.phase}` }, [
        { group: s.group, status },
      ]);
      s.lastStatus = key;
    }
    const events = s.outbox.splice(0);
    if (events.length) {
      try {
        await acts.local.recordGroupEvents.executeWithOptions({ summary: `record ${events.length} group event(s)` }, [
          { group: s.group, runId: workflowInfo().runId, firstSequence: s.eventSequence, events },
        ]);
        s.eventSequence += events.length;
      } catch (err) {
        s.outbox.unshift(...events);
        throw err;
      }
    }
  } catch (err) {
    if (isCancellation(err) || !(err instanceof Error)) throw err;
    // The apiserver is down through the retries: the next flush writes what this one could not.
  }
}

// ---------------------------------------------------------------------------------------------------------
// The member child
// ---------------------------------------------------------------------------------------------------------

export interface MemberInput {
  group: GroupRef;
  member: string;
  hash: string;
  /** `release`: the forward run; `compensate`: the rollout of the restored previous revision. */
  purpose: 'release' | 'compensate';
}

/**
 * Releases the member's start gate for `hash` (signal to its rollout workflow, which has reached the gate) and
 * waits for that rollout's outcome as the Canary's status shows it.
 */
export async function releaseGroupMember(input: MemberInput): Promise<MemberOutcome> {
  const canary = { namespace: input.group.namespace, name: input.member };
  const { memberOutcome } = proxyActivities<Pick<GroupActivities, 'memberOutcome'>>({
    startToCloseTimeout: '1m',
    heartbeatTimeout: '15s',
    retry,
  });
  for (let attempt = 0; ; attempt++) {
    const sent = await signalRollout(input.group, input.member, (h) =>
      h.signal(releaseGroupGateSignal, { group: input.group.name, hash: input.hash }),
    );
    if (sent) break;
    if (attempt >= 30) throw ApplicationFailure.nonRetryable(`rollout of ${input.member} is not running`, 'MemberGone');
    await sleep('2s');
  }
  let seen = false;
  for (;;) {
    const r = await memberOutcome.executeWithOptions(
      { summary: `wait for the rollout of ${input.member} (revision ${input.hash}) to end` },
      [{ canary, hash: input.hash, seen }],
    );
    if (r.phase) return r;
    seen = r.seen;
  }
}
