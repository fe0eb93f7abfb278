// Pure rendering of the CLI's output: tables in kubectl's style, the live view, history and describe.
import type { MetricResult } from '../api/ports.ts';
import type { StatusView } from '../workflows/controls.ts';

/** One Canary as the CLI shows it: what the apiserver says, overlaid with the workflow's live status. */
export interface CanaryRow {
  namespace: string;
  name: string;
  phase: string;
  weight: number;
  failedChecks: number;
  threshold?: number;
  suspended: boolean;
  interval?: string;
  mirror: boolean;
  stepWeight?: number;
  stepWeights?: number[];
  maxWeight?: number;
  lastTransitionTime?: string;
  step?: number;
  waitingFor?: string;
  paused?: boolean;
  /** Live status from the workflow's `status` query, when a rollout runs. */
  live?: StatusView;
}

/** Left-aligned columns separated by three spaces, as kubectl prints them. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function canaryTable(rows: CanaryRow[], opts: { wide?: boolean; allNamespaces?: boolean } = {}): string {
  const header = ['NAME', 'STATUS', 'WEIGHT'];
  if (opts.wide)
    header.push('SUSPENDED', 'FAILEDCHECKS', 'INTERVAL', 'MIRROR', 'STEPWEIGHT', 'STEPWEIGHTS', 'MAXWEIGHT');
  header.push('STEP', 'WAITING-FOR', 'LASTTRANSITIONTIME');
  if (opts.allNamespaces) header.unshift('NAMESPACE');
  const body = rows.map((r) => {
    const cells = [r.name, r.phase || '-', String(r.weight)];
    if (opts.wide)
      cells.push(
        String(r.suspended),
        String(r.failedChecks),
        r.interval ?? '',
        String(r.mirror),
        r.stepWeight === undefined ? '' : String(r.stepWeight),
        r.stepWeights?.length ? r.stepWeights.join(',') : '',
        r.maxWeight === undefined ? '' : String(r.maxWeight),
      );
    cells.push(r.step === undefined ? '-' : String(r.step), waitingFor(r), r.lastTransitionTime ?? '');
    if (opts.allNamespaces) cells.unshift(r.namespace);
    return cells;
  });
  return table(header, body);
}

function waitingFor(r: CanaryRow): string {
  const w = r.paused ? `${r.waitingFor ?? 'resume'}` : (r.waitingFor ?? '');
  return w || '-';
}

/** `[██████░░░░░░] 50%` */
export function progressBar(value: number, max: number, width = 24): string {
  const ratio = max > 0 ? Math.min(1, Math.max(0, value / max)) : 0;
  const filled = Math.round(ratio * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

export function rangeText(range: { min?: number; max?: number }): string {
  if (range.min !== undefined && range.max !== undefined) return `${range.min} … ${range.max}`;
  if (range.min !== undefined) return `≥ ${range.min}`;
  if (range.max !== undefined) return `≤ ${range.max}`;
  return 'any';
}

export function metricsTable(metrics: MetricResult[]): string {
  if (metrics.length === 0) return '  (no metric checked yet)\n';
  const rows = metrics.map((m) => [
    m.name,
    m.value === null ? 'no data' : formatNumber(m.value),
    rangeText(m.range),
    m.verdict,
  ]);
  return indent(table(['METRIC', 'VALUE', 'THRESHOLD', 'VERDICT'], rows));
}

export function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(Math.abs(n) < 1 ? 4 : 2);
}

function indent(s: string, by = '  '): string {
  return s
    .split('\n')
    .map((l) => (l ? by + l : l))
    .join('\n');
}

/** The live view of one canary (`fledge get NAME -w`): weights, step, gates, metrics, recent steps. */
export function liveView(row: CanaryRow, opts: { maxWeight?: number; steps?: number } = {}): string {
  const s = row.live;
  const title = `${row.name}.${row.namespace}`;
  if (!s) return `${title}   ${row.phase || 'unknown'}   canary weight ${row.weight}%   (no rollout running)\n`;
  const max = opts.maxWeight ?? row.maxWeight ?? 100;
  const lines = [
    `${title}   ${s.phase}${s.paused ? ' (paused)' : ''}   revision ${s.revision.hash}`,
    `  weight  ${progressBar(s.weights.canary, max)} canary ${s.weights.canary}% / primary ${s.weights.primary}%` +
      (s.weights.mirrored ? ' (mirrored)' : ''),
    `  step    ${progressBar(s.step, stepsTotal(row) ?? Math.max(s.step, 1))} ${s.step}${stepsTotal(row) ? ` of ${stepsTotal(row)}` : ''}` +
      `   iterations ${s.iterations}   failed checks ${s.failedChecks}/${s.threshold}`,
    `  gates   waiting for ${s.waitingFor || '-'}`,
  ];
  if (s.pendingRevision) lines.push(`  next    revision ${s.pendingRevision.hash} queued`);
  if (s.message) lines.push(`  message ${s.message}`);
  lines.push('  metrics');
  const recent = s.steps.slice(-(opts.steps ?? 5)).map((st) => `    ${st.at}  ${st.phase.padEnd(16)} ${st.note}`);
  return `${lines.join('\n')}\n${indent(metricsTable(s.metrics))}  recent\n${recent.join('\n')}${recent.length ? '\n' : ''}`;
}

/** Steps of a canary rollout: explicit stepWeights, else maxWeight/stepWeight. */
export function stepsTotal(row: Pick<CanaryRow, 'stepWeights' | 'stepWeight' | 'maxWeight'>): number | undefined {
  if (row.stepWeights?.length) return row.stepWeights.length;
  if (row.stepWeight) return Math.ceil((row.maxWeight ?? 50) / row.stepWeight);
  return undefined;
}

export interface HistoryRow {
  runId: string;
  start: Date;
  close?: Date;
  revision: string;
  cause: string;
  result: string;
  status: string;
  promotedBy: string[];
}

export function historyTable(rows: HistoryRow[]): string {
  const body = rows.map((r) => [
    r.start.toISOString().replace(/\.\d+Z$/, 'Z'),
    r.revision || '-',
    r.cause || '-',
    r.result || '-',
    duration(r.start, r.close),
    r.promotedBy.length ? r.promotedBy.join(', ') : '-',
    r.status,
    r.runId,
  ]);
  return table(['STARTED', 'REVISION', 'CAUSE', 'RESULT', 'DURATION', 'PROMOTED-BY', 'EXECUTION', 'RUN-ID'], body);
}

export function duration(start: Date, end?: Date, now = new Date()): string {
  const ms = Math.max(0, (end ?? now).getTime() - start.getTime());
  const s = Math.round(ms / 1000);
  const text =
    s < 60
      ? `${s}s`
      : s < 3600
        ? `${Math.floor(s / 60)}m${s % 60}s`
        : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return end ? text : `${text}+`;
}

/** `fledge describe`: one rollout's header, weights, metrics and every recorded step. */
export function describeView(ref: { namespace: string; name: string }, runId: string, s: StatusView): string {
  const lines = [
    `Canary:        ${ref.name}.${ref.namespace}`,
    `Workflow:      canary/${ref.namespace}/${ref.name}   run ${runId}`,
    `Revision:      ${s.revision.hash} (generation ${s.revision.generation})`,
    `Phase:         ${s.phase}${s.paused ? ' (paused)' : ''}`,
    `Weights:       primary ${s.weights.primary}% / canary ${s.weights.canary}%${s.weights.mirrored ? ' (mirrored)' : ''}`,
    `Step:          ${s.step}   iterations ${s.iterations}   failed checks ${s.failedChecks}/${s.threshold}`,
    `Waiting for:   ${s.waitingFor || '-'}`,
  ];
  if (s.message) lines.push(`Message:       ${s.message}`);
  const steps = s.steps.map((st) => [st.at, st.kind, st.phase, `${st.routes.primary}/${st.routes.canary}`, st.note]);
  return (
    `${lines.join('\n')}\nMetrics:\n${metricsTable(s.metrics)}Steps:\n` +
    indent(table(['TIME', 'KIND', 'PHASE', 'PRIMARY/CANARY', 'NOTE'], steps))
  );
}
