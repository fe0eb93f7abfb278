// Which point of a time series is judged: the rule every provider that answers with a series of buckets
// (Datadog, CloudWatch, and later newrelic TIMESERIES, graphite, stackdriver, influxdb, dynatrace) follows.
//
// A series backend answers a window that ends at "now". Its newest bucket is the one still filling: it either
// contains the query's end (CloudWatch's period that began at 12:41:00 when asked at 12:41:34; Datadog's
// rollup bucket holding the current second) or has just closed and is still receiving late data (both backends
// ingest with a delay and neither marks a bucket as final in its answer). A value read from that bucket is a
// fraction of the real one, so a rollout could fail on a spike that is only a half-filled denominator, or pass on
// a count that is only half-counted.
//
// The rule: sort by timestamp (answers come newest-first from CloudWatch, oldest-first from Datadog), set the
// newest bucket aside, and judge the newest remaining point that has a value. Gaps (null, NaN) are buckets
// without data and are skipped. When nothing remains, the answer has no complete data: NoCompletePointError, a
// NoValuesError, so the metric's `noDataPolicy` decides, exactly as for an empty answer.
//
// The newest bucket is set aside by its position, not by the clock: a bucket whose end has passed may still be
// receiving data, so a timestamp comparison cannot prove it final, and Issue 18's reply
// (`[[1,0.5],[2,42]]`, timestamps in the far past) must still judge 0.5.
import { NoValuesError, QueryError } from './errors.ts';

/** One bucket of a series: `timestamp` in milliseconds since the epoch (start of the bucket), `value` or a gap. */
export interface SeriesPoint {
  timestamp: number;
  value: number | null;
}

/** The point the rule chose, and why the points after it were not judged (for logs and messages). */
export interface JudgedPoint extends SeriesPoint {
  value: number;
  /** Timestamp of the newest bucket, set aside as incomplete. */
  skippedNewest: number;
}

/** No complete bucket has a value: the series is empty, has one bucket, or only gaps before its newest bucket. */
export class NoCompletePointError extends NoValuesError {
  override name = 'NoCompletePointError';
}

/**
 * The point to judge in `points` (any order, timestamps in ms): the newest point with a finite value, excluding
 * the series' newest bucket, which is still filling. `+Inf` / `-Inf` are values (they fail a bound); `null` and
 * NaN are gaps. Points with the same timestamp count as one bucket (all set aside if it is the newest).
 *
 * Throws NoCompletePointError (a NoValuesError: the metric's `noDataPolicy` applies) when no complete bucket has
 * a value, its message saying what the series held; QueryError when a timestamp is not a finite number (a
 * malformed answer).
 */
export function judgedPoint(points: readonly SeriesPoint[]): JudgedPoint {
  if (points.length === 0) throw new NoCompletePointError('empty series');
  const bad = points.find((p) => !Number.isFinite(p.timestamp));
  if (bad) throw new QueryError(`malformed series: timestamp ${String(bad.timestamp)} is not a number`);
  const sorted = [...points].sort((a, b) => a.timestamp - b.timestamp);
  const newest = sorted.at(-1)!.timestamp;
  for (let i = sorted.length - 1; i >= 0; i--) {
    const p = sorted[i]!;
    if (p.timestamp === newest || p.value === null || Number.isNaN(p.value)) continue;
    return { timestamp: p.timestamp, value: p.value, skippedNewest: newest };
  }
  const complete = sorted.filter((p) => p.timestamp !== newest).length;
  const filling = `the newest bucket (${isoOrRaw(newest)}) is still filling`;
  throw new NoCompletePointError(
    complete === 0
      ? `no complete bucket: ${filling}`
      : `no complete bucket with a value: ${complete === 1 ? 'the older point is a gap' : `the ${complete} older points are gaps`} and ${filling}`,
  );
}

function isoOrRaw(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}
