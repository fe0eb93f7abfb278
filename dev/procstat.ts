// What a process costs, read from /proc (Linux): resident memory and CPU time. Used by the benchmarks to compare
// controllers (fledge's node process, Flagger's Go binary) and to follow a worker's memory while rollouts run.
import { readFileSync } from 'node:fs';

export interface ProcUsage {
  /** VmRSS: resident set size now, KiB. */
  rssKiB: number;
  /** VmHWM: peak resident set size since the process started, KiB. */
  hwmKiB: number;
  /** utime + stime of the process itself (not its children), seconds. */
  cpuSeconds: number;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux architecture we run on). */
const USER_HZ = 100;

/** Usage of process `pid`, or undefined when it is gone. Fields: proc(5) `status` and `stat` (14 utime, 15 stime). */
export function procUsage(pid: number): ProcUsage | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN);
    // The command name (field 2) may contain spaces and parentheses: count fields after its closing parenthesis.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), cpuSeconds: (utime + stime) / USER_HZ };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs`, labelled with the caller's current stage. */
export class RssSampler {
  readonly samples: { t: number; kib: number; stage: string }[] = [];
  stage = 'idle';
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number, everyMs = 1000) {
    this.timer = setInterval(() => {
      const u = procUsage(pid);
      if (u) this.samples.push({ t: performance.now(), kib: u.rssKiB, stage: this.stage });
    }, everyMs);
    this.timer.unref();
  }

  /** RSS samples (KiB) taken during `stage`. */
  of(stage: string): number[] {
    return this.samples.filter((s) => s.stage === stage).map((s) => s.kib);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** The p-th percentile (nearest rank) of `values`; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}
