// Evaluation in Flagger's order with its texts, inclusive ranges, the deprecated threshold and noDataPolicy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkOrder,
  evaluate,
  goDuration,
  goFloat,
  type Check,
  type EvalContext,
  type Metric,
  type Reading,
} from '../../activities/metrics/index.ts';

const ctx: EvalContext = { canary: { namespace: 'test', name: 'podinfo' }, target: 'podinfo', observer: 'istio' };

function scripted(readings: Record<string, Reading>) {
  const asked: string[] = [];
  const read = async (c: Check): Promise<Reading> => {
    asked.push(c.metric.name);
    const r = readings[c.metric.name];
    if (!r) throw new Error(`unexpected check ${c.metric.name}`);
    return r;
  };
  return { asked, read };
}

const run = (metrics: Metric[], readings: Record<string, Reading>) => {
  const s = scripted(readings);
  return evaluate(ctx, checkOrder(metrics), s.read).then((outcome) => ({ ...outcome, asked: s.asked }));
};

test("Flagger's Warning texts for builtin metrics", async () => {
  const sr = await run([{ name: 'request-success-rate', thresholdRange: { min: 99 } }], {
    'request-success-rate': { value: 55.06 },
  });
  assert.equal(sr.results[0]!.message, 'Halt podinfo.test advancement success rate 55.06% < 99%');
  const d = await run([{ name: 'request-duration', thresholdRange: { max: 500 } }], {
    'request-duration': { value: 1515.9 },
  });
  assert.deepEqual(d.results[0], {
    name: 'request-duration',
    value: 1515,
    range: { max: 500 },
    verdict: 'fail',
    message: 'Halt podinfo.test advancement request duration 1.515s > 500ms',
  });
  const custom = await run([{ name: 'error-rate', query: 'q', thresholdRange: { max: 1 } }], {
    'error-rate': { value: 5 },
  });
  assert.equal(custom.results[0]!.message, 'Halt podinfo.test advancement error-rate 5.00 > 1');
});

test('range bounds are inclusive; every value, range and verdict is returned', async () => {
  const out = await run(
    [
      { name: 'request-success-rate', thresholdRange: { min: 99, max: 100 } },
      { name: 'request-duration', thresholdRange: { max: 500 } },
      { name: 'custom', templateRef: { name: 't' }, thresholdRange: { min: 1, max: 1 } },
    ],
    { 'request-success-rate': { value: 99 }, 'request-duration': { value: 500.4 }, custom: { value: 1 } },
  );
  assert.equal(out.ok, true);
  assert.deepEqual(
    out.results.map((r) => [r.name, r.value, r.range, r.verdict]),
    [
      ['request-success-rate', 99, { min: 99, max: 100 }, 'pass'],
      ['request-duration', 500, { max: 500 }, 'pass'],
      ['custom', 1, { min: 1, max: 1 }, 'pass'],
    ],
  );
});

test('builtin and inline checks run before templates, and the first failure stops the analysis', async () => {
  const metrics: Metric[] = [
    { name: 'tmpl', templateRef: { name: 't' }, thresholdRange: { max: 1 } },
    { name: 'inline', query: 'q', thresholdRange: { max: 1 } },
    { name: 'request-success-rate', thresholdRange: { min: 99 } },
    { name: 'later', templateRef: { name: 'u' }, thresholdRange: { max: 1 } },
  ];
  assert.deepEqual(
    checkOrder(metrics).map((c) => c.metric.name),
    ['inline', 'request-success-rate', 'tmpl', 'later'],
  );
  const out = await run(metrics, {
    inline: { value: 0 },
    'request-success-rate': { value: 50 },
    tmpl: { value: 0 },
    later: { value: 0 },
  });
  assert.equal(out.ok, false);
  assert.deepEqual(out.asked, ['inline', 'request-success-rate']);
  assert.equal(out.results.length, 2);
});

test('the deprecated threshold is a minimum for the success rate and a maximum otherwise', async () => {
  const out = await run(
    [
      { name: 'request-success-rate', threshold: 99 },
      { name: 'request-duration', threshold: 500 },
      { name: 'custom', query: 'q', threshold: 5 },
    ],
    { 'request-success-rate': { value: 99.5 }, 'request-duration': { value: 499 }, custom: { value: 5 } },
  );
  assert.equal(out.ok, true);
  assert.deepEqual(
    out.results.map((r) => r.range),
    [{ min: 99 }, { max: 500 }, { max: 5 }],
  );
  const low = await run([{ name: 'request-success-rate', threshold: 99 }], { 'request-success-rate': { value: 98 } });
  assert.equal(low.results[0]!.message, 'Halt podinfo.test advancement success rate 98.00% < 99%');
});

test('no values: Flagger texts by kind, and noDataPolicy fail / skip / pass', async () => {
  const none = { noValues: 'no values found' };
  const texts = await Promise.all(
    (
      [
        { name: 'request-success-rate' },
        { name: 'request-duration' },
        { name: 'inline', query: 'q' },
        { name: 'tmpl', templateRef: { name: 't' } },
      ] as Metric[]
    ).map(async (m) => (await run([m], { [m.name]: none })).results[0]!),
  );
  assert.deepEqual(
    texts.map((r) => [r.verdict, r.value, r.message]),
    [
      [
        'no-data',
        null,
        'Halt advancement no values found for istio metric request-success-rate probably podinfo.test is not ' +
          'receiving traffic: running query failed: no values found',
      ],
      [
        'no-data',
        null,
        'Halt advancement no values found for istio metric request-duration probably podinfo.test is not receiving traffic',
      ],
      ['no-data', null, 'Halt advancement no values found for metric: inline'],
      ['no-data', null, 'Halt advancement no values found for custom metric: tmpl: no values found'],
    ],
  );

  const out = await run(
    [
      { name: 'skipped', query: 'a', noDataPolicy: 'skip', thresholdRange: { max: 1 } },
      { name: 'passed', query: 'b', noDataPolicy: 'pass', thresholdRange: { max: 1 } },
      { name: 'after', query: 'c', thresholdRange: { max: 1 } },
    ],
    { skipped: none, passed: none, after: { value: 0.5 } },
  );
  assert.equal(out.ok, true);
  assert.deepEqual(
    out.results.map((r) => [r.name, r.verdict, r.message]),
    [
      ['skipped', 'no-data', undefined],
      ['passed', 'pass', undefined],
      ['after', 'pass', undefined],
    ],
  );
});

test('a query that ran but failed is a failed check carrying its message', async () => {
  const out = await run([{ name: 'm', query: 'q', thresholdRange: { max: 1 } }], {
    m: { error: 'Prometheus query failed for m: multiple values' },
  });
  assert.deepEqual(out.results[0], {
    name: 'm',
    value: null,
    range: { max: 1 },
    verdict: 'fail',
    message: 'Prometheus query failed for m: multiple values',
  });
});

test('an infinite value fails against a max and is reported as null (JSON has no Infinity)', async () => {
  const out = await run([{ name: 'request-duration', thresholdRange: { max: 500 } }], {
    'request-duration': { value: Infinity },
  });
  assert.equal(out.results[0]!.value, null);
  assert.equal(out.results[0]!.message, 'Halt podinfo.test advancement request duration +Inf > 500ms');
});

test('Go formatting of durations and floats', () => {
  assert.deepEqual([0, 7, 500, 1000, 1515, 59_999, 60_000, 90_500, 3_723_000].map(goDuration), [
    '0s',
    '7ms',
    '500ms',
    '1s',
    '1.515s',
    '59.999s',
    '1m0s',
    '1m30.5s',
    '1h2m3s',
  ]);
  assert.deepEqual([99, 99.5, 0.00001, 1e21, -2].map(goFloat), ['99', '99.5', '1e-05', '1e+21', '-2']);
});
