// What the Temporal UI shows of a rollout: a one-line summary on every activity and timer the workflow starts,
// and the current details (phase, weights, analysis, what it waits for, the commands that move it on).
// Pure text builders, part of the workflow bundle. Only names, numbers and phases go in: never a webhook URL or
// its metadata (WebhookRef holds none), a metric query, or anything read from a Secret, since all of it lands in
// the workflow history and the UI (test/integration/rollout-story.test.ts checks a finished history for them).

import type {
  CanaryRef,
  MetricResult,
  MetricSpec,
  RolloutSpec,
  Routes,
  ThresholdRange,
  WebhookRef,
} from '../api/ports.ts';
import { rolloutWorkflowId } from './controls.ts';
import { strategyOf } from './spec.ts';
import type { RolloutState } from './state.ts';

/** Webhook types that hold the rollout until they answer 2xx (Flagger's gates). */
const GATES: readonly string[] = ['confirm-rollout', 'confirm-traffic-increase', 'confirm-promotion'];

/** "0.4", "99.53", "12": at most two decimals, no trailing zeros. */
export function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** "≤ 1", "≥ 99", "between 1 and 5"; Flagger's legacy `threshold` is a lower bound. */
function bound(range: ThresholdRange | undefined, threshold: number | undefined): string {
  if (range?.min !== undefined && range.max !== undefined) return `in [${num(range.min)}, ${num(range.max)}]`;
  if (range?.max !== undefined) return `≤ ${num(range.max)}`;
  if (range?.min !== undefined) return `≥ ${num(range.min)}`;
  if (threshold !== undefined) return `≥ ${num(threshold)}`;
  return 'recorded';
}

/** Activity summary of runMetrics: what the analysis will check, e.g. "analysis: error-rate ≤ 1, latency ≤ 0.5". */
export function analysisSummary(metrics: MetricSpec[]): string {
  return `analysis: ${metrics.map((m) => `${m.name} ${bound(m.thresholdRange, m.threshold)}`).join(', ')}`;
}

/** What the last analysis found, e.g. "error-rate 0.4 ≤ 1 ✓, latency 0.7 > 0.5 ✗". */
export function analysisResult(results: MetricResult[]): string {
  return results
    .map((r) => {
      if (r.value === null) return `${r.name}: no data (${r.verdict})`;
      const ok = r.verdict === 'pass';
      const b = bound(r.range, undefined);
      const shown = ok ? b : b.replace('≤', '>').replace('≥', '<').replace('in [', 'outside [');
      return `${r.name} ${num(r.value)} ${shown} ${ok ? '✓' : '✗'}`;
    })
    .join(', ');
}

/** Activity summary of a webhook call; gates say they decide whether the rollout may go on. */
export function webhookSummary(hook: Pick<WebhookRef, 'name' | 'type'>): string {
  return GATES.includes(hook.type) ? `gate ${hook.type} ${hook.name}: open?` : `webhook ${hook.type} ${hook.name}`;
}

/** "weight 30 % (primary 70 %)", "mirror to canary (primary 100 %)". */
export function weights(r: Routes): string {
  if (r.mirrored) return `mirror to canary, weight ${r.canary} % (primary ${r.primary} %)`;
  return `weight ${r.canary} % (primary ${r.primary} %)`;
}

/** Activity summary of setRoutes, e.g. "set weight 30 % (primary 70 %)". */
export function setRoutesSummary(routes: Routes): string {
  return `set ${weights(routes)}`;
}

/** Name of the Canary's target (from the last valid spec), else the Canary's own name. */
export function targetOf(canary: CanaryRef, spec: RolloutSpec | undefined): string {
  return spec?.targetRef.name ?? canary.name;
}

/** Go-style-free duration for people: "10 s", "2 min", "1.5 h". */
export function humanDuration(ms: number): string {
  if (ms >= 3_600_000) return `${num(ms / 3_600_000)} h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${num(ms / 1000)} s`;
}

/** Summary of the timer between ticks: "wait 10 s for the next analysis", "wait 10 s for resume (paused by alice)". */
export function waitSummary(ms: number, waitingFor: string): string {
  if (waitingFor.startsWith('next analysis interval'))
    return `wait ${humanDuration(ms)} for the next analysis${waitingFor.slice('next analysis interval'.length)}`;
  return `wait ${humanDuration(ms)} for ${waitingFor}`;
}

/** Number of traffic steps a canary strategy takes to reach its max weight (undefined for A/B and blue/green). */
export function stepCount(spec: RolloutSpec): number | undefined {
  if (strategyOf(spec) !== 'canary') return spec.analysis.iterations;
  const a = spec.analysis;
  if (a.stepWeights?.length) return a.stepWeights.length;
  const max = a.maxWeight ?? 50;
  return a.stepWeight ? Math.ceil(max / a.stepWeight) : undefined;
}

/** The exact commands that send a control to this rollout: `temporal` update, signal, and `fledge`. */
export function controlCommands(canary: CanaryRef, control: string): string[] {
  const id = rolloutWorkflowId(canary);
  const input = `'{"by":"<you>","reason":"<why>"}'`;
  return [
    `temporal workflow update execute --workflow-id ${id} --name ${control} --input ${input}`,
    `fledge ${control} ${canary.name} -n ${canary.namespace}`,
  ];
}

/** Controls that apply in the rollout's current state (the same rules as the validators, in short). */
function controlsNow(state: RolloutState): string[] {
  if (state.deleted || state.deleting) return [];
  if (state.paused) return ['resume', 'abort'];
  if (state.final) return state.phase === 'Failed' ? ['retry'] : [];
  switch (state.phase) {
    case 'Waiting':
    case 'Progressing':
    case 'WaitingPromotion':
      return ['promote', 'abort', 'pause'];
    default:
      return [];
  }
}

/**
 * The workflow's current details (Temporal markdown, shown at the top of the UI's workflow page): phase, weights,
 * step, failed checks, the last analysis, what the rollout waits for, and the commands for the controls that
 * apply now. Example:
 *
 *     **Progressing** · weight 30 % (primary 70 %) · step 3 of 5 · failed checks 0/2
 *     analysis: error-rate 0.4 ≤ 1 ✓, latency 0.21 ≤ 0.5 ✓
 *     gate confirm-promotion approve: closed             (while a gate holds the rollout)
 *     waiting for: approval from confirm-promotion hook approve
 *     promote: `temporal workflow update execute … --name promote …` or `fledge promote podinfo -n test`
 */
export function currentDetails(state: RolloutState): string {
  const spec = state.lastSpec;
  const total = spec ? stepCount(spec) : undefined;
  const step = `step ${state.step}${total ? ` of ${total}` : ''}`;
  const head = [
    `**${state.phase}**`,
    weights(state.routes),
    step,
    `failed checks ${state.failedChecks}/${state.threshold}`,
  ];
  if (state.paused) head.push(`paused by ${state.paused.by}`);
  if (state.pendingRevision) head.push(`next revision ${state.pendingRevision.hash} queued`);
  const lines = [head.join(' · ')];
  if (state.metrics.length > 0) lines.push(`analysis: ${analysisResult(state.metrics)}`);
  if (state.message) lines.push(`message: ${state.message}`);
  const gate = /^approval from (\S+) hook (.+)$/.exec(state.waitingFor);
  if (gate) lines.push(`gate ${gate[1]} ${gate[2]}: closed`);
  lines.push(`waiting for: ${state.waitingFor}`);
  for (const control of controlsNow(state)) {
    const [temporal, fledge] = controlCommands(state.canary, control);
    lines.push(`${control}: \`${temporal}\` or \`${fledge}\``);
  }
  return lines.join('\n\n');
}
