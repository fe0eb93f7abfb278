// The start of one rollout's history as a timeline: each event with its time since the execution started, its
// kind and its activity type or summary. The side-by-side benchmark prints it for one fledge canary, so the
// time from `kubectl set image` to the first weight can be read event by event (which round trip costs what).
import { Client, Connection } from '@temporalio/client';
import { rolloutWorkflowId } from '../workflows/controls.ts';

interface EventLike {
  eventTime?: { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null;
  userMetadata?: { summary?: { data?: Uint8Array | null } | null } | null;
  [k: string]: unknown;
}

function millis(e: EventLike): number {
  const s = e.eventTime?.seconds;
  const secs = typeof s === 'number' ? s : s ? s.toNumber() : 0;
  return secs * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
}

function summaryOf(e: EventLike): string {
  const data = e.userMetadata?.summary?.data;
  if (!data) return '';
  try {
    return String(JSON.parse(Buffer.from(data).toString('utf8')));
  } catch {
    return '';
  }
}

/**
 * An event's kind and what it names: `['markerRecorded', 'core_local_activity']`,
 * `['activityTaskScheduled', 'setRoutes']`, `['timerFired', undefined]`.
 */
export function eventKind(e: object): [kind: string, detail: string | undefined] {
  const key = Object.keys(e).find((k) => k.endsWith('EventAttributes')) ?? 'unknownEventAttributes';
  const attrs = (e as Record<string, { activityType?: { name?: string }; markerName?: string } | undefined>)[key];
  return [key.replace(/EventAttributes$/, ''), attrs?.activityType?.name ?? attrs?.markerName ?? undefined];
}

/**
 * Lines "+ms kind detail" for the events of the latest execution of the Canary's rollout workflow: its first
 * `head` events and its last `tail` (a line "…" between them when some are left out). Throws when the workflow
 * does not exist.
 */
export async function rolloutTimeline(
  address: string,
  namespace: string,
  canary: { namespace: string; name: string },
  { head = 60, tail = 0 }: { head?: number; tail?: number } = {},
): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    const history = await client.workflow.getHandle(rolloutWorkflowId(canary)).fetchHistory();
    const all = (history.events ?? []) as EventLike[];
    const t0 = all.length ? millis(all[0]!) : 0;
    const line = (e: EventLike) => {
      const [kind, named] = eventKind(e);
      const detail = [named, summaryOf(e)].filter(Boolean).join(': ');
      return `+${(millis(e) - t0).toFixed(0).padStart(6)} ms  ${kind}${detail ? `  ${detail}` : ''}`;
    };
    if (all.length <= head + tail) return all.map(line);
    return [...all.slice(0, head).map(line), '…', ...all.slice(all.length - tail).map(line)];
  } finally {
    await connection.close();
  }
}

/** Where the time of one weight step went, ms (see stepLatencies). */
export interface StepLatency {
  /** Wall clock (ms since the epoch) the interval's timer was due. */
  dueAt: number;
  /** Timer due → TimerFired: the server's timer queue. */
  timer: number;
  /** TimerFired → the workflow task started on the worker: task queue and the worker's pollers. */
  taskQueue: number;
  /** Workflow task started → completed with setRoutes scheduled: the workflow's code and its local activities. */
  task: number;
  /** setRoutes scheduled → started on the worker: the activity task queue. */
  activityQueue: number;
  /** Timer due → setRoutes started: the step's lateness, the sum of the above. */
  total: number;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : v ? Number(String(v)) : 0);
const durationMs = (d: unknown): number => {
  const x = d as { seconds?: unknown; nanos?: number | null } | null | undefined;
  return num(x?.seconds) * 1000 + (x?.nanos ?? 0) / 1e6;
};

/**
 * For each `setRoutes` activity of a history that follows a fired timer, where its lateness went: the timer that
 * fired last before the workflow task which scheduled it, that task, and the activity's own queue. Steps scheduled
 * after another activity completed (the first weight after the readiness wait) are left out. Event times are the
 * server's, so the segments add up to `total` whatever the worker's clock.
 */
export function stepLatencies(events: object[]): StepLatency[] {
  const byId = new Map<number, EventLike>();
  for (const e of events as EventLike[]) byId.set(num(e.eventId), e);
  const attrs = (e: EventLike | undefined, kind: string) =>
    e?.[`${kind}EventAttributes`] as Record<string, unknown> | undefined;
  const out: StepLatency[] = [];
  let lastFired: EventLike | undefined;
  let firedBeforeTask: EventLike | undefined;
  const started = new Map<number, number>(); // activity scheduled id → started time
  for (const e of events as EventLike[]) {
    const s = attrs(e, 'activityTaskStarted');
    if (s) started.set(num(s.scheduledEventId), millis(e));
  }
  for (const e of events as EventLike[]) {
    const [kind, named] = eventKind(e);
    if (kind === 'timerFired') lastFired = e;
    if (kind === 'workflowTaskScheduled' && lastFired) {
      firedBeforeTask = lastFired;
      lastFired = undefined;
    }
    // A step is one timer's task (and its heartbeats) scheduling setRoutes; after another activity, it is not.
    if (kind === 'activityTaskCompleted') firedBeforeTask = lastFired = undefined;
    if (kind !== 'activityTaskScheduled' || named !== 'setRoutes' || !firedBeforeTask) continue;
    const completed = byId.get(num(attrs(e, 'activityTaskScheduled')?.workflowTaskCompletedEventId));
    const c = attrs(completed, 'workflowTaskCompleted');
    const taskStarted = byId.get(num(c?.startedEventId));
    const timerStarted = byId.get(num(attrs(firedBeforeTask, 'timerFired')?.startedEventId));
    const fire = durationMs(attrs(timerStarted, 'timerStarted')?.startToFireTimeout);
    const activityStarted = started.get(num(e.eventId));
    if (!completed || !taskStarted || !timerStarted || activityStarted === undefined) continue;
    const dueAt = millis(timerStarted) + fire;
    out.push({
      dueAt,
      timer: millis(firedBeforeTask) - dueAt,
      taskQueue: millis(taskStarted) - millis(firedBeforeTask),
      task: millis(completed) - millis(taskStarted),
      activityQueue: activityStarted - millis(e),
      total: activityStarted - dueAt,
    });
    firedBeforeTask = undefined;
  }
  return out;
}
