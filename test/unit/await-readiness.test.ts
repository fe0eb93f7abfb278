// awaitReadiness (activities/kubernetes/await-readiness.ts): the poll loop behind the rollout's waits on the
// cluster, driven with a fake clock and scripted readiness reads.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { awaitReadiness } from '../../activities/kubernetes/await-readiness.ts';
import type { Readiness } from '../../api/ports.ts';

const input = { canary: { namespace: 'test', name: 'podinfo' }, revision: { hash: 'rev-2', generation: 2 } };
const ready: Readiness = { ready: true };
const starting: Readiness = { ready: false, message: 'waiting for rollout to finish: 0 of 1 updated replicas' };

/** Scripted reads of the canary (the last one repeats), a fake clock advanced by sleep, recorded heartbeats. */
function world(canary: Readiness[]) {
  let clock = 0;
  let reads = 0;
  const beats: unknown[] = [];
  const sleeps: number[] = [];
  return {
    deps: {
      check: async () => ({ primary: ready, canary: canary[Math.min(reads++, canary.length - 1)]! }),
      heartbeat: (d: unknown) => beats.push(d),
      sleep: async (ms: number) => {
        sleeps.push(ms);
        clock += ms;
      },
      now: () => clock,
    },
    get reads() {
      return reads;
    },
    beats,
    sleeps,
  };
}

describe('awaitReadiness', () => {
  it('returns at once when the workload is already ready (one read, no heartbeat)', async () => {
    const w = world([ready]);
    assert.deepEqual(await awaitReadiness(w.deps, { ...input, which: 'canary', timeoutMs: 60_000 }), ready);
    assert.equal(w.reads, 1);
    assert.deepEqual(w.beats, []);
  });

  it('polls every pollMs with a heartbeat per poll until the workload is ready', async () => {
    const w = world([starting, starting, starting, ready]);
    const r = await awaitReadiness(w.deps, { ...input, which: 'canary', timeoutMs: 60_000, pollMs: 250 });
    assert.deepEqual(r, ready);
    assert.equal(w.reads, 4);
    assert.deepEqual(w.sleeps, [250, 250, 250]);
    assert.equal(w.beats.length, 3);
    assert.deepEqual(w.beats[0], { which: 'canary', message: starting.message });
  });

  it('by default polls fast at first and slows down to two reads a second', async () => {
    const w = world([...Array<Readiness>(9).fill(starting), ready]);
    assert.deepEqual(await awaitReadiness(w.deps, { ...input, which: 'canary', timeoutMs: 60_000 }), ready);
    assert.deepEqual(w.sleeps, [50, 75, 113, 169, 253, 380, 500, 500, 500]);
    assert.equal(w.reads, 10);
  });

  it('gives up after timeoutMs with the last readiness read (the workflow then applies the deadline)', async () => {
    const w = world([starting]);
    const r = await awaitReadiness(w.deps, { ...input, which: 'canary', timeoutMs: 1000, pollMs: 300 });
    assert.deepEqual(r, starting);
    // 300 + 300 + 300 + 100: never sleeps past the timeout.
    assert.deepEqual(w.sleeps, [300, 300, 300, 100]);
    assert.equal(w.reads, 5);
  });

  it('returns as soon as the cluster reports the progress deadline exceeded', async () => {
    const exceeded: Readiness = { ready: false, message: 'ProgressDeadlineExceeded', deadlineExceeded: true };
    const w = world([starting, exceeded]);
    assert.deepEqual(await awaitReadiness(w.deps, { ...input, which: 'canary', timeoutMs: 60_000 }), exceeded);
    assert.equal(w.reads, 2);
  });

  it('waits for the workload it is asked about, not the other one', async () => {
    const w = world([starting]);
    // The primary is ready in this world; the canary never is.
    assert.deepEqual(await awaitReadiness(w.deps, { ...input, which: 'primary', timeoutMs: 60_000 }), ready);
    assert.equal(w.reads, 1);
  });
});
