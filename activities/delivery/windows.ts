// Delivery window and freeze arithmetic (pure: no I/O), in IANA time zones through Intl. Runs in the delivery
// activity, never in the workflow sandbox: the workflow only sees the verdict and the opening instant.
//
// The rule: a new rollout may start at instant t when, for every policy that has windows, one of its windows is
// open at t, and no freeze of any policy is in force at t (from <= t < until). A window is open when the local
// time in its zone is within [start, end) on one of its days (a window whose end is not after its start ends the
// next day). The first instant >= now at which that holds is one of: now, a freeze's end, or a window's start;
// windowStarts() finds the starts as instants, across daylight saving changes (a start inside a skipped hour
// opens at the end of the gap; one inside a repeated hour opens at its first occurrence and again at the second).
import {
  WEEKDAYS,
  isTimeZone,
  type ActiveFreeze,
  type DeliveryPolicySpec,
  type DeliveryVerdict,
  type DeliveryWindow,
  type Freeze,
} from '../../api/delivery-policy.ts';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** How far ahead nextOpening looks. */
export const HORIZON_MS = 8 * DAY_MS;

/** A policy with its `<namespace>/<name>`. */
export interface NamedPolicy {
  id: string;
  spec: DeliveryPolicySpec;
}

interface Local {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Monday … 6 = Sunday. */
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const SHORT_DAYS: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/** Local calendar time of instant `at` (ms) in `timeZone`. */
export function localTime(at: number, timeZone: string): Local {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(at))) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: SHORT_DAYS[parts.weekday ?? ''] ?? 0,
  };
}

/** The local wall time of `at` as if it were UTC, ms (whole seconds). */
function wallMs(at: number, timeZone: string): number {
  const l = localTime(at, timeZone);
  return Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
}

/** UTC offset of `timeZone` at instant `at`, ms (e.g. +3,600,000 for CET). */
export function offsetMs(at: number, timeZone: string): number {
  const whole = Math.floor(at / 1000) * 1000;
  return wallMs(whole, timeZone) - whole;
}

/**
 * The instants at which the local clock of `timeZone` reaches wall time `wall` (ms of the wall time read as UTC):
 * one usually; two in a repeated hour (both occurrences); in a skipped hour, the end of the gap (the first
 * instant whose local time is past `wall`).
 */
export function instantsOfWall(wall: number, timeZone: string): number[] {
  const approx = wall - offsetMs(wall, timeZone);
  const offsets = [offsetMs(approx - 6 * HOUR_MS, timeZone), offsetMs(approx + 6 * HOUR_MS, timeZone)];
  const candidates = [...new Set(offsets.map((o) => wall - o))].sort((a, b) => a - b);
  const exact = candidates.filter((c) => wallMs(c, timeZone) === wall);
  if (exact.length > 0) return exact;
  // A gap: the wall time never happens; the local clock jumps over it between the two candidates.
  let lo = candidates[0]!;
  let hi = candidates[candidates.length - 1]!;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (wallMs(mid, timeZone) >= wall) hi = mid;
    else lo = mid;
  }
  return [hi];
}

function minutesOf(clock: string): number {
  const [h, m] = clock.split(':').map(Number);
  return h! * 60 + m!;
}

function daysOf(w: DeliveryWindow): Set<number> {
  return new Set((w.days?.length ? w.days : WEEKDAYS).map((d) => SHORT_DAYS[d]!));
}

/** Whether window `w` is open at instant `at`. A window in an unknown time zone is never open. */
export function windowOpen(w: DeliveryWindow, at: number): boolean {
  const timeZone = w.timeZone ?? 'UTC';
  if (!isTimeZone(timeZone)) return false;
  const l = localTime(at, timeZone);
  const m = l.hour * 60 + l.minute;
  const start = minutesOf(w.start);
  const end = minutesOf(w.end);
  const days = daysOf(w);
  const wraps = end <= start;
  if (days.has(l.weekday) && m >= start && (wraps || m < end)) return true;
  return wraps && days.has((l.weekday + 6) % 7) && m < end;
}

/** Start instants of window `w` from one day before `from` to `from + horizon`, ascending. */
export function windowStarts(w: DeliveryWindow, from: number, horizon = HORIZON_MS): number[] {
  const timeZone = w.timeZone ?? 'UTC';
  if (!isTimeZone(timeZone)) return [];
  const today = localTime(from, timeZone);
  const start = minutesOf(w.start);
  const days = daysOf(w);
  const out: number[] = [];
  for (let k = -1; k * DAY_MS <= horizon + DAY_MS; k++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + k));
    if (!days.has((date.getUTCDay() + 6) % 7)) continue;
    const wall = date.getTime() + start * 60_000;
    for (const t of instantsOfWall(wall, timeZone)) if (t >= from - DAY_MS && t <= from + horizon) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

function freezeSpan(f: Freeze): { from: number; until: number } {
  return { from: f.from ? Date.parse(f.from) : -Infinity, until: Date.parse(f.until) };
}

/** The freezes in force at `at`, with their policy. */
export function activeFreezes(policies: NamedPolicy[], at: number): ActiveFreeze[] {
  const out: ActiveFreeze[] = [];
  for (const p of policies)
    (p.spec.freezes ?? []).forEach((f, i) => {
      const span = freezeSpan(f);
      if (!(span.from <= at && at < span.until)) return;
      out.push({
        policy: p.id,
        name: f.name ?? `#${i}`,
        reason: f.reason,
        until: span.until,
        action: f.policy ?? 'hold',
        ...(f.by ? { by: f.by } : {}),
      });
    });
  return out;
}

/** The first policy with windows none of which is open at `at`. */
function closedPolicy(policies: NamedPolicy[], at: number): NamedPolicy | undefined {
  return policies.find((p) => (p.spec.windows?.length ?? 0) > 0 && !p.spec.windows!.some((w) => windowOpen(w, at)));
}

/** Whether a new rollout may start at `at` (see the rule at the top). */
export function mayStart(policies: NamedPolicy[], at: number): boolean {
  return activeFreezes(policies, at).length === 0 && !closedPolicy(policies, at);
}

/** The first instant >= `at` at which a rollout may start, or undefined when none within the horizon. */
export function nextOpening(policies: NamedPolicy[], at: number, horizon = HORIZON_MS): number | undefined {
  const candidates = new Set<number>([at]);
  for (const p of policies) {
    for (const f of p.spec.freezes ?? []) {
      const until = freezeSpan(f).until;
      if (until > at && until <= at + horizon) candidates.add(until);
    }
    for (const w of p.spec.windows ?? []) for (const t of windowStarts(w, at, horizon)) if (t > at) candidates.add(t);
  }
  return [...candidates].sort((a, b) => a - b).find((t) => mayStart(policies, t));
}

/** `Mon,Tue 09:00-17:00 Europe/Berlin`, or the window's name. */
export function describeWindow(w: DeliveryWindow): string {
  const days = w.days?.length ? `${w.days.join(',')} ` : '';
  const label = `${days}${w.start}-${w.end} ${w.timeZone ?? 'UTC'}`;
  const known = isTimeZone(w.timeZone ?? 'UTC') ? '' : ' (unknown time zone: never open)';
  return `${w.name ? `${w.name} (${label})` : label}${known}`;
}

/**
 * The verdict of the policies selecting one Canary at instant `at`. Of several freezes in force, one whose
 * policy is `rollback` is named first (it decides what happens to a rollout under way), then the one ending last.
 */
export function evaluate(policies: NamedPolicy[], at: number): DeliveryVerdict {
  const verdict: DeliveryVerdict = { policies: policies.map((p) => p.id) };
  const freezes = activeFreezes(policies, at).sort(
    (a, b) => Number(b.action === 'rollback') - Number(a.action === 'rollback') || b.until - a.until,
  );
  if (freezes[0]) verdict.freeze = freezes[0];
  const closed = closedPolicy(policies, at);
  if (closed)
    verdict.closedWindow = { policy: closed.id, windows: closed.spec.windows!.map(describeWindow).join('; ') };
  if (verdict.freeze || verdict.closedWindow) {
    const opensAt = nextOpening(policies, at);
    if (opensAt !== undefined) verdict.opensAt = opensAt;
  }
  return verdict;
}
