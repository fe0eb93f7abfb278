// One HTTP GET (or POST) for the HTTP-based providers: undici, a 5 s default timeout, optional TLS verification skip,
// and the status-code triage that decides between "retry the activity" and "count a failed check".
import { Agent, request, type Dispatcher } from 'undici';
import { parseDuration } from '../../api/canary.ts';
import { ProviderConfigError, ProviderUnavailableError, QueryError, errorText } from './errors.ts';

export const DEFAULT_TIMEOUT_MS = 5_000;

export interface GetOptions {
  headers: Record<string, string | string[]>;
  timeoutMs: number;
  insecureSkipVerify?: boolean;
  /** A connection pool of the caller's own (client certificates, a CA); wins over `insecureSkipVerify`. */
  dispatcher?: Dispatcher;
}

let insecureAgent: Agent | undefined;
function dispatcherFor(insecure: boolean | undefined): Dispatcher | undefined {
  if (!insecure) return undefined;
  insecureAgent ??= new Agent({ connect: { rejectUnauthorized: false } });
  return insecureAgent;
}

/** GET `url`, returning the body of a 2xx answer; throws ProviderUnavailableError or QueryError otherwise. */
export function getText(url: URL, opts: GetOptions): Promise<string> {
  return sendText(url, opts);
}

/** POST `body` to `url`, with getText's triage (InfluxDB's Flux query endpoint). */
export function postText(url: URL, body: string, opts: GetOptions): Promise<string> {
  return sendText(url, opts, body);
}

async function sendText(url: URL, opts: GetOptions, payload?: string): Promise<string> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: payload === undefined ? 'GET' : 'POST',
      headers: opts.headers,
      ...(payload !== undefined && { body: payload }),
      dispatcher: opts.dispatcher ?? dispatcherFor(opts.insecureSkipVerify),
      signal: AbortSignal.timeout(opts.timeoutMs),
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
  } catch (err) {
    throw new ProviderUnavailableError(`request to ${url.origin} failed: ${causeText(err)}`);
  }
  let body: string;
  try {
    body = await res.body.text();
  } catch (err) {
    throw new ProviderUnavailableError(`reading the answer of ${url.origin} failed: ${causeText(err)}`);
  }
  if (res.statusCode >= 500 || res.statusCode === 429) {
    throw new ProviderUnavailableError(`${url.origin} answered ${res.statusCode}: ${snippet(body)}`);
  }
  if (res.statusCode >= 300) throw new QueryError(`error response ${res.statusCode}: ${snippet(body)}`);
  return body;
}

export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new QueryError(`error unmarshaling result: ${errorText(err)}, '${snippet(body)}'`);
  }
}

/** Header map of a MetricTemplate (`headers: {Name: [v1, v2]}`) merged under the provider's own headers. */
export function templateHeaders(headers: Record<string, string[]> | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v.length === 1 ? v[0]! : v;
  return out;
}

function causeText(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause;
  return cause ? `${errorText(err)} (${errorText(cause)})` : errorText(err);
}

/** Bodies go into check messages and history: keep them short. */
export function snippet(body: string, max = 300): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** The metric's window (Go duration) in ms; ProviderConfigError with Flagger's text when it does not parse. */
export function intervalMs(interval: string): number {
  try {
    return parseDuration(interval);
  } catch (err) {
    throw new ProviderConfigError(`error parsing metric interval: ${(err as Error).message}`);
  }
}

/** Basic auth header value (RFC 7617) of a user and password. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
