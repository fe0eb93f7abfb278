// One JSON POST with a deadline, optional retries and optional TLS/proxy settings, on undici. Shared by the
// webhook activities and the notifiers, so both treat timeouts, proxies and response bodies the same way.
// Inside an activity every POST, its retries and its backoff waits end before the activity attempt's
// start-to-close timeout (`activityDeadline`): an attempt that outlived it would be retried by Temporal while the
// first one still ran, and a loop that always outlives it would be retried forever.
import { Context } from '@temporalio/activity';
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
  /**
   * Absolute deadline (Unix ms) of the whole call: no attempt runs past it, each attempt's timeout is cut to the
   * time left and no backoff wait starts that would end after it. Default: `activityDeadline()` (none outside an
   * activity).
   */
  deadline?: number;
  /** Aborts the call (e.g. the activity's cancellation signal); the result then has `status` 0. */
  signal?: AbortSignal;
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

/** Worth another attempt: no answer at all (connection error, timeout) or a retryable status. */
export function isRetryableResult(r: Pick<PostResult, 'status'>): boolean {
  return r.status === 0 || isRetryableStatus(r.status);
}

/** Local start time of each running activity attempt (the first time it asked), for `activityDeadline`. */
const attemptStarts = new WeakMap<object, number>();

/**
 * The time by which HTTP work in the current activity attempt must be done (Unix ms): its start-to-close timeout
 * from when the attempt started (as first seen here, on this worker's clock), less a margin of 10 % (at least
 * 500 ms, at most 5 s) to report the result. Undefined outside an activity.
 */
export function activityDeadline(): number | undefined {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return undefined;
  }
  const total = ctx.info.startToCloseTimeoutMs;
  if (!total || total <= 0) return undefined;
  let start = attemptStarts.get(ctx);
  if (start === undefined) {
    start = Date.now();
    attemptStarts.set(ctx, start);
  }
  return start + total - Math.max(500, Math.min(5000, total / 10));
}

/** The current activity's cancellation signal (timeouts, worker shutdown, workflow cancel); none outside one. */
export function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** attempt);
}

async function attempt(
  url: string,
  body: string,
  opts: PostOptions,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await request(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...opts.headers },
    dispatcher: dispatcherFor(opts),
    signal: opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout,
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

/**
 * POST `payload` as JSON, with up to `retries` further attempts for retryable results, all before the deadline
 * (`opts.deadline`, else the activity's). Never throws for network errors, timeouts or an exhausted deadline: they
 * come back in `error` with `status` 0.
 */
export async function postJson(url: string, payload: unknown, opts: PostOptions): Promise<PostResult> {
  const body = JSON.stringify(payload);
  const retries = Math.max(0, opts.retries ?? 0);
  const deadline = opts.deadline ?? activityDeadline() ?? Infinity;
  let last: PostResult = { status: 0, body: '', attempts: 0, error: 'no time left for a request' };
  for (let i = 0; i <= retries; i++) {
    if (i > 0) {
      const delay = backoffDelay(i - 1, opts.backoffBaseMs ?? 1000, opts.backoffMaxMs ?? 30_000);
      // A wait that ends at the deadline leaves no time for the attempt: keep the last answer instead.
      if (Date.now() + delay >= deadline || opts.signal?.aborted) return last;
      await sleep(delay);
    }
    const left = deadline - Date.now();
    if (left <= 0 || opts.signal?.aborted) return last;
    const timeoutMs = Math.min(opts.timeoutMs, left);
    try {
      const r = await attempt(url, body, opts, timeoutMs);
      last = { ...r, attempts: i + 1 };
      if (!isRetryableStatus(r.status)) return last;
    } catch (err) {
      const error = opts.signal?.aborted ? 'cancelled' : describeError(err, timeoutMs);
      last = { status: 0, body: '', attempts: i + 1, error };
    }
  }
  return last;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A URL without user info, path and query string, safe for logs and messages (tokens ride in any of them). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    // Paths carry tokens too (Slack-style hook URLs): only the scheme and host are shown.
    return `${u.protocol}//${u.host}${u.pathname !== '/' ? '/…' : ''}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}
