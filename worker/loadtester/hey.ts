// A built-in replacement for rakyll/hey, the load generator Flagger's loadtester image ships, so existing
// `hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/` webhooks work without an external binary. Same flags
// and the same rate semantics: `-c` workers, each sending at most `-q` requests per second, for `-z` or until
// `-n` requests in total.
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';
import { parseDuration } from '../../api/canary.ts';

export interface HeyOptions {
  url: string;
  requests: number;
  concurrency: number;
  /** Per-worker rate limit in requests per second; 0 means none. */
  qps: number;
  /** Run for this long instead of `requests` (ms). */
  durationMs?: number;
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  proxy?: string;
  disableKeepAlive: boolean;
}

export class HeyUsageError extends Error {
  override name = 'HeyUsageError';
}

const VALUE_FLAGS = new Set(['n', 'c', 'q', 'z', 'm', 'H', 'host', 'd', 'T', 'A', 'a', 't', 'x', 'o', 'cpus', 'D']);
const BOOL_FLAGS = new Set(['h2', 'disable-compression', 'disable-keepalive', 'disable-redirects']);

/** Parses hey's command line (argv without `hey`). */
export function parseHeyArgs(args: string[]): HeyOptions {
  const flags = new Map<string, string[]>();
  const bools = new Set<string>();
  let url: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--?([a-zA-Z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m) {
      if (url) throw new HeyUsageError(`unexpected argument ${arg}`);
      url = arg;
      continue;
    }
    const name = m[1]!;
    if (BOOL_FLAGS.has(name)) bools.add(name);
    else if (VALUE_FLAGS.has(name)) {
      const value = m[2] ?? args[++i];
      if (value === undefined) throw new HeyUsageError(`flag -${name} needs a value`);
      flags.set(name, [...(flags.get(name) ?? []), value]);
    } else throw new HeyUsageError(`unknown flag -${name}`);
  }
  if (!url || !/^https?:\/\//.test(url)) throw new HeyUsageError('usage: hey [options...] <url>');
  if (flags.has('D')) throw new HeyUsageError('-D (body from file) is not supported; use -d');
  if (flags.has('o')) throw new HeyUsageError('-o (output format) is not supported');
  const one = (k: string) => flags.get(k)?.at(-1);
  const int = (k: string, dflt: number) => {
    const v = one(k);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new HeyUsageError(`-${k} must be a non-negative number`);
    return n;
  };
  const headers: Record<string, string> = {};
  for (const h of flags.get('H') ?? []) {
    const at = h.indexOf(':');
    if (at <= 0) throw new HeyUsageError(`invalid header ${h}, want "Key: Value"`);
    headers[h.slice(0, at).trim().toLowerCase()] = h.slice(at + 1).trim();
  }
  if (one('host')) headers.host = one('host')!;
  if (one('T')) headers['content-type'] = one('T')!;
  if (one('A')) headers.accept = one('A')!;
  if (one('a')) headers.authorization = `Basic ${Buffer.from(one('a')!).toString('base64')}`;
  const concurrency = Math.max(1, Math.floor(int('c', 50)));
  const requests = Math.floor(int('n', 200));
  // Go's duration syntax, as hey parses -z with time.ParseDuration.
  const durationMs = one('z') === undefined ? undefined : parseDuration(one('z')!);
  if (durationMs === undefined && requests < concurrency) {
    throw new HeyUsageError('-n cannot be less than -c');
  }
  return {
    url,
    requests,
    concurrency,
    qps: int('q', 0),
    durationMs,
    method: (one('m') ?? 'GET').toUpperCase(),
    headers,
    body: one('d'),
    timeoutMs: int('t', 20) * 1000,
    proxy: one('x') ? (/^https?:\/\//.test(one('x')!) ? one('x') : `http://${one('x')}`) : undefined,
    disableKeepAlive: bools.has('disable-keepalive'),
  };
}

export interface HeyReport {
  total: number;
  statusCounts: Map<number, number>;
  errors: Map<string, number>;
  latenciesMs: number[];
  elapsedMs: number;
}

/** Runs the load; resolves when done, when `-z` is over or when `signal` aborts. */
export async function runHey(opts: HeyOptions, signal?: AbortSignal): Promise<HeyReport> {
  const dispatcher = makeDispatcher(opts);
  const report: HeyReport = { total: 0, statusCounts: new Map(), errors: new Map(), latenciesMs: [], elapsedMs: 0 };
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort);
  const timer = opts.durationMs !== undefined ? setTimeout(() => stop.abort(), opts.durationMs) : undefined;
  const started = performance.now();
  let budget = opts.durationMs !== undefined ? Infinity : opts.requests;
  const take = () => budget-- > 0;
  try {
    const workers = Array.from({ length: opts.concurrency }, () => worker(opts, dispatcher, report, stop.signal, take));
    await Promise.all(workers);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    report.elapsedMs = performance.now() - started;
    await dispatcher.close().catch(() => undefined);
  }
  return report;
}

function makeDispatcher(opts: HeyOptions): Dispatcher {
  const keepAlive = opts.disableKeepAlive ? { pipelining: 0, keepAliveTimeout: 1 } : {};
  if (opts.proxy) return new ProxyAgent({ uri: opts.proxy, connections: opts.concurrency });
  return new Agent({ connections: opts.concurrency, ...keepAlive });
}

async function worker(
  opts: HeyOptions,
  dispatcher: Dispatcher,
  report: HeyReport,
  stop: AbortSignal,
  take: () => boolean,
): Promise<void> {
  // hey's rate limit is a ticker per worker: the first request waits one period too.
  const periodMs = opts.qps > 0 ? 1000 / opts.qps : 0;
  let next = performance.now() + periodMs;
  while (!stop.aborted) {
    if (periodMs > 0) {
      await sleepUntil(next, stop);
      next += periodMs;
      if (stop.aborted) return;
    }
    if (!take()) return;
    await once(opts, dispatcher, report);
  }
}

async function once(opts: HeyOptions, dispatcher: Dispatcher, report: HeyReport): Promise<void> {
  const t0 = performance.now();
  try {
    const res = await request(opts.url, {
      method: opts.method as Dispatcher.HttpMethod,
      headers: opts.headers,
      body: opts.body,
      dispatcher,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    await res.body.dump();
    report.statusCounts.set(res.statusCode, (report.statusCounts.get(res.statusCode) ?? 0) + 1);
    report.latenciesMs.push(performance.now() - t0);
  } catch (err) {
    const e = err as { code?: string; name?: string; message?: string };
    const key = e.code ?? e.name ?? e.message ?? 'error';
    report.errors.set(key, (report.errors.get(key) ?? 0) + 1);
  }
  report.total++;
}

function sleepUntil(at: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, Math.max(0, at - performance.now()));
    function done() {
      clearTimeout(t);
      stop.removeEventListener('abort', done);
      resolve();
    }
    stop.addEventListener('abort', done);
  });
}

/** hey's summary, close enough for people and scripts that grep "Requests/sec" or "[200]". */
export function formatReport(r: HeyReport): string {
  const secs = (ms: number) => (ms / 1000).toFixed(4);
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const avg = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0;
  const lines = [
    '',
    'Summary:',
    `  Total:\t${secs(r.elapsedMs)} secs`,
    `  Slowest:\t${secs(sorted.at(-1) ?? 0)} secs`,
    `  Fastest:\t${secs(sorted[0] ?? 0)} secs`,
    `  Average:\t${secs(avg)} secs`,
    `  Requests/sec:\t${(r.total / Math.max(r.elapsedMs / 1000, 0.001)).toFixed(4)}`,
    '',
    'Status code distribution:',
    ...[...r.statusCounts].sort(([a], [b]) => a - b).map(([code, n]) => `  [${code}]\t${n} responses`),
  ];
  if (r.errors.size > 0) {
    lines.push('', 'Error distribution:', ...[...r.errors].map(([e, n]) => `  [${n}]\t${e}`));
  }
  return lines.join('\n') + '\n';
}
