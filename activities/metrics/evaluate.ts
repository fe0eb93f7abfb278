// Judging metric values the way Flagger does: order, short-circuit, inclusive ranges, the deprecated
// `threshold`, and Flagger's event texts, plus fledge's per-metric `noDataPolicy`. Pure: the readings come from
// a callback, so this runs the same against real backends, scripted values and the benchmark.
import type { CanaryRef, MetricResult, MetricSpec, MetricsOutcome, ThresholdRange } from '../../api/ports.ts';
import { BUILTIN_METRICS } from '../../api/canary.ts';

export type NoDataPolicy = 'fail' | 'skip' | 'pass';

/** A metric as the workflow passes it: the Canary's metric, which also carries `noDataPolicy`. */
export interface Metric extends MetricSpec {
  noDataPolicy?: NoDataPolicy;
}

export type CheckKind = 'request-success-rate' | 'request-duration' | 'query' | 'template';

export interface Check {
  metric: Metric;
  kind: CheckKind;
}

/** What running one check gave: a value, no data (with the provider's detail), or a failed query (full text). */
export type Reading = { value: number } | { noValues: string } | { error: string };

export interface EvalContext {
  canary: CanaryRef;
  /** `spec.targetRef.name`, named in the no-values messages of builtin metrics. */
  target: string;
  /** Observer (provider) name of builtin metrics, e.g. "istio". */
  observer: string;
}

/**
 * Flagger's order: builtin metrics and inline queries first, in spec order, then templates. A templateRef or a
 * query takes precedence over a builtin name (Flagger would run both).
 */
export function checkOrder(metrics: Metric[]): Check[] {
  const first: Check[] = [];
  const templates: Check[] = [];
  for (const metric of metrics) {
    if (metric.templateRef) templates.push({ metric, kind: 'template' });
    else if (metric.query) first.push({ metric, kind: 'query' });
    else if ((BUILTIN_METRICS as readonly string[]).includes(metric.name)) {
      first.push({ metric, kind: metric.name as CheckKind });
    }
  }
  return [...first, ...templates];
}

/** Runs the checks in order and stops at the first failing one, as Flagger does. */
export async function evaluate(
  ctx: EvalContext,
  checks: Check[],
  read: (check: Check) => Promise<Reading>,
): Promise<MetricsOutcome> {
  const results: MetricResult[] = [];
  for (const check of checks) {
    const { result, failing } = judge(ctx, check, await read(check));
    results.push(result);
    if (failing) return { ok: false, results };
  }
  return { ok: true, results };
}

export function judge(ctx: EvalContext, check: Check, reading: Reading): { result: MetricResult; failing: boolean } {
  const { metric, kind } = check;
  const range = effectiveRange(metric, kind);
  const base = { name: metric.name, range };
  if ('error' in reading) return failed({ ...base, value: null, verdict: 'fail', message: reading.error });
  if ('noValues' in reading) return noData(ctx, check, range, reading.noValues);
  const value = kind === 'request-duration' ? truncMs(reading.value) : reading.value;
  const message = outOfRange(ctx, check, range, value);
  const result: MetricResult = { ...base, value: Number.isFinite(value) ? value : null, verdict: 'pass' };
  if (message === undefined) return { result, failing: false };
  return failed({ ...result, verdict: 'fail', message });
}

function failed(result: MetricResult): { result: MetricResult; failing: boolean } {
  return { result, failing: true };
}

/**
 * `thresholdRange` as written; else the deprecated `threshold`, which Flagger reads as a minimum for the
 * success rate and a maximum otherwise. No bound at all passes (Flagger compared against 0).
 */
export function effectiveRange(metric: Metric, kind: CheckKind): ThresholdRange {
  if (metric.thresholdRange) {
    const { min, max } = metric.thresholdRange;
    return { ...(min !== undefined && { min }), ...(max !== undefined && { max }) };
  }
  if (metric.threshold === undefined) return {};
  return kind === 'request-success-rate' ? { min: metric.threshold } : { max: metric.threshold };
}

function noData(ctx: EvalContext, check: Check, range: ThresholdRange, detail: string) {
  const policy = check.metric.noDataPolicy ?? 'fail';
  const base = { name: check.metric.name, value: null, range };
  if (policy === 'pass') return { result: { ...base, verdict: 'pass' as const }, failing: false };
  if (policy === 'skip') return { result: { ...base, verdict: 'no-data' as const }, failing: false };
  return failed({ ...base, verdict: 'no-data', message: noValuesMessage(ctx, check, detail) });
}

function noValuesMessage(ctx: EvalContext, { metric, kind }: Check, detail: string): string {
  const traffic = `probably ${ctx.target}.${ctx.canary.namespace} is not receiving traffic`;
  switch (kind) {
    case 'request-success-rate':
      return `Halt advancement no values found for ${ctx.observer} metric ${metric.name} ${traffic}: running query failed: ${detail}`;
    case 'request-duration':
      return `Halt advancement no values found for ${ctx.observer} metric ${metric.name} ${traffic}`;
    case 'query':
      return `Halt advancement no values found for metric: ${metric.name}`;
    case 'template':
      return `Halt advancement no values found for custom metric: ${metric.name}: ${detail}`;
  }
}

/** Flagger's Warning text when `value` is outside `range` (bounds inclusive), else undefined. */
function outOfRange(ctx: EvalContext, { metric, kind }: Check, range: ThresholdRange, value: number) {
  const halt = `Halt ${ctx.canary.name}.${ctx.canary.namespace} advancement`;
  if (kind === 'request-duration') {
    const min = range.min === undefined ? undefined : Math.trunc(range.min);
    const max = range.max === undefined ? undefined : Math.trunc(range.max);
    if (min !== undefined && value < min) return `${halt} request duration ${goDuration(value)} < ${goDuration(min)}`;
    if (max !== undefined && value > max) return `${halt} request duration ${goDuration(value)} > ${goDuration(max)}`;
    return undefined;
  }
  const [what, unit] = kind === 'request-success-rate' ? ['success rate', '%'] : [metric.name, ''];
  if (range.min !== undefined && value < range.min) {
    return `${halt} ${what} ${fixed2(value)}${unit} < ${goFloat(range.min)}${unit}`;
  }
  if (range.max !== undefined && value > range.max) {
    return `${halt} ${what} ${fixed2(value)}${unit} > ${goFloat(range.max)}${unit}`;
  }
  return undefined;
}

/** Flagger truncates the P99 to whole milliseconds; the guard absorbs float noise like 1749.9999999998. */
function truncMs(ms: number): number {
  return Number.isFinite(ms) ? Math.trunc(Math.round(ms * 1e6) / 1e6) : ms;
}

/** Go's `%.2f`. */
export function fixed2(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  return v.toFixed(2);
}

/** Go's `%v` of a float64: shortest form, exponent below 1e-4 and from 1e21 on ("1e-05", "1e+21"). */
export function goFloat(v: number): string {
  if (!Number.isFinite(v)) return fixed2(v);
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e21)) {
    const [mantissa, exp] = v.toExponential().split('e') as [string, string];
    const sign = exp.startsWith('-') ? '-' : '+';
    return `${mantissa}e${sign}${exp.replace(/^[+-]/, '').padStart(2, '0')}`;
  }
  return String(v);
}

/** Go's time.Duration String() for a whole number of milliseconds: "500ms", "1.515s", "1m0s", "1h2m3s". */
export function goDuration(ms: number): string {
  if (!Number.isFinite(ms)) return fixed2(ms);
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${abs}ms`;
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = ((abs % 60_000) / 1000).toFixed(3).replace(/\.?0+$/, '');
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}
