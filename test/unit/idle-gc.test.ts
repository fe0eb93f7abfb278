// Idle heap compaction (worker/idle-gc.ts): the decision rule, and the preload in a real node process whose main
// thread and a worker thread each leave a fragmented heap behind and go idle.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { REPO_ROOT } from '../../dev/proc.ts';
import {
  DEFAULT_IDLE_GC_POLICY,
  IDLE_GC_HANDLE,
  decideIdleGc,
  idleGcPolicyFromEnv,
  type IdleGcState,
} from '../../worker/idle-gc.ts';
import { controllerNodeFlags } from '../../worker/node-flags.ts';

const MiB = 2 ** 20;

describe('decideIdleGc', () => {
  const state: IdleGcState = { floorBytes: 40 * MiB, lastCollectionAt: 0, idlePeriods: 1 };
  const at = 60_000;

  it('collects a thread idle for two periods in a row whose heap grew past both margins', () => {
    const d = decideIdleGc(state, { at, utilization: 0.01, heapBytes: 50 * MiB });
    assert.equal(d.collect, true);
    assert.equal(d.state.idlePeriods, 2);
  });

  it('waits for the second idle period, and a busy one starts the count again', () => {
    const first = decideIdleGc({ ...state, idlePeriods: 0 }, { at, utilization: 0.01, heapBytes: 50 * MiB });
    assert.deepEqual([first.collect, first.state.idlePeriods], [false, 1]);
    const busy = decideIdleGc(first.state, { at, utilization: 0.3, heapBytes: 50 * MiB });
    assert.deepEqual([busy.collect, busy.state.idlePeriods], [false, 0]);
  });

  it('leaves a busy thread alone, however large its heap', () => {
    const d = decideIdleGc(state, { at, utilization: 0.2, heapBytes: 200 * MiB });
    assert.equal(d.collect, false);
  });

  it('needs the absolute margin (small heaps) and the relative one (large heaps)', () => {
    const small = { floorBytes: 10 * MiB, lastCollectionAt: 0, idlePeriods: 1 };
    assert.equal(decideIdleGc(small, { at, utilization: 0, heapBytes: 13 * MiB }).collect, false, '3 MiB < 4 MiB');
    const large = { floorBytes: 100 * MiB, lastCollectionAt: 0, idlePeriods: 1 };
    assert.equal(decideIdleGc(large, { at, utilization: 0, heapBytes: 108 * MiB }).collect, false, '8 % < 10 %');
    assert.equal(decideIdleGc(large, { at, utilization: 0, heapBytes: 111 * MiB }).collect, true);
  });

  it('waits the spacing after the last collection', () => {
    const recent = { ...state, lastCollectionAt: at - DEFAULT_IDLE_GC_POLICY.minSpacingMs + 1 };
    assert.equal(decideIdleGc(recent, { at, utilization: 0, heapBytes: 80 * MiB }).collect, false);
  });

  it('lowers the floor to the smallest heap seen, and never raises it', () => {
    assert.equal(decideIdleGc(state, { at, utilization: 0.5, heapBytes: 30 * MiB }).state.floorBytes, 30 * MiB);
    assert.equal(decideIdleGc(state, { at, utilization: 0.5, heapBytes: 90 * MiB }).state.floorBytes, 40 * MiB);
  });

  it('reads its period and spacing from the environment; off disables it; malformed values keep the defaults', () => {
    assert.equal(idleGcPolicyFromEnv({ FLEDGE_IDLE_GC: 'off' }), undefined);
    const p = idleGcPolicyFromEnv({ FLEDGE_IDLE_GC_PERIOD_MS: '250', FLEDGE_IDLE_GC_SPACING_MS: '1000' });
    assert.equal(p?.periodMs, 250);
    assert.equal(p?.minSpacingMs, 1000);
    assert.deepEqual(idleGcPolicyFromEnv({ FLEDGE_IDLE_GC_PERIOD_MS: '-5', FLEDGE_IDLE_GC_SPACING_MS: '1e3' }), {
      ...DEFAULT_IDLE_GC_POLICY,
    });
  });
});

// Each thread keeps every 20th of 600,000 small objects (12 MiB live spread over ~30 MiB of pages), reports its
// heap, then idles, reporting its heap and the sampler's collections every 100 ms. (The reports' own allocations
// can wake V8's memory reducer too, so the drop alone does not prove the sampler did it; its count does.)
const FRAGMENT = `
  const v8 = require('node:v8');
  const report = (kind) => emit({ thread: require('node:worker_threads').threadId, kind,
    heap: v8.getHeapStatistics().total_physical_size,
    collections: globalThis[Symbol.for(${JSON.stringify(IDLE_GC_HANDLE.description)})]?.collections ?? 0 });
  globalThis.kept = [];
  for (let r = 0; r < 30; r++) {
    const batch = [];
    for (let i = 0; i < 20000; i++) batch.push({ a: 'x'.repeat(20) + i + r, b: [i, r, i * r] });
    globalThis.kept.push(batch.filter((_, i) => i % 20 === 0));
  }
  report('peak');
  setInterval(() => report('now'), 100);
`;
const PROGRAM = `
  const { Worker } = require('node:worker_threads');
  const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
  const worker = new Worker(${JSON.stringify(`const { parentPort } = require('node:worker_threads'); const emit = (o) => parentPort.postMessage(o);${FRAGMENT}`)}, { eval: true });
  worker.on('message', emit);
  ${FRAGMENT}
  setTimeout(() => process.exit(0), 60_000);
`;

describe('the idle-gc preload', () => {
  it('compacts the heap of the main thread and of a worker thread once they go idle', async () => {
    // The controller's flags: its GC sizing is what leaves V8's memory reducer idle (with V8's defaults the
    // reducer compacts such a heap by itself some seconds later).
    const flags = controllerNodeFlags(REPO_ROOT);
    assert.ok(flags.includes(`--require=${join(REPO_ROOT, 'worker', 'idle-gc-preload.ts')}`), flags.join(' '));
    const child = spawn(process.execPath, [...flags, '-e', PROGRAM], {
      env: { ...process.env, FLEDGE_IDLE_GC_PERIOD_MS: '200', FLEDGE_IDLE_GC_SPACING_MS: '200' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const peaks = new Map<number, number>();
      const compacted = new Set<number>();
      for await (const line of createInterface({ input: child.stdout })) {
        const r = JSON.parse(line) as { thread: number; kind: string; heap: number; collections: number };
        if (r.kind === 'peak') peaks.set(r.thread, r.heap);
        const peak = peaks.get(r.thread);
        // Compacted: the sampler collected, and the pages the garbage left half empty were given back, 30 % of the
        // peak at least.
        if (r.kind === 'now' && peak !== undefined && r.collections > 0 && r.heap < peak * 0.7) {
          compacted.add(r.thread);
        }
        if (compacted.size === 2) break;
      }
      assert.deepEqual([...compacted].sort(), [0, 1], `threads compacted; peaks ${JSON.stringify([...peaks])}`);
    } finally {
      child.kill();
    }
  });
});
