// The analysis cadence (workflows/pace.ts): fixed rate from each tick's due time, without drift or catch-up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { intervalWait, MIN_TICK_WAIT_MS, tickAnchor, type Pace } from '../../workflows/pace.ts';

describe('analysis pace', () => {
  it('counts each interval from the due time of the timer that started the tick: no drift', () => {
    const pace: Pace = { waits: 0 };
    // Tick 1 starts at 0 (no timer before it) and its last workflow task begins at 150 ms.
    pace.tickStartedAt = tickAnchor(pace, 0);
    assert.equal(intervalWait(pace, 10_000, 150), 9_850);
    assert.equal(pace.dueAt, 10_000);
    // The timer fires 40 ms late, and the tick's last task again begins 150 ms into it.
    for (let tick = 2; tick <= 10; tick++) {
      const due: number = pace.dueAt!;
      pace.tickStartedAt = tickAnchor(pace, due + 40);
      assert.equal(pace.tickStartedAt, due);
      intervalWait(pace, 10_000, due + 190);
    }
    // Ten analyses, ten intervals: the lateness of each timer did not add up.
    assert.equal(pace.dueAt, 100_000);
  });

  it('a tick woken early (a control, a new revision) counts from when it began', () => {
    const pace: Pace = { waits: 0, tickStartedAt: 0 };
    intervalWait(pace, 10_000, 100);
    assert.equal(tickAnchor(pace, 4_000), 4_000);
    assert.equal(pace.dueAt, undefined);
    // And a tick with no interval wait before it (a readiness wait, a follow-up) too.
    assert.equal(tickAnchor(pace, 7_000), 7_000);
  });

  it('a timer that fired more than a second late starts the cadence anew instead of catching up', () => {
    const pace: Pace = { waits: 0, tickStartedAt: 0 };
    intervalWait(pace, 10_000, 100);
    pace.tickStartedAt = tickAnchor(pace, 310_000); // the worker was down for five minutes
    assert.equal(pace.tickStartedAt, 310_000);
    assert.equal(intervalWait(pace, 10_000, 310_200), 9_800);
  });

  it('a tick longer than the interval is followed after the shortest wait, not at once', () => {
    const pace: Pace = { waits: 0, tickStartedAt: 0 };
    assert.equal(intervalWait(pace, 1_000, 2_500), MIN_TICK_WAIT_MS);
    assert.equal(intervalWait(pace, 50, 2_500), 50);
  });
});
