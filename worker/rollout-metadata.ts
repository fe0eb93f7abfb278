// The static summary and details of a rollout execution, set where the watcher starts it (signal-with-start):
// what the Temporal UI's workflow list and page show before a single event. Pure: from the Canary as read, no I/O.
// Names, weights and thresholds only; never a webhook URL, its metadata, a metric query or a Secret's value.

import type { Provider } from '../api/canary.ts';
import type { Revision, RolloutSpec } from '../api/ports.ts';
import { parseCanary } from '../api/validate.ts';
import { toRolloutSpec } from '../workflows/spec-from-canary.ts';
import { strategyOf } from '../workflows/spec.ts';
import { analysisSummary, humanDuration } from '../workflows/story.ts';
import { maxWeight } from '../workflows/weights.ts';

export interface RolloutMetadata {
  /** One line, e.g. "test/podinfo: canary rollout of revision 6f7c9d (gatewayapi:v1)". */
  staticSummary: string;
  /** Temporal markdown: target, strategy, provider, traffic steps, analysis, hooks, alerts. */
  staticDetails: string;
}

/**
 * Canary weights the canary strategy steps through, in %: `stepWeights` as written, or `stepWeight` increments up
 * to `maxWeight` (the last step never overshoots it, workflows/weights.ts).
 */
export function trafficSteps(spec: RolloutSpec): number[] {
  const a = spec.analysis;
  if (a.stepWeights?.length) return a.stepWeights.map((w) => Math.min(w, 100));
  const max = maxWeight(a);
  const step = a.stepWeight ?? 0;
  if (step <= 0) return [];
  const out: number[] = [];
  for (let w = step; w < max; w += step) out.push(w);
  out.push(max);
  return out;
}

const STRATEGY_NAMES = { canary: 'canary', ab: 'A/B testing', 'blue-green': 'blue/green' } as const;

/** How the rollout moves traffic, in one line. */
function plan(spec: RolloutSpec): string {
  const a = spec.analysis;
  const every = `every ${humanDuration(a.intervalMs)}`;
  switch (strategyOf(spec)) {
    case 'ab':
      return `${a.iterations} analysis iterations ${every} on matched traffic, then promote`;
    case 'blue-green':
      return `${a.iterations} analysis iterations ${every}${a.mirror ? ' with mirrored traffic' : ''}, then switch and promote`;
    case 'canary': {
      const steps = trafficSteps(spec);
      const promotion = a.stepWeightPromotion ? ` (promotion in steps of ${a.stepWeightPromotion} %)` : '';
      return `canary weight ${steps.map((w) => `${w} %`).join(' → ')}, one step ${every}, then promote${promotion}`;
    }
  }
}

/**
 * Static summary and details of the execution that rolls out `revision` of the Canary `raw` (as the watcher read
 * it; the default provider as the worker's). A Canary that does not validate gets a summary that says so, and its
 * rollout reports the errors itself.
 */
export function rolloutMetadata(
  raw: unknown,
  ref: { namespace: string; name: string },
  revision: Revision,
  cause: string,
  defaultProvider?: string,
): RolloutMetadata {
  const who = `${ref.namespace}/${ref.name}`;
  const rev = revision.hash ? `revision ${revision.hash}` : 'the current revision';
  const parsed = parseCanary(raw, defaultProvider ? { defaultProvider: defaultProvider as Provider } : {});
  if (!parsed.ok) {
    return {
      staticSummary: `${who}: rollout of ${rev} (${cause}); spec invalid`,
      staticDetails: `The Canary does not validate (${parsed.errors.length} error(s)); the rollout reports them in its status.`,
    };
  }
  const spec = toRolloutSpec(parsed.canary);
  const strategy = STRATEGY_NAMES[strategyOf(spec)];
  const provider = spec.provider ?? defaultProvider ?? 'kubernetes';
  const a = spec.analysis;
  const lines = [
    `**${strategy}** rollout of ${spec.targetRef.kind} ${spec.targetRef.name} to ${rev} (${cause}), provider ${provider}`,
    `steps: ${spec.skipAnalysis ? 'skip analysis, promote at once' : plan(spec)}`,
    `analysis: ${a.metrics.length > 0 ? analysisSummary(a.metrics).slice('analysis: '.length) : 'no metrics'}; rollback after ${a.threshold} failed checks`,
  ];
  if (a.webhooks.length > 0) lines.push(`webhooks: ${a.webhooks.map((h) => `${h.name} (${h.type})`).join(', ')}`);
  if (a.alerts.length > 0) lines.push(`alerts: ${a.alerts.map((al) => `${al.name} (${al.severity})`).join(', ')}`);
  lines.push(`progress deadline ${humanDuration(spec.progressDeadlineSeconds * 1000)}`);
  return {
    staticSummary: `${who}: ${strategy} rollout of ${rev} (${provider})`,
    staticDetails: lines.join('\n\n'),
  };
}
