// The process's HTTP server: /healthz (alive), /readyz (every part it runs is ready: the Temporal worker is
// polling, the watcher's informers synced) and /metrics (our Flagger-compatible metrics, with Temporal's core
// metrics appended when they are served on a loopback port of their own).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReadinessCheck {
  name: string;
  /** Undefined when ready, else why not (shown in the /readyz body). */
  check(): string | undefined;
}

export interface HealthServerOptions {
  host: string;
  port: number;
  /** Checks that must all pass for /readyz; added as parts start. */
  readiness: ReadinessCheck[];
  /** Our metrics text and its content type. */
  metrics(): Promise<string>;
  contentType: string;
  /** URL of Temporal's core metrics endpoint to merge into /metrics. */
  coreMetricsUrl?: string;
  /** True once shutdown began: /readyz fails so the Service stops routing here. */
  stopping?: () => boolean;
}

export interface HealthServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => void handle(opts, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return { url: `http://${host}:${port}`, port, close: () => closeServer(server) };
}

async function handle(opts: HealthServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  try {
    if (path === '/healthz' || path === '/livez') return send(res, 200, 'ok\n');
    if (path === '/readyz') return readyz(opts, res);
    if (path === '/metrics') return send(res, 200, await metricsBody(opts), opts.contentType);
    send(res, 404, 'not found\n');
  } catch (err) {
    send(res, 500, `${err instanceof Error ? err.message : String(err)}\n`);
  }
}

function readyz(opts: HealthServerOptions, res: ServerResponse): void {
  const problems = notReady(opts);
  if (problems.length === 0) return send(res, 200, 'ok\n');
  send(res, 503, problems.map((p) => `${p}\n`).join(''));
}

/** Reasons the process is not ready; empty when it is. */
export function notReady(opts: Pick<HealthServerOptions, 'readiness' | 'stopping'>): string[] {
  if (opts.stopping?.()) return ['shutting down'];
  if (opts.readiness.length === 0) return ['starting'];
  const out: string[] = [];
  for (const r of opts.readiness) {
    const why = r.check();
    if (why) out.push(`${r.name}: ${why}`);
  }
  return out;
}

async function metricsBody(opts: HealthServerOptions): Promise<string> {
  const ours = await opts.metrics();
  if (!opts.coreMetricsUrl) return ours;
  try {
    const res = await fetch(opts.coreMetricsUrl, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return ours;
    return `${ours}\n${await res.text()}`;
  } catch {
    // Core metrics are a bonus; a scrape must still succeed with ours.
    return ours;
  }
}

function send(res: ServerResponse, code: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
