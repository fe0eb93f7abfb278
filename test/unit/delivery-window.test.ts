// Delivery window and freeze arithmetic (activities/delivery/windows.ts) across time zones and daylight saving
// changes, label selectors, and the workflow-side decisions (workflows/delivery.ts) with a fake verdict.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DeliveryPolicySpec, DeliveryVerdict } from '../../api/delivery-policy.ts';
import { DeliveryPolicySchema } from '../../api/delivery-policy.ts';
import { parseSelector, selects } from '../../activities/delivery/selector.ts';
import {
  evaluate,
  instantsOfWall,
  nextOpening,
  offsetMs,
  windowOpen,
  windowStarts,
  type NamedPolicy,
} from '../../activities/delivery/windows.ts';
import { deliveryHoldReason } from '../../activities/delivery/status.ts';
import {
  DELIVERY_POLICY,
  MAX_HOLD_WAIT_MS,
  freezeAtStep,
  heldAtStart,
  holdWaitMs,
  overrideHold,
  overrideRejection,
} from '../../workflows/delivery.ts';
import { initialState } from '../../workflows/state.ts';
import { endFreezes, untilTime, withFreeze } from '../../cli/freeze.ts';
import type { CliError } from '../../cli/context.ts';

const t = (iso: string) => Date.parse(iso);
const at = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const policy = (spec: DeliveryPolicySpec, id = 'test/p'): NamedPolicy => ({ id, spec });

describe('windows in time zones', () => {
  const berlinWeekdays = { days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'] as const, start: '09:00', end: '17:00' };
  const w = { ...berlinWeekdays, days: [...berlinWeekdays.days], timeZone: 'Europe/Berlin' };

  it('Mon-Fri 09:00-17:00 Europe/Berlin: open and closed instants in winter (UTC+1) and summer (UTC+2)', () => {
    assert.equal(windowOpen(w, t('2026-01-14T08:00:00Z')), true); // Wed 09:00 CET
    assert.equal(windowOpen(w, t('2026-01-14T07:59:59Z')), false);
    assert.equal(windowOpen(w, t('2026-01-14T15:59:59Z')), true);
    assert.equal(windowOpen(w, t('2026-01-14T16:00:00Z')), false); // 17:00 CET: end is exclusive
    assert.equal(windowOpen(w, t('2026-07-15T07:00:00Z')), true); // Wed 09:00 CEST
    assert.equal(windowOpen(w, t('2026-07-15T15:00:00Z')), false); // 17:00 CEST
    assert.equal(windowOpen(w, t('2026-07-18T10:00:00Z')), false); // Saturday
  });

  it('the next opening after a weekend that spans the spring-forward change is at 09:00 CEST (07:00Z)', () => {
    // Sat 2026-03-28 12:00 CET; clocks go forward on Sunday 2026-03-29 at 02:00.
    const p = [policy({ windows: [w] })];
    assert.equal(at(nextOpening(p, t('2026-03-28T11:00:00Z'))), '2026-03-30T07:00:00.000Z');
    // Friday 2026-03-27 evening (CET): the next opening is Monday, after the change.
    assert.equal(at(nextOpening(p, t('2026-03-27T17:00:00Z'))), '2026-03-30T07:00:00.000Z');
  });

  it('a start inside the skipped hour opens at the end of the gap (Europe/Berlin 2026-03-29 02:30 → 03:00 CEST)', () => {
    const win = { start: '02:30', end: '05:00', timeZone: 'Europe/Berlin' };
    assert.deepEqual(instantsOfWall(t('2026-03-29T02:30:00Z'), 'Europe/Berlin').map(at), ['2026-03-29T01:00:00.000Z']);
    assert.equal(at(nextOpening([policy({ windows: [win] })], t('2026-03-28T23:00:00Z'))), '2026-03-29T01:00:00.000Z');
    assert.equal(windowOpen(win, t('2026-03-29T00:59:59Z')), false); // 01:59:59 CET
    assert.equal(windowOpen(win, t('2026-03-29T01:00:00Z')), true); // 03:00 CEST
  });

  it('a start inside the repeated hour opens at both occurrences (America/New_York 2026-11-01 01:15)', () => {
    const win = { start: '01:15', end: '01:45', timeZone: 'America/New_York' };
    assert.deepEqual(instantsOfWall(t('2026-11-01T01:15:00Z'), 'America/New_York').map(at), [
      '2026-11-01T05:15:00.000Z', // 01:15 EDT
      '2026-11-01T06:15:00.000Z', // 01:15 EST
    ]);
    const p = [policy({ windows: [win] })];
    assert.equal(at(nextOpening(p, t('2026-11-01T04:00:00Z'))), '2026-11-01T05:15:00.000Z');
    assert.equal(at(nextOpening(p, t('2026-11-01T05:50:00Z'))), '2026-11-01T06:15:00.000Z');
    assert.equal(at(nextOpening(p, t('2026-11-01T06:50:00Z'))), '2026-11-02T06:15:00.000Z');
  });

  it('offsets that are not whole hours (Asia/Kathmandu +05:45) and southern summer time (Australia/Sydney)', () => {
    assert.equal(offsetMs(t('2026-06-01T00:00:00Z'), 'Asia/Kathmandu'), (5 * 60 + 45) * 60_000);
    const ktm = [policy({ windows: [{ start: '09:00', end: '10:00', timeZone: 'Asia/Kathmandu' }] })];
    assert.equal(at(nextOpening(ktm, t('2026-06-01T03:30:00Z'))), '2026-06-01T03:30:00.000Z'); // 09:15 local: open
    assert.equal(at(nextOpening(ktm, t('2026-06-01T05:00:00Z'))), '2026-06-02T03:15:00.000Z');
    // Sydney: UTC+11 in January (summer), UTC+10 in July.
    const syd = [policy({ windows: [{ start: '10:00', end: '11:00', timeZone: 'Australia/Sydney' }] })];
    assert.equal(at(nextOpening(syd, t('2026-01-10T00:00:00Z'))), '2026-01-10T23:00:00.000Z');
    assert.equal(at(nextOpening(syd, t('2026-07-10T01:00:00Z'))), '2026-07-11T00:00:00.000Z');
  });

  it('a window whose end is before its start runs into the next day, counted from its start day', () => {
    const night = { days: ['Fri' as const], start: '22:00', end: '06:00', timeZone: 'UTC' };
    assert.equal(windowOpen(night, t('2026-05-15T23:00:00Z')), true); // Fri 23:00
    assert.equal(windowOpen(night, t('2026-05-16T05:59:00Z')), true); // Sat 05:59
    assert.equal(windowOpen(night, t('2026-05-16T06:00:00Z')), false);
    assert.equal(windowOpen(night, t('2026-05-16T23:00:00Z')), false); // Sat 23:00: not a start day
    assert.equal(
      at(nextOpening([policy({ windows: [night] })], t('2026-05-16T07:00:00Z'))),
      '2026-05-22T22:00:00.000Z',
    );
  });

  it('windowStarts lists each start day once, ascending, within the horizon', () => {
    const starts = windowStarts(
      { days: ['Mon'], start: '09:00', end: '10:00', timeZone: 'UTC' },
      t('2026-05-13T00:00:00Z'),
    );
    assert.deepEqual(starts.map(at), ['2026-05-18T09:00:00.000Z']);
  });

  it('an unknown time zone never opens (and is described as such)', () => {
    const p = [policy({ windows: [{ start: '00:00', end: '24:00', timeZone: 'Mars/Olympus' }] })];
    const v = evaluate(p, t('2026-05-13T00:00:00Z'));
    assert.equal(v.opensAt, undefined);
    assert.match(v.closedWindow!.windows, /unknown time zone/);
  });
});

describe('freezes and several policies', () => {
  const now = t('2026-05-13T10:00:00Z');

  it('a freeze in force: verdict names it, opens at its end; rollback freezes are named first', () => {
    const p = [
      policy({ freezes: [{ name: 'a', until: '2026-05-13T12:00:00Z', reason: 'audit', policy: 'hold' }] }, 'ns/a'),
      policy(
        {
          freezes: [
            {
              name: 'b',
              from: '2026-05-13T09:00:00Z',
              until: '2026-05-13T11:00:00Z',
              reason: 'incident',
              policy: 'rollback',
            },
          ],
        },
        'ns/b',
      ),
    ];
    const v = evaluate(p, now);
    assert.equal(v.freeze?.name, 'b');
    assert.equal(v.freeze?.action, 'rollback');
    assert.equal(at(v.opensAt), '2026-05-13T12:00:00.000Z');
    assert.deepEqual(v.policies, ['ns/a', 'ns/b']);
  });

  it('a freeze that has not begun or is over does not hold', () => {
    const p = [
      policy({
        freezes: [
          { from: '2026-05-13T11:00:00Z', until: '2026-05-13T12:00:00Z', reason: 'later', policy: 'hold' },
          { until: '2026-05-13T10:00:00Z', reason: 'over (until is exclusive)', policy: 'hold' },
        ],
      }),
    ];
    assert.deepEqual(evaluate(p, now), { policies: ['test/p'] });
  });

  it('freeze and window together: the opening is the first window start after the freeze', () => {
    const p = [
      policy({
        windows: [{ start: '09:00', end: '10:30', timeZone: 'UTC' }],
        freezes: [{ until: '2026-05-13T11:00:00Z', reason: 'x', policy: 'hold' }],
      }),
    ];
    assert.equal(at(evaluate(p, now).opensAt), '2026-05-14T09:00:00.000Z');
  });

  it('two policies with windows: a rollout starts only when both are open', () => {
    const p = [
      policy({ windows: [{ start: '08:00', end: '12:00', timeZone: 'UTC' }] }, 'ns/a'),
      policy({ windows: [{ start: '11:00', end: '18:00', timeZone: 'UTC' }] }, 'ns/b'),
    ];
    const v = evaluate(p, now);
    assert.equal(v.closedWindow?.policy, 'ns/b');
    assert.equal(at(v.opensAt), '2026-05-13T11:00:00.000Z');
    assert.deepEqual(evaluate(p, t('2026-05-13T11:30:00Z')).closedWindow, undefined);
  });

  it('disjoint windows of two policies never open: no opening within the horizon', () => {
    const p = [
      policy({ windows: [{ start: '08:00', end: '09:00', timeZone: 'UTC' }] }, 'ns/a'),
      policy({ windows: [{ start: '10:00', end: '11:00', timeZone: 'UTC' }] }, 'ns/b'),
    ];
    assert.equal(nextOpening(p, now), undefined);
  });
});

describe('schema and selectors', () => {
  it('parses a policy with defaults; rejects bad clocks, equal start and end, bad RFC 3339', () => {
    const ok = DeliveryPolicySchema.parse({
      metadata: { name: 'p' },
      spec: {
        windows: [{ start: '09:00', end: '24:00' }],
        freezes: [{ until: '2026-05-13T12:00:00+02:00', reason: 'r' }],
      },
    });
    assert.equal(ok.spec.windows?.[0]?.timeZone, 'UTC');
    assert.equal(ok.spec.freezes?.[0]?.policy, 'hold');
    const bad = (spec: unknown) => !DeliveryPolicySchema.safeParse({ metadata: { name: 'p' }, spec }).success;
    assert.ok(bad({ windows: [{ start: '9:00', end: '17:00' }] }));
    assert.ok(bad({ windows: [{ start: '24:00', end: '17:00' }] }));
    assert.ok(bad({ windows: [{ start: '10:00', end: '10:00' }] }));
    assert.ok(bad({ freezes: [{ until: 'tomorrow', reason: 'r' }] }));
    assert.ok(bad({ freezes: [{ until: '2026-05-13T12:00:00Z', reason: 'r', policy: 'panic' }] }));
  });

  it('label selectors: empty selects all; matchLabels and each operator', () => {
    const labels = { app: 'podinfo', tier: 'web' };
    assert.ok(selects(undefined, labels));
    assert.ok(selects({}, labels));
    assert.ok(selects({ matchLabels: { app: 'podinfo' } }, labels));
    assert.ok(!selects({ matchLabels: { app: 'other' } }, labels));
    assert.ok(selects({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] }, labels));
    assert.ok(!selects({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, labels));
    assert.ok(selects({ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, labels));
    assert.ok(!selects({ matchExpressions: [{ key: 'team', operator: 'Exists' }] }, labels));
    assert.deepEqual(parseSelector('app=podinfo, tier==web'), { matchLabels: { app: 'podinfo', tier: 'web' } });
    assert.deepEqual(parseSelector(''), {});
    assert.throws(() => parseSelector('app in (a,b)'), /key=value/);
  });
});

describe('the workflow side (workflows/delivery.ts) with a fake verdict', () => {
  const freeze = (action: 'hold' | 'rollback'): DeliveryVerdict => ({
    policies: ['test/freeze'],
    freeze: { policy: 'test/freeze', name: 'cli', reason: 'release', until: 60_000, action, by: 'alice' },
    opensAt: 60_000,
  });

  it('held at start: Waiting, message and one event; the wait is one timer until the opening; release restores', async () => {
    const state = initialState({ namespace: 'test', name: 'c' }, { hash: 'r2', generation: 2 }, 'test');
    state.phase = 'Succeeded';
    let verdict: DeliveryVerdict = freeze('hold');
    const patchedIds: string[] = [];
    const env = {
      now: () => 10_000,
      patched: (id: string) => (patchedIds.push(id), true),
      checkDelivery: async () => verdict,
    };
    assert.equal(await heldAtStart(state, env, 'c.test'), true);
    assert.equal(await heldAtStart(state, env, 'c.test'), true);
    assert.deepEqual(patchedIds, [DELIVERY_POLICY, DELIVERY_POLICY]);
    assert.equal(state.phase, 'Waiting');
    assert.match(
      state.message,
      /^delivery freeze: test\/freeze freeze cli \(release, by alice\) until 1970-01-01T00:01:00.000Z/,
    );
    assert.equal(deliveryHoldReason(state.message), 'DeliveryFreeze');
    assert.equal(state.outbox.events.length, 1, 'one event for an unchanged hold');
    assert.equal(state.outbox.events[0]?.type, 'Warning');
    state.ticksThisRun = state.deliveryHold!.tick + 1;
    assert.equal(holdWaitMs(state, 10_000), 50_000);
    state.ticksThisRun += 1; // a later tick that did not hold: the interval applies
    assert.equal(holdWaitMs(state, 10_000), undefined);
    verdict = { policies: ['test/freeze'] };
    assert.equal(await heldAtStart(state, env, 'c.test'), false);
    assert.equal(state.phase, 'Succeeded');
    assert.equal(state.message, '');
    assert.match(state.outbox.events[1]!.message, /Delivery freeze no longer holds c.test: starting the rollout/);
  });

  it('a closed window with no opening waits at most a day; a Normal event', async () => {
    const state = initialState({ namespace: 'test', name: 'c' }, { hash: 'r2', generation: 2 }, 'test');
    const env = {
      now: () => 0,
      checkDelivery: async (): Promise<DeliveryVerdict> => ({
        policies: ['a'],
        closedWindow: { policy: 'a', windows: 'x' },
      }),
    };
    assert.equal(await heldAtStart(state, env, 'c.test'), true);
    assert.equal(state.outbox.events[0]?.type, 'Normal');
    assert.equal(deliveryHoldReason(state.message), 'DeliveryWindow');
    state.ticksThisRun = 1;
    assert.equal(holdWaitMs(state, 0), MAX_HOLD_WAIT_MS);
  });

  it('mid-rollout: hold keeps the step, rollback is decided, a window alone does not stop a rollout', async () => {
    const state = initialState({ namespace: 'test', name: 'c' }, { hash: 'r2', generation: 2 }, 'test');
    state.phase = 'Progressing';
    state.step = 3;
    let verdict: DeliveryVerdict = freeze('hold');
    const env = { now: () => 0, checkDelivery: async () => verdict };
    assert.equal(await freezeAtStep(state, env, 'c.test'), 'hold');
    assert.match(state.waitingFor, /held at step 3/);
    verdict = { policies: ['a'], closedWindow: { policy: 'a', windows: 'x' } };
    assert.equal(await freezeAtStep(state, env, 'c.test'), undefined);
    assert.equal(state.phase, 'Progressing');
    verdict = freeze('rollback');
    assert.equal(await freezeAtStep(state, env, 'c.test'), 'rollback');
    assert.match(state.outbox.events.at(-1)!.message, /^Rolling back c.test: delivery freeze: .*\(policy rollback\)/);
  });

  it('an override needs a reason and is recorded with who and why', async () => {
    const state = initialState({ namespace: 'test', name: 'c' }, { hash: 'r2', generation: 2 }, 'test');
    assert.equal(overrideRejection(state, {}), undefined);
    await heldAtStart(state, { now: () => 0, checkDelivery: async () => freeze('hold') }, 'c.test');
    assert.match(overrideRejection(state, {})!, /needs a reason/);
    assert.equal(overrideRejection(state, { reason: 'hotfix' }), undefined);
    overrideHold(state, { by: 'alice', reason: 'hotfix CVE' }, 'c.test', 0);
    assert.equal(state.deliveryHold, undefined);
    assert.match(state.outbox.events.at(-1)!.message, /^Delivery freeze overridden for c.test by alice: hotfix CVE/);
    assert.match(state.steps.at(-1)!.note, /by alice: hotfix CVE/);
  });

  it('histories from before the change (patched false) never call the activity', async () => {
    const state = initialState({ namespace: 'test', name: 'c' }, { hash: 'r2', generation: 2 }, 'test');
    let calls = 0;
    const env = { now: () => 0, patched: () => false, checkDelivery: async () => (calls++, freeze('hold')) };
    assert.equal(await heldAtStart(state, env, 'c.test'), false);
    assert.equal(await freezeAtStep(state, env, 'c.test'), undefined);
    assert.equal(calls, 0);
  });
});

describe('fledge freeze / unfreeze (pure parts)', () => {
  const now = t('2026-05-13T10:00:00Z');

  it('--until takes an RFC 3339 time or a duration from now; anything else is a usage error', () => {
    assert.equal(untilTime('2h', now), t('2026-05-13T12:00:00Z'));
    assert.equal(untilTime('2026-05-14T00:00:00+02:00', now), t('2026-05-13T22:00:00Z'));
    assert.throws(
      () => untilTime('tomorrow', now),
      (e: CliError) => e.code === 2,
    );
  });

  it('withFreeze creates the policy or adds to it (same name replaced); endFreezes ends only those in force', () => {
    const f = (name: string, from: string | undefined, until: string) =>
      ({ name, ...(from ? { from } : {}), until, reason: 'r', policy: 'hold' }) as const;
    const created = withFreeze(undefined, 'fledge-freeze', 'test', f('a', undefined, '2026-05-13T11:00:00Z'), {
      matchLabels: { app: 'x' },
    });
    assert.equal(created.metadata.name, 'fledge-freeze');
    assert.deepEqual(created.spec.selector, { matchLabels: { app: 'x' } });
    let p = withFreeze(created, 'fledge-freeze', 'test', f('b', '2026-05-13T12:00:00Z', '2026-05-13T13:00:00Z'));
    p = withFreeze(p, 'fledge-freeze', 'test', f('a', undefined, '2026-05-13T11:30:00Z'));
    assert.deepEqual(
      p.spec.freezes?.map((x) => [x.name, x.until]),
      [
        ['b', '2026-05-13T13:00:00Z'],
        ['a', '2026-05-13T11:30:00Z'],
      ],
    );
    const { policy: ended, ended: names } = endFreezes(p, now);
    assert.deepEqual(names, ['a']);
    assert.equal(ended.spec.freezes?.[1]?.until, '2026-05-13T10:00:00.000Z');
    assert.equal(ended.spec.freezes?.[0]?.until, '2026-05-13T13:00:00Z', 'a freeze that has not begun stays');
  });
});
