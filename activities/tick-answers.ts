// What a rollout tick asks besides the observation itself, answered inside the observe activity so that the tick
// records one local-activity marker instead of several (issue 16's history budget and a round trip less per
// question): the DeliveryPolicy verdict (`deliveryAt`) and the Canary's release group (`memberOf`). The workflow
// (workflows/tick.ts) uses an answer when the recorded observation carries it, and otherwise asks the question's
// own activity as before, so histories recorded before this replay unchanged.
import type { Logger } from 'pino';
import type { DeliveryPort } from '../api/delivery-policy.ts';
import type { ObservePort, Observation } from '../api/ports.ts';
import type { MemberOf, MemberOfInput } from '../workflows/group-messages.ts';

type MemberOfPort = { memberOf(input: MemberOfInput): Promise<MemberOf> };

/** The text of a failure, for the log (never a request, so no credentials). */
function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `ports` with an observe that also answers the tick's other questions when asked:
 * - `deliveryAt` (ms since the epoch): `delivery`, checkDelivery's verdict at that instant;
 * - `memberOf` (the revision): `group`, the memberOf activity's finding.
 * Both run alongside the observation. An answer whose read fails is left out and logged: the workflow then asks
 * that question's own activity (delivery: not held when that fails too; group: the gate retries next tick).
 * Errors of observe itself propagate. Shapes: api/ports.ts ObserveInput and Observation.
 */
export function withTickAnswers<P extends ObservePort & DeliveryPort & MemberOfPort>(ports: P, log?: Logger): P {
  const warn = (input: { canary: { name: string; namespace: string } }, what: string) => (err: unknown) => {
    log?.warn({ canary: `${input.canary.name}.${input.canary.namespace}`, error: reason(err) }, what);
    return undefined;
  };
  return {
    ...ports,
    async observe(input) {
      const { deliveryAt, memberOf } = input;
      if (deliveryAt === undefined && memberOf === undefined) return ports.observe(input);
      const [obs, delivery, group] = await Promise.all([
        ports.observe(input),
        deliveryAt === undefined
          ? undefined
          : ports
              .checkDelivery({ canary: input.canary, at: deliveryAt })
              .catch(warn(input, 'delivery policies not read with the observation')),
        memberOf === undefined
          ? undefined
          : ports
              .memberOf({ canary: input.canary, revision: memberOf })
              .catch(warn(input, 'release group not read with the observation')),
      ]);
      const out: Observation = { ...obs };
      if (delivery) out.delivery = delivery;
      if (group) out.group = group;
      return out;
    },
  };
}
