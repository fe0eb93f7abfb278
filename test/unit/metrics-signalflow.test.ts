// SignalFlow's binary data messages and the value Splunk judges from them (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { NoValuesError, QueryError } from '../../activities/metrics/errors.ts';
import { parseDataMessage, errorMessageText } from '../../activities/metrics/signalflow.ts';
import { judgedSignalFlowValue } from '../../activities/metrics/splunk.ts';

// A data message as SignalFlow sent it (gzipped, channel "channel-1", 16 series at 2017-08-30T03:34:00Z), recorded
// in signalflow-client-go v2.3.0's messages/binary_test.go together with its decoding.
const RECORDED =
  'AQUBAGNoYW5uZWwtMQAAAAAAAAAfiwgAAAAAAAAAY2BgjDM0fuPAwMAgwAQkGLa3Hbjh0DrjDBCcBQtcPh/M4LDtCIjJABaYfOodp8PhzM3GQAAWqGwI9XYIB/' +
  'MhAq90Xk10WC6QBgJggdXf6vQdWgsQZtx+ep7doXU3QovGzqWLHdoXIbTw8FivdNi2AiEQrvdtt8PSmwiHndJlvOXgloZQ4Xd05iyHKZEIQ513nVntcOAfQgW7n42tw' +
  '/kGHrgZ+pvL9B3aryAcFp27rM1hMT9YCwAua3WrHAEAAA==';

const tsid = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b.toString('base64url');
};

test('a recorded SignalFlow data message decodes as signalflow-client-go decodes it', () => {
  const m = parseDataMessage(Buffer.from(RECORDED, 'base64'));
  assert.equal(m.channel, 'channel-1');
  assert.equal(m.timestampMs, 1504064040000);
  assert.equal(m.payloads.length, 16);
  assert.deepEqual(m.payloads[0], { tsid: tsid(3079061720n), value: 691.1 });
});

/** Header (version 1, type 5, flags, channel) + body of `[type, tsid, 8 value bytes]` elements. */
function message(flags: number, elements: [number, bigint, Buffer][], timestampMs = 1000): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt8(1, 0);
  header.writeUInt8(5, 1);
  header.writeUInt8(flags, 2);
  header.write('ch-1', 4, 'latin1');
  const body = Buffer.alloc(12);
  body.writeBigUInt64BE(BigInt(timestampMs));
  body.writeUInt32BE(elements.length, 8);
  const parts = elements.map(([type, id, value]) => {
    const e = Buffer.alloc(9);
    e.writeUInt8(type);
    e.writeBigInt64BE(id, 1);
    return Buffer.concat([e, value]);
  });
  const rest = Buffer.concat([body, ...parts]);
  return Buffer.concat([header, flags & 1 ? gzipSync(rest) : rest]);
}

test('value types: long, double, int32 (first four bytes); unknown types carry no value; JSON and short messages fail', () => {
  const long = Buffer.alloc(8);
  long.writeBigInt64BE(-42n);
  const double = Buffer.alloc(8);
  double.writeDoubleBE(0.125);
  const int = Buffer.alloc(8);
  int.writeInt32BE(7);
  const m = parseDataMessage(
    message(0, [
      [1, 1n, long],
      [2, 2n, double],
      [3, 3n, int],
      [9, 4n, long],
    ]),
  );
  assert.deepEqual(
    m.payloads.map((p) => p.value),
    [-42, 0.125, 7],
  );
  assert.equal(m.channel, 'ch-1');
  assert.throws(() => parseDataMessage(message(2, [])), /cannot handle json binary message/);
  assert.throws(() => parseDataMessage(Buffer.alloc(20)), QueryError);
  assert.throws(() => parseDataMessage(message(0, [[2, 1n, double]]).subarray(0, 40)), /truncated/);
});

test('the judged value: newest complete bucket of the one series; gaps skipped; several series fail', () => {
  const at = (t: number, ...values: [string, number][]) => ({
    channel: 'ch-1',
    timestampMs: t,
    payloads: values.map(([id, value]) => ({ tsid: id, value })),
  });
  assert.equal(judgedSignalFlowValue([at(1, ['A', 1]), at(2, ['A', 2]), at(3, ['A', 300])]), 2);
  assert.equal(judgedSignalFlowValue([at(3, ['A', 300]), at(1, ['A', 1]), at(2)]), 1, 'order by timestamp, gap');
  assert.throws(
    () => judgedSignalFlowValue([]),
    (e: Error) => e instanceof NoValuesError,
  );
  assert.throws(() => judgedSignalFlowValue([at(1), at(2, ['A', 5])]), NoValuesError, 'only the filling bucket');
  assert.throws(
    () => judgedSignalFlowValue([at(1, ['A', 1]), at(2, ['B', 1]), at(3, ['A', 1])]),
    /query returned multiple values/,
  );
});

test('error texts as signalflow-client-go prints a computation error', () => {
  assert.equal(
    errorMessageText({ error: 400, errorType: 'ANALYTICS_ERROR', message: 'bad' }),
    '400 (ANALYTICS_ERROR): bad',
  );
  assert.equal(errorMessageText({ error: 401 }), '401');
  assert.equal(errorMessageText({ message: 'Invalid auth token' }), 'Invalid auth token');
});
