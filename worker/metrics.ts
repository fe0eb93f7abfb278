// Flagger-compatible Prometheus metrics (same names and labels as Flagger v1.44's pkg/metrics/recorder.go, so
// existing dashboards and alerts keep working), fed from the status projection the workflow writes each time
// it changes: `recordStatus` is called next to the writeStatus activity. One registry per process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CanaryPhase, CanaryRef, MetricResult, StatusProjection } from '../api/ports.ts';

export type DeploymentStrategy = 'canary' | 'blue-green' | 'ab-testing';

/** What the projection does not carry; the worker learns it from the Canary list (see main.ts). */
export interface CanaryFacts {
  /** Flagger labels per-canary series with the target's name, not the Canary's. */
  target: string;
  strategy: DeploymentStrategy;
  skipAnalysis: boolean;
}

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const info = new Gauge({
  name: 'flagger_info',
  help: 'Flagger version and mesh provider information',
  labelNames: ['version', 'mesh_provider'],
  registers: [registry],
});
const total = new Gauge({
  name: 'flagger_canary_total',
  help: 'Total number of canary object',
  labelNames: ['namespace'],
  registers: [registry],
});
const status = new Gauge({
  name: 'flagger_canary_status',
  help: 'Last canary analysis result',
  labelNames: ['name', 'namespace'],
  registers: [registry],
});
const weight = new Gauge({
  name: 'flagger_canary_weight',
  help: 'The virtual service destination weight current value',
  labelNames: ['workload', 'namespace'],
  registers: [registry],
});
// fledge adds the threshold range as labels (Flagger issue #1304), so a dashboard can draw the limit line.
const analysis = new Gauge({
  name: 'flagger_canary_metric_analysis',
  help: 'Last canary analysis result per metric',
  labelNames: ['name', 'namespace', 'metric', 'min', 'max'],
  registers: [registry],
});
// Flagger observes the time of one analysis pass; fledge observes a whole rollout (first analysis step to
// Succeeded/Failed), which is what the dashboards plot, hence buckets in minutes rather than milliseconds.
const duration = new Histogram({
  name: 'flagger_canary_duration_seconds',
  help: 'Seconds spent performing canary analysis.',
  labelNames: ['name', 'namespace'],
  buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
  registers: [registry],
});
const outcomeLabels = ['name', 'namespace', 'deployment_strategy', 'analysis_status'];
const successes = new Counter({
  name: 'flagger_canary_successes_total',
  help: 'Total number of canary successes',
  labelNames: outcomeLabels,
  registers: [registry],
});
const failures = new Counter({
  name: 'flagger_canary_failures_total',
  help: 'Total number of canary failures',
  labelNames: outcomeLabels,
  registers: [registry],
});

const facts = new Map<string, CanaryFacts>();
/** Per canary: when the current revision's analysis started (this process's clock), and the outcomes counted. */
const runs = new Map<string, { revision: string; startedAt?: number; counted: Set<string> }>();
/** Per canary and metric: the threshold labels last used, so a changed threshold does not leave a stale series. */
const analysisLabels = new Map<string, { min: string; max: string }>();

function key(ref: CanaryRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export function setInfo(version: string, meshProvider: string): void {
  info.reset();
  info.set({ version, mesh_provider: meshProvider }, 1);
}

/** Canaries per namespace, from the worker's periodic Canary list; also remembers target and strategy. */
export function recordCanaries(canaries: (CanaryRef & Partial<CanaryFacts>)[]): void {
  total.reset();
  const counts = new Map<string, number>();
  facts.clear();
  for (const c of canaries) {
    counts.set(c.namespace, (counts.get(c.namespace) ?? 0) + 1);
    facts.set(key(c), {
      target: c.target ?? c.name,
      strategy: c.strategy ?? 'canary',
      skipAnalysis: c.skipAnalysis ?? false,
    });
  }
  for (const [namespace, n] of counts) total.set({ namespace }, n);
}

/** Flagger's status gauge: 0 while progressing, 2 after a failure, 1 otherwise. */
export function statusValue(phase: CanaryPhase): number {
  if (phase === 'Progressing') return 0;
  if (phase === 'Failed') return 2;
  return 1;
}

/**
 * Record a status projection of one canary. Idempotent: a retried writeStatus with the same projection changes
 * no counter (outcomes are counted once per run and revision).
 */
export function recordStatus(canary: CanaryRef, projection: StatusProjection, now = Date.now()): void {
  const f = facts.get(key(canary)) ?? { target: canary.name, strategy: 'canary', skipAnalysis: false };
  const ns = canary.namespace;
  status.set({ name: f.target, namespace: ns }, statusValue(projection.phase));
  weight.set({ workload: `${f.target}-primary`, namespace: ns }, 100 - projection.canaryWeight);
  weight.set({ workload: f.target, namespace: ns }, projection.canaryWeight);
  for (const m of projection.metrics) recordMetric(f.target, ns, m);
  recordOutcome(canary, f, projection, now);
}

function recordMetric(target: string, namespace: string, m: MetricResult): void {
  if (m.value === null) return;
  const labels = { min: bound(m.range.min), max: bound(m.range.max) };
  const k = `${namespace}/${target}/${m.name}`;
  const previous = analysisLabels.get(k);
  if (previous && (previous.min !== labels.min || previous.max !== labels.max))
    analysis.remove({ name: target, namespace, metric: m.name, ...previous });
  analysisLabels.set(k, labels);
  analysis.set({ name: target, namespace, metric: m.name, ...labels }, m.value);
}

function bound(n: number | undefined): string {
  return n === undefined ? '' : String(n);
}

const ACTIVE: readonly string[] = ['Waiting', 'Progressing', 'WaitingPromotion', 'Promoting', 'Finalising'];

function recordOutcome(canary: CanaryRef, f: CanaryFacts, p: StatusProjection, now: number): void {
  const k = key(canary);
  let run = runs.get(k);
  if (!run || run.revision !== p.revision) {
    run = { revision: p.revision, counted: new Set() };
    runs.set(k, run);
  }
  if (ACTIVE.includes(p.phase) && run.startedAt === undefined) run.startedAt = now;
  if (p.phase !== 'Succeeded' && p.phase !== 'Failed') return;
  const outcome = `${p.runId}/${p.phase}`;
  if (run.counted.has(outcome)) return;
  run.counted.add(outcome);
  const labels = {
    name: f.target,
    namespace: canary.namespace,
    deployment_strategy: f.strategy,
    analysis_status: f.skipAnalysis ? 'skipped' : 'completed',
  };
  (p.phase === 'Succeeded' ? successes : failures).inc(labels);
  // Only when this process saw the start: a rollout that began on another replica has no honest duration here.
  if (run.startedAt !== undefined)
    duration.observe({ name: f.target, namespace: canary.namespace }, (now - run.startedAt) / 1000);
  run.startedAt = undefined;
}

/** Drop every series of a deleted canary. */
export function forgetCanary(canary: CanaryRef): void {
  const f = facts.get(key(canary));
  const target = f?.target ?? canary.name;
  const ns = canary.namespace;
  status.remove({ name: target, namespace: ns });
  weight.remove({ workload: target, namespace: ns });
  weight.remove({ workload: `${target}-primary`, namespace: ns });
  for (const [k, labels] of analysisLabels) {
    const prefix = `${ns}/${target}/`;
    if (!k.startsWith(prefix)) continue;
    analysis.remove({ name: target, namespace: ns, metric: k.slice(prefix.length), ...labels });
    analysisLabels.delete(k);
  }
  runs.delete(key(canary));
}

/** Our metrics in the Prometheus text format. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}

export const METRICS_CONTENT_TYPE = registry.contentType;
