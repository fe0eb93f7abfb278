// One JSON POST with a deadline, optional retries and optional TLS/proxy settings, on undici. Shared by the
// webhook activities and the notifiers, so both treat timeouts, proxies and response bodies the same way.
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';

export interface PostOptions {
  /** Deadline of one attempt in milliseconds. */
  timeoutMs: number;
  /** Further attempts after the first, for connection errors, timeouts, 5xx (but 501) and 429. */
  retries?: number;
  /** First backoff delay; doubles per attempt (Flagger's retryablehttp waits 1 s, 2 s, 4 s … up to 30 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Skip TLS certificate verification (Flagger's `disableTLS`). */
  insecureTLS?: boolean;
  /** HTTP(S) proxy URL. */
  proxy?: string;
  headers?: Record<string, string>;
}

export interface PostResult {
  /** HTTP status of the last attempt; 0 when no attempt got an answer. */
  status: number;
  body: string;
  /** How many requests were sent (1 + retries used). */
  attempts: number;
  /** Connection or timeout error of the last attempt, when there was no answer. */
  error?: string;
}

/** Response bodies land in events and history: keep them short. */
export const MAX_BODY_CHARS = 1024;

const insecureAgent = new Agent({ connect: { rejectUnauthorized: false } });
const proxyAgents = new Map<string, ProxyAgent>();

function dispatcherFor(opts: PostOptions): Dispatcher | undefined {
  if (opts.proxy) {
    const key = `${opts.proxy}|${opts.insecureTLS ? 1 : 0}`;
    let agent = proxyAgents.get(key);
    if (!agent) {
      agent = new ProxyAgent({
        uri: opts.proxy,
        requestTls: opts.insecureTLS ? { rejectUnauthorized: false } : undefined,
      });
      proxyAgents.set(key, agent);
    }
    return agent;
  }
  return opts.insecureTLS ? insecureAgent : undefined;
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501);
}

export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** attempt);
}

async function attempt(url: string, body: string, opts: PostOptions): Promise<{ status: number; body: string }> {
  const res = await request(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...opts.headers },
    dispatcher: dispatcherFor(opts),
    signal: AbortSignal.timeout(opts.timeoutMs),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text.length > MAX_BODY_CHARS ? text.slice(0, MAX_BODY_CHARS) + '…' : text };
}

function describeError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `timeout after ${timeoutMs}ms`;
  }
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** POST `payload` as JSON; never throws for network errors (they come back in `error`). */
export async function postJson(url: string, payload: unknown, opts: PostOptions): Promise<PostResult> {
  const body = JSON.stringify(payload);
  const retries = Math.max(0, opts.retries ?? 0);
  let last: PostResult = { status: 0, body: '', attempts: 0 };
  for (let i = 0; i <= retries; i++) {
    if (i > 0) await sleep(backoffDelay(i - 1, opts.backoffBaseMs ?? 1000, opts.backoffMaxMs ?? 30_000));
    try {
      const r = await attempt(url, body, opts);
      last = { ...r, attempts: i + 1 };
      if (!isRetryableStatus(r.status)) return last;
    } catch (err) {
      last = { status: 0, body: '', attempts: i + 1, error: describeError(err, opts.timeoutMs) };
    }
  }
  return last;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A URL without user info and query string, safe for logs (tokens often ride in either). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}
