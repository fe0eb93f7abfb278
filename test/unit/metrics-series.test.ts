// The rule of activities/metrics/series.ts: which point of a series is judged, in any order, with gaps, and the
// typed "no complete point" error that the metric's noDataPolicy handles like an empty answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  judgedPoint,
  NoCompletePointError,
  NoValuesError,
  QueryError,
  type SeriesPoint,
} from '../../activities/metrics/index.ts';
import { run } from '../../activities/metrics/checks.ts';

const pts = (...pairs: [number, number | null][]): SeriesPoint[] =>
  pairs.map(([timestamp, value]) => ({ timestamp, value }));

test("issue 18's reply: the newest bucket (42) is set aside, 0.5 is judged", () => {
  assert.deepEqual(judgedPoint(pts([1, 0.5], [2, 42])), { timestamp: 1, value: 0.5, skippedNewest: 2 });
});

test('the newest complete point, whatever the order of the answer', () => {
  const ascending = pts([0, 1], [60_000, 2], [120_000, 3], [180_000, 4]);
  const expected = { timestamp: 120_000, value: 3, skippedNewest: 180_000 };
  assert.deepEqual(judgedPoint(ascending), expected);
  assert.deepEqual(judgedPoint([...ascending].reverse()), expected, 'CloudWatch: newest first');
  assert.deepEqual(judgedPoint([ascending[2]!, ascending[0]!, ascending[3]!, ascending[1]!]), expected);
});

test('the input is not reordered in place', () => {
  const desc = pts([2, 42], [1, 0.5]);
  judgedPoint(desc);
  assert.deepEqual(desc, pts([2, 42], [1, 0.5]));
});

test('gaps (null, NaN) are skipped: the newest complete point with a value is judged', () => {
  assert.equal(judgedPoint(pts([1, 7], [2, null], [3, NaN], [4, 42])).value, 7);
  assert.equal(judgedPoint(pts([1, 2], [2, null])).value, 2, 'a null newest bucket is still the filling one');
});

test('infinities are values (they fail a bound), zero is a value', () => {
  assert.equal(judgedPoint(pts([1, Infinity], [2, 0])).value, Infinity);
  assert.equal(judgedPoint(pts([1, 0], [2, 5])).value, 0);
  assert.equal(judgedPoint(pts([1, -Infinity], [2, 5])).value, -Infinity);
});

test('several points in the newest bucket are all set aside', () => {
  assert.equal(judgedPoint(pts([1, 0.5], [2, 42], [2, 43])).value, 0.5);
});

test('no complete point: empty, a single bucket, only gaps before the newest: NoCompletePointError (no values)', () => {
  const cases: [SeriesPoint[], RegExp][] = [
    [[], /^empty series: no values found$/],
    [pts([1_700_000_000_000, 0.5]), /^no complete bucket: the newest bucket \(2023-11-14T22:13:20\.000Z\) is still/],
    [pts([1, null], [2, 42]), /the older point is a gap and the newest bucket .* is still filling: no values found$/],
    [pts([1, NaN], [2, null], [3, 42]), /the 2 older points are gaps/],
  ];
  for (const [points, message] of cases) {
    assert.throws(
      () => judgedPoint(points),
      (e: Error) =>
        e instanceof NoCompletePointError &&
        e instanceof NoValuesError &&
        e.name === 'NoCompletePointError' &&
        message.test(e.message),
      JSON.stringify(points),
    );
  }
});

test('a timestamp that is not a finite number is a malformed answer', () => {
  assert.throws(() => judgedPoint(pts([NaN, 1], [2, 3])), QueryError);
  assert.throws(() => judgedPoint(pts([1, 1], [Infinity, 3])), QueryError);
});

test('an out-of-range timestamp still yields a readable message', () => {
  assert.throws(() => judgedPoint(pts([1e20, 1])), /newest bucket \(100000000000000000000\)/);
});

test('a provider throwing NoCompletePointError gives a no-values reading, like an empty answer', async () => {
  const provider = {
    type: 'datadog',
    runQuery: async () => judgedPoint(pts([1, 42])).value,
    isOnline: async () => true,
  };
  const reading = await run({}, provider, 'q', (m) => `failed: ${m}`);
  assert.ok('noValues' in reading, JSON.stringify(reading));
  assert.match(reading.noValues, /no complete bucket/);
});
