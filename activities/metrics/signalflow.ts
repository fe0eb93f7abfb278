// SignalFlow over WebSocket, the client side Flagger's splunk provider uses (github.com/signalfx/signalflow-client-go
// v2.3.0, SignalFlow's stream messages reference): connect to `<stream>/v2/signalflow/connect`, send
// `{"type":"authenticate","token":…}`, await `authenticated`, send one `execute` on channel `ch-1`, and read that
// channel until `END_OF_CHANNEL`. Text frames are JSON messages (`control-message`, `message`, `metadata`, `error`);
// binary frames are data messages (a 20-byte header naming the channel, optionally gzipped, then a timestamp and
// 17-byte payloads). Node's own WebSocket client (undici) carries the frames; nothing is kept between queries.
import { gunzipSync } from 'node:zlib';
import { ProviderUnavailableError, QueryError, errorText } from './errors.ts';

/** The one channel a query uses (signalflow-client-go names its first channel `ch-1` too). */
export const CHANNEL = 'ch-1';

/** One value of one time series in a data message; `tsid` as SignalFlow writes it in JSON (base64url, 11 chars). */
export interface DataPayload {
  tsid: string;
  value: number;
}

/** A binary data message: the logical timestamp (ms since the epoch) and the values of the series that have one. */
export interface DataMessage {
  channel: string;
  timestampMs: number;
  payloads: DataPayload[];
}

/** The `execute` request (SignalFlow's execute message; `resolution` 0 lets the backend choose, as Flagger does). */
export function executeRequest(program: string, startMs: number, stopMs: number): Record<string, unknown> {
  return {
    type: 'execute',
    program,
    channel: CHANNEL,
    start: startMs,
    stop: stopMs,
    resolution: 0,
    maxDelay: 0,
    immediate: true,
    timezone: '',
  };
}

const HEADER = 20;
const DATA_HEADER = 12;
const PAYLOAD = 17;
const FLAG_COMPRESSED = 1;
const FLAG_JSON = 2;

/**
 * Decodes a binary WebSocket message (pure): version, message type, flags (bit 0 gzip, bit 1 JSON), reserved,
 * channel (16 bytes, NUL-padded); then timestamp (uint64 ms), element count (uint32) and per element: value type
 * (1 long, 2 double, 3 int32 in the first four value bytes), TSID (8 bytes), value (8 bytes), all big-endian.
 * Elements of an unknown value type carry no value (signalflow-client-go drops them too). Throws QueryError on a
 * truncated or JSON-flagged message.
 */
export function parseDataMessage(bytes: Uint8Array): DataMessage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length <= HEADER) throw new QueryError(`SignalFlow binary message of ${buf.length} bytes is too short`);
  const flags = buf.readUInt8(2);
  const nul = buf.subarray(4, HEADER).indexOf(0);
  const channel = buf.subarray(4, nul < 0 ? HEADER : 4 + nul).toString('latin1');
  if (flags & FLAG_JSON) throw new QueryError('cannot handle json binary message');
  let rest = buf.subarray(HEADER);
  if (flags & FLAG_COMPRESSED) {
    try {
      rest = gunzipSync(rest);
    } catch (err) {
      throw new QueryError(`SignalFlow data message does not decompress: ${errorText(err)}`);
    }
  }
  if (rest.length < DATA_HEADER) throw new QueryError('SignalFlow data message is truncated');
  const timestampMs = Number(rest.readBigUInt64BE(0));
  const count = rest.readUInt32BE(8);
  if (rest.length < DATA_HEADER + count * PAYLOAD) throw new QueryError('SignalFlow data message is truncated');
  const payloads: DataPayload[] = [];
  for (let i = 0; i < count; i++) {
    const at = DATA_HEADER + i * PAYLOAD;
    const type = rest.readUInt8(at);
    const tsid = rest.subarray(at + 1, at + 9).toString('base64url');
    const value =
      type === 1
        ? Number(rest.readBigInt64BE(at + 9))
        : type === 2
          ? rest.readDoubleBE(at + 9)
          : type === 3
            ? rest.readInt32BE(at + 9)
            : undefined;
    if (value !== undefined) payloads.push({ tsid, value });
  }
  return { channel, timestampMs, payloads };
}

interface JsonMessage {
  type?: unknown;
  channel?: unknown;
  event?: unknown;
  error?: unknown;
  errorType?: unknown;
  message?: unknown;
}

/** Text of an `error` message as signalflow-client-go prints it: `<code> (<errorType>): <message>`. */
export function errorMessageText(m: JsonMessage): string {
  let text = typeof m.error === 'number' ? String(m.error) : '';
  if (typeof m.errorType === 'string' && m.errorType) text = `${text} (${m.errorType})`;
  if (typeof m.message === 'string' && m.message) text = text ? `${text}: ${m.message}` : m.message;
  return text.trim() || 'error';
}

/** A 5xx / 429 error code is the backend's trouble (retry); anything else is the query's or the token's. */
function errorFor(prefix: string, m: JsonMessage): Error {
  const text = `${prefix}: ${errorMessageText(m)}`;
  const code = typeof m.error === 'number' ? m.error : 0;
  return code >= 500 || code === 429 ? new ProviderUnavailableError(text) : new QueryError(text);
}

export interface ComputeOptions {
  /** `ws://` or `wss://` URL of the connect endpoint. */
  url: URL;
  token: string;
  program: string;
  startMs: number;
  stopMs: number;
  /** Whole exchange: connect, authenticate, compute; ProviderUnavailableError when it runs out. */
  timeoutMs: number;
}

/**
 * Runs one SignalFlow computation and returns its data messages in arrival order. Errors: ProviderUnavailableError
 * when the socket cannot be opened, closes before `END_OF_CHANNEL`, the channel is aborted, an error message has a
 * 5xx / 429 code, or the time runs out; QueryError for any other `error` message (a bad token, a program that does
 * not compile) and for undecodable messages.
 */
export function compute(opts: ComputeOptions): Promise<DataMessage[]> {
  return new Promise<DataMessage[]>((resolve, reject) => {
    const data: DataMessage[] = [];
    let settled = false;
    const socket = new WebSocket(opts.url);
    socket.binaryType = 'arraybuffer';
    const finish = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(1000);
      if (err) reject(err);
      else resolve(data);
    };
    const timer = setTimeout(
      () =>
        finish(new ProviderUnavailableError(`SignalFlow ${opts.url.origin} did not finish in ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    let opened = false;
    let failure = '';
    socket.addEventListener('open', () => {
      opened = true;
      socket.send(JSON.stringify({ type: 'authenticate', token: opts.token }));
    });
    // undici fires `error` (its `error` the cause, often without text) and then `close` with the code and reason.
    socket.addEventListener('error', (ev) => {
      const { error, message } = ev as Event & { error?: unknown; message?: string };
      failure = [message, error instanceof Error ? causeText(error) : ''].filter(Boolean).join(': ');
    });
    socket.addEventListener('close', (ev) => {
      const closed = `${ev.code}${ev.reason ? ` ${ev.reason}` : ''}`;
      finish(
        new ProviderUnavailableError(
          opened
            ? `SignalFlow ${opts.url.origin} closed the connection (${closed}) before the end of the channel`
            : `SignalFlow connection to ${opts.url.href} failed: ${failure || `no WebSocket connection (close code ${closed})`}`,
        ),
      );
    });
    socket.addEventListener('message', (ev: MessageEvent) => {
      try {
        if (typeof ev.data !== 'string') {
          const msg = parseDataMessage(new Uint8Array(ev.data as ArrayBuffer));
          if (msg.channel === CHANNEL) data.push(msg);
          return;
        }
        const m = parseJsonMessage(ev.data);
        if (m.type === 'authenticated') {
          socket.send(JSON.stringify(executeRequest(opts.program, opts.startMs, opts.stopMs)));
        } else if (m.type === 'error' && (m.channel === undefined || m.channel === '')) {
          finish(errorFor('SignalFlow authentication failed', m));
        } else if (m.channel !== CHANNEL) {
          return; // keep-alives and other channels' messages
        } else if (m.type === 'error') {
          finish(errorFor('error executing query', m));
        } else if (m.type === 'control-message' && m.event === 'END_OF_CHANNEL') {
          finish(undefined);
        } else if (m.type === 'control-message' && m.event === 'CHANNEL_ABORT') {
          finish(new ProviderUnavailableError(`SignalFlow aborted the computation: ${errorMessageText(m)}`));
        }
      } catch (err) {
        finish(err instanceof Error ? err : new QueryError(errorText(err)));
      }
    });
  });
}

function causeText(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  return [err.message, cause ? errorText(cause) : ''].filter(Boolean).join(': ');
}

function parseJsonMessage(text: string): JsonMessage {
  try {
    const m = JSON.parse(text) as unknown;
    if (m && typeof m === 'object' && !Array.isArray(m)) return m as JsonMessage;
  } catch {
    // reported below
  }
  throw new QueryError(`couldn't unmarshal SignalFlow message: ${text.slice(0, 200)}`);
}
