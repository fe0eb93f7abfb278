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
