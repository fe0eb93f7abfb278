// Idle-time heap compaction for the controller's threads: the main thread (informers, activities) and the
// Temporal worker's workflow thread, each a V8 isolate with its own heap. Loaded in every thread by
// worker/idle-gc-preload.ts (`node --require`, see worker/node-flags.ts), never imported by main.ts.
//
// Why: after a burst of rollouts V8 keeps the heap the burst grew to, mostly free space in half-empty pages. Its
// memory reducer, which would compact them, judges the allocation rate from samples taken at garbage collections,
// and an isolate that stops allocating runs no more collections, so the reducer reports "high alloc" for ever
// (`--trace-memory-reducer`; docs/benchmarks.md, "Memory after the rollouts end"). Here each thread samples its own
// event-loop utilisation and heap size, and once it is idle with a heap grown well above its last compacted size it
// runs one memory-reducing collection (V8's gc extension, flavor `last-resort`: full collections with compaction
// until nothing more is freed, which also releases V8's pool of freed pages). That collection stops the thread for
// about 2 ms per MiB of heap and round, usually two rounds (a 60 MiB heap: 140 ms on the benchmark machine), hence
// the 10 s of quiet it waits for and once a minute at most; a thread kept busy, as a worker with many open
// rollouts is, never gets one.
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** When a thread compacts its heap. Sizes in bytes, times in milliseconds, utilisation a fraction 0..1. */
export interface IdleGcPolicy {
  /** How often the thread samples itself (default 5,000). */
  periodMs: number;
  /** Idle: event-loop utilisation below this (default 0.05)… */
  maxUtilization: number;
  /** …over this many periods in a row (default 2: 10 s of quiet, so periodic work is not cut into). */
  idlePeriods: number;
  /** Grown: the heap's committed physical size at least this much above the floor (default 4 MiB)… */
  minGrowthBytes: number;
  /** …and at least this fraction above it (default 0.1). */
  minGrowthRatio: number;
  /** At most one collection per this long (default 60,000). */
  minSpacingMs: number;
}

export const DEFAULT_IDLE_GC_POLICY: IdleGcPolicy = {
  periodMs: 5_000,
  maxUtilization: 0.05,
  idlePeriods: 2,
  minGrowthBytes: 4 * 2 ** 20,
  minGrowthRatio: 0.1,
  minSpacingMs: 60_000,
};

/**
 * What a thread remembers between samples: the smallest heap seen since its last collection, when that was, and how
 * many idle periods in a row it has just had.
 */
export interface IdleGcState {
  floorBytes: number;
  lastCollectionAt: number;
  idlePeriods: number;
}

/** One sample: the time (ms), the event-loop utilisation over the period just ended, the heap's physical size. */
export interface IdleGcSample {
  at: number;
  utilization: number;
  heapBytes: number;
}

/**
 * Decides one sample: `collect` when the thread has been idle for `policy.idlePeriods` periods in a row, its heap
 * has grown past the floor by both the absolute and the relative margin, and the last collection is old enough.
 * The returned state carries the floor (it only falls; the caller resets it to the compacted size after a
 * collection) and the count of idle periods forward.
 */
export function decideIdleGc(
  state: IdleGcState,
  sample: IdleGcSample,
  policy: IdleGcPolicy = DEFAULT_IDLE_GC_POLICY,
): { collect: boolean; state: IdleGcState } {
  const floorBytes = Math.min(state.floorBytes, sample.heapBytes);
  const idlePeriods = sample.utilization < policy.maxUtilization ? state.idlePeriods + 1 : 0;
  const growth = sample.heapBytes - floorBytes;
  const collect =
    idlePeriods >= policy.idlePeriods &&
    growth >= policy.minGrowthBytes &&
    growth >= floorBytes * policy.minGrowthRatio &&
    sample.at - state.lastCollectionAt >= policy.minSpacingMs;
  return { collect, state: { ...state, floorBytes, idlePeriods } };
}

type GcFunction = (options?: { type?: string; execution?: string; flavor?: string }) => unknown;

/**
 * V8's gc extension for the calling thread's isolate, without exposing `gc` to the thread's code: the flag is set
 * only while one throw-away context is created (`globalThis.gc` is used as it is when node runs with --expose-gc).
 */
export function isolateGc(): GcFunction {
  const exposed = (globalThis as { gc?: GcFunction }).gc;
  if (typeof exposed === 'function') return exposed;
  v8.setFlagsFromString('--expose-gc');
  try {
    return vm.runInNewContext('gc') as GcFunction;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/**
 * Where worker/idle-gc-preload.ts leaves each thread's sampler (`globalThis[IDLE_GC_HANDLE]`), for diagnosis:
 * `collections` tells whether the thread compacted.
 */
export const IDLE_GC_HANDLE = Symbol.for('fledge.idle-gc');

/** A running sampler; `collections` counts the compactions it ran. */
export interface IdleGc {
  readonly collections: number;
  stop(): void;
}

/**
 * Samples the calling thread every `policy.periodMs` on an unref'd timer (it never keeps a thread alive) and runs
 * a memory-reducing collection when {@link decideIdleGc} says so. Heap size: `total_physical_size` of
 * v8.getHeapStatistics(); utilisation: performance.eventLoopUtilization() since the previous sample.
 */
export function startIdleGc(policy: IdleGcPolicy = DEFAULT_IDLE_GC_POLICY): IdleGc {
  const gc = isolateGc();
  const heapBytes = () => v8.getHeapStatistics().total_physical_size;
  let state: IdleGcState = { floorBytes: heapBytes(), lastCollectionAt: -Infinity, idlePeriods: 0 };
  let elu = performance.eventLoopUtilization();
  let collections = 0;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const sample = { at: performance.now(), utilization: performance.eventLoopUtilization(now, elu).utilization };
    elu = now;
    const decision = decideIdleGc(state, { ...sample, heapBytes: heapBytes() }, policy);
    state = decision.state;
    if (!decision.collect) return;
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    collections++;
    state = { floorBytes: heapBytes(), lastCollectionAt: performance.now(), idlePeriods: 0 };
    // The collection itself is not the thread's work: the next period measures from here.
    elu = performance.eventLoopUtilization();
  }, policy.periodMs);
  timer.unref();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * The policy from the environment: FLEDGE_IDLE_GC_PERIOD_MS and FLEDGE_IDLE_GC_SPACING_MS (positive integers,
 * milliseconds) override the defaults; anything else keeps them. Returns undefined when FLEDGE_IDLE_GC is `off`.
 */
export function idleGcPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): IdleGcPolicy | undefined {
  if (env.FLEDGE_IDLE_GC === 'off') return undefined;
  const ms = (raw: string | undefined, fallback: number) =>
    raw !== undefined && /^[1-9]\d*$/.test(raw) ? Number(raw) : fallback;
  return {
    ...DEFAULT_IDLE_GC_POLICY,
    periodMs: ms(env.FLEDGE_IDLE_GC_PERIOD_MS, DEFAULT_IDLE_GC_POLICY.periodMs),
    minSpacingMs: ms(env.FLEDGE_IDLE_GC_SPACING_MS, DEFAULT_IDLE_GC_POLICY.minSpacingMs),
  };
}
