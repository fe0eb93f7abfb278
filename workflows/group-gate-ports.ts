// The Temporal side of the member's start gate (group-gate.ts) inside the rollout workflow: the `memberOf` local
// activity, the arrival signal to the group's workflow and the handler of the group's release signal.
import { getExternalWorkflowHandle, isCancellation, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { GroupGatePorts } from './group-gate.ts';
import { releaseGate } from './group-gate.ts';
import {
  groupWorkflowId,
  memberArrivedSignal,
  releaseGroupGateSignal,
  type MemberOf,
  type MemberOfInput,
} from './group-messages.ts';
import { recordStep, type RolloutState } from './state.ts';

/** The gate's ports for tickEnv (workflows/rollout.ts). */
export function groupGatePorts(): GroupGatePorts {
  const { memberOf } = proxyLocalActivities<{ memberOf(i: MemberOfInput): Promise<MemberOf> }>({
    startToCloseTimeout: '30s',
    localRetryThreshold: '10s',
    // A few attempts per tick, as observe: a lookup still failing holds the gate until the next tick.
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 4 },
  });
  return {
    async memberOf(i) {
      try {
        return await memberOf.executeWithOptions(
          { summary: `release group of ${i.canary.namespace}/${i.canary.name}` },
          [i],
        );
      } catch (err) {
        if (isCancellation(err) || !(err instanceof Error)) throw err;
        return { error: err.cause instanceof Error ? err.cause.message : err.message };
      }
    },
    async arrive(group, arrival) {
      try {
        await getExternalWorkflowHandle(groupWorkflowId(group)).signal(memberArrivedSignal, arrival);
        return true;
      } catch (err) {
        if (isCancellation(err)) throw err;
        return false;
      }
    },
  };
}

/** The group's release signal opens the gate for its revision and wakes the rollout for its next tick. */
export function installGroupGate(state: RolloutState, wake: { arrived: boolean }): void {
  setHandler(releaseGroupGateSignal, ({ group, hash }) => {
    const opened = releaseGate(state, group, hash);
    recordStep(
      state,
      'signal',
      `release group ${group} ${opened ? 'released' : 'released an older'} revision ${hash}`,
      Date.now(),
    );
    if (opened) wake.arrived = true;
  });
}
