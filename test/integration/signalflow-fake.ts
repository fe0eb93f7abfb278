// A local Splunk Observability (SignalFx) backend: the REST call Flagger's isOnline makes (`GET /v2/metric?limit=1`
// with `X-SF-Token`) and SignalFlow's WebSocket API at `/v2/signalflow/connect`, speaking the stream messages as
// signalflow-client-go v2.3.0 (the client Flagger uses) reads them and its own fake backend writes them:
// `authenticated`, then per `execute` the control messages STREAM_START and JOB_START (with a handle), the
// JOB_RUNNING_RESOLUTION info message, one `metadata` message per time series, gzipped binary data messages (20-byte
// header with the channel, uint64 timestamp, uint32 count, 17-byte payloads) and END_OF_CHANNEL; errors are
// `{"type":"error", "error": <code>, "message": …}`. Node has no WebSocket server, so the RFC 6455 server side (the
// handshake, unmasking client frames, writing unmasked frames, ping and close) is written out below; the client is
// Node's own (undici), which rejects any handshake or framing that does not follow the RFC.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { Answer, Fake, Seen } from './metrics-fakes.ts';

/** Buckets per time series (`null`: the series has no value in that bucket), oldest first, or a plain Answer. */
export type SignalFlowAnswer = Answer | { series: (number | null)[][] };

/** Bucket width the fake's backend chooses for every job (JOB_RUNNING_RESOLUTION). */
export const RESOLUTION_MS = 10_000;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Text (opcode 1), binary (2), close (8), ping (9), pong (10) frames from the server: FIN set, never masked. */
function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127]), bigLength(len)]);
  return Buffer.concat([head, payload]);
}

function bigLength(len: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(len));
  return b;
}

/** Reads client frames (always masked, RFC 6455 §5.3) and hands complete messages to `onMessage`. */
function frameReader(socket: Socket, onMessage: (opcode: number, payload: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  let parts: Buffer[] = [];
  let partsOpcode = 0;
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0]! & 0x80) !== 0;
      const opcode = buf[0]! & 0x0f;
      if ((buf[1]! & 0x80) === 0) return void socket.destroy(); // an unmasked client frame is a protocol error
      let len = buf[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        at = 10;
      }
      if (buf.length < at + 4 + len) return;
      const mask = buf.subarray(at, at + 4);
      const payload = Buffer.from(buf.subarray(at + 4, at + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      buf = buf.subarray(at + 4 + len);
      if (opcode >= 8) {
        onMessage(opcode, payload);
        continue;
      }
      if (opcode !== 0) partsOpcode = opcode;
      parts.push(payload);
      if (fin) {
        onMessage(partsOpcode, Buffer.concat(parts));
        parts = [];
      }
    }
  });
}

/** A data message as SignalFlow sends it (version 1, type 5, gzip flag) for `channel` at `timestampMs`. */
export function dataMessage(channel: string, timestampMs: number, values: [tsid: bigint, value: number][]): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt8(1, 0);
  header.writeUInt8(5, 1);
  header.writeUInt8(1, 2); // compressed
  header.write(channel, 4, 16, 'latin1');
  const body = Buffer.alloc(12 + 17 * values.length);
  body.writeBigUInt64BE(BigInt(timestampMs), 0);
  body.writeUInt32BE(values.length, 8);
  values.forEach(([tsid, value], i) => {
    const at = 12 + 17 * i;
    const long = Number.isSafeInteger(value);
    body.writeUInt8(long ? 1 : 2, at); // 1 long, 2 double
    body.writeBigInt64BE(tsid, at + 1);
    if (long) body.writeBigInt64BE(BigInt(value), at + 9);
    else body.writeDoubleBE(value, at + 9);
  });
  return Buffer.concat([header, gzipSync(body)]);
}

const tsidText = (tsid: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(tsid);
  return b.toString('base64url');
};

/**
 * Buckets of RESOLUTION_MS over [start, stop] (timestamps at bucket starts). A `{value}` answer is one series whose
 * newest bucket is still filling (1000 × the value), the one before holds the value, older ones half of it; `noData`
 * matches no time series (FIND_MATCHED_NO_TIMESERIES, no data messages); `{status}` is an error message. Explicit
 * `series` fill the newest buckets (the last value is the newest bucket's), older buckets have no value.
 */
function seriesOf(a: SignalFlowAnswer, buckets: number): (number | null)[][] {
  if ('series' in a) return a.series.map((s) => [...Array<null>(Math.max(0, buckets - s.length)).fill(null), ...s]);
  if (!('value' in a)) return [];
  return [
    Array.from({ length: buckets }, (_, i) =>
      i === buckets - 1 ? a.value * 1000 : i === buckets - 2 ? a.value : a.value / 2,
    ),
  ];
}

export function signalFlowFake(token: string, answer: (program: string) => SignalFlowAnswer): Promise<Fake> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ method: req.method ?? '', url, headers: req.headers, body: '' });
    const reply = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.headers['x-sf-token'] !== token) return reply(401, { code: 401, message: 'Unauthorized' });
    if (url.pathname !== '/v2/metric') return reply(404, { code: 404, message: 'Not Found' });
    reply(200, { count: 1, results: [{ name: 'requests.count', type: 'COUNTER', created: 0, creator: null }] });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ method: req.method ?? '', url, headers: req.headers, body: '' });
    const key = req.headers['sec-websocket-key'];
    if (url.pathname !== '/v2/signalflow/connect' || req.headers.upgrade?.toLowerCase() !== 'websocket' || !key) {
      return void socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    }
    const accept = createHash('sha1').update(`${key}${GUID}`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const text = (m: unknown) => socket.write(frame(1, Buffer.from(JSON.stringify(m))));
    let authenticated = false;
    let handles = 0;
    frameReader(socket, (opcode, payload) => {
      if (opcode === 8) return void socket.end(frame(8, payload.subarray(0, 2)));
      if (opcode === 9) return void socket.write(frame(10, payload));
      if (opcode !== 1) return;
      const body = payload.toString();
      seen.push({ method: 'WS', url, headers: req.headers, body });
      const m = JSON.parse(body) as { type: string; token?: string; program?: string; channel?: string };
      if (m.type === 'authenticate') {
        if (m.token !== token) {
          text({ type: 'error', error: 401, message: 'Invalid auth token' });
          return void socket.end(frame(8, Buffer.from([0x03, 0xe8])));
        }
        authenticated = true;
        return void text({ type: 'authenticated', orgId: 'ORG1', userId: 'USER1' });
      }
      if (m.type !== 'execute') return;
      const ch = m.channel ?? '';
      if (!authenticated) return void text({ type: 'error', channel: ch, error: 401, message: 'not authenticated' });
      const exec = m as unknown as { program: string; start: number; stop: number };
      const a = answer(exec.program);
      if ('status' in a) {
        return void text({ type: 'error', channel: ch, error: a.status, message: `program failed: ${a.status}` });
      }
      const first = Math.ceil(exec.start / RESOLUTION_MS) * RESOLUTION_MS;
      const timestamps: number[] = [];
      for (let t = first; t <= exec.stop; t += RESOLUTION_MS) timestamps.push(t);
      const series = seriesOf(a, timestamps.length);
      const tsids = series.map((_, i) => 0x1000n + BigInt(i));
      const handle = `handle-${++handles}`;
      text({ type: 'control-message', channel: ch, event: 'STREAM_START', timestampMs: exec.stop });
      text({ type: 'control-message', channel: ch, event: 'JOB_START', handle, timestampMs: exec.stop });
      text({
        type: 'message',
        channel: ch,
        logicalTimestampMs: first,
        message: {
          contents: { resolutionMs: RESOLUTION_MS },
          messageCode: 'JOB_RUNNING_RESOLUTION',
          timestampMs: exec.stop,
        },
      });
      if (series.length === 0) {
        text({
          type: 'message',
          channel: ch,
          logicalTimestampMs: first,
          message: {
            contents: { query: exec.program },
            messageCode: 'FIND_MATCHED_NO_TIMESERIES',
            timestampMs: exec.stop,
          },
        });
      }
      tsids.forEach((tsid) =>
        text({
          type: 'metadata',
          channel: ch,
          tsId: tsidText(tsid),
          properties: { sf_metric: 'requests.count', sf_resolutionMs: RESOLUTION_MS, sf_isPreQuantized: true },
        }),
      );
      if (series.length > 0) {
        timestamps.forEach((t, i) => {
          const values = series.flatMap((s, j) => (s[i] == null ? [] : [[tsids[j]!, s[i]!] as [bigint, number]]));
          socket.write(frame(2, dataMessage(ch, t, values)));
        });
      }
      text({ type: 'control-message', channel: ch, event: 'END_OF_CHANNEL', handle, timestampMs: exec.stop });
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        seen,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    ),
  );
}
