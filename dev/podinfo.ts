// A small work-alike of podinfo (github.com/stefanprodan/podinfo), the app of Flagger's tutorials and of our
// fixtures: the process the pod runner (dev/pod-runner.ts) starts for each Running pod. Node, no framework.
//
// Usage: node dev/podinfo.ts --listen=<ip> --version=<x.y.z> [--hostname=<pod>] [podinfo flags ...]
// podinfo flags honoured (as in the container's command/args): --port (default 9898), --port-metrics (also
// serves /metrics; 0 = none), --random-error, --random-delay, --random-delay-min/--random-delay-max (seconds,
// defaults 0 and 5). Others (--grpc-port, --level, …) are accepted and ignored.
//
// Endpoints (podinfo's shapes, trimmed): GET / → {"hostname","version","revision","color","message",…};
// /status/{code} → that status with {"status": code}; /delay/{s} → waits s seconds, {"delay": s};
// POST|GET /token → {"token","expires_at"}; /healthz, /readyz → {"status":"OK"}; /metrics → Prometheus text
// (`http_requests_total{status}` and `http_request_duration_seconds_*`, podinfo's series names).
// With --random-error about one request in three answers 500 (podinfo picks among error codes; 5xx is what a
// canary analysis measures). SIGTERM closes the listeners and exits.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

export interface PodinfoOptions {
  listen: string;
  port: number;
  metricsPort: number;
  version: string;
  hostname: string;
  randomError: boolean;
  randomDelay: boolean;
  delayMin: number;
  delayMax: number;
}

/** The value of `--name=v` / `--name v` / bare `--name` (true); the last one wins, as with podinfo's pflag. */
function flag(args: string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === `--${name}`) {
      const next = args[i + 1];
      value = next === undefined || next.startsWith('--') ? 'true' : next;
    } else if (a.startsWith(`--${name}=`)) value = a.slice(name.length + 3);
  }
  return value;
}

const truthy = (v: string | undefined): boolean => v !== undefined && v !== 'false' && v !== '0';

/** Parses podinfo's flags (plus our --listen, --version, --hostname) from a container's command and args. */
export function parsePodinfoArgs(args: string[]): PodinfoOptions {
  return {
    listen: flag(args, 'listen') ?? '127.0.0.1',
    port: Number(flag(args, 'port') ?? 9898),
    metricsPort: Number(flag(args, 'port-metrics') ?? 0),
    version: flag(args, 'version') ?? '0.0.0',
    hostname: flag(args, 'hostname') ?? 'podinfo',
    randomError: truthy(flag(args, 'random-error')),
    randomDelay: truthy(flag(args, 'random-delay')),
    delayMin: Number(flag(args, 'random-delay-min') ?? 0),
    delayMax: Number(flag(args, 'random-delay-max') ?? 5),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the servers; resolves once every port listens. */
export async function startPodinfo(o: PodinfoOptions): Promise<{ close(): Promise<void> }> {
  const counts = new Map<number, number>();
  let durationSum = 0;
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const bucketCounts = buckets.map(() => 0);
  const metrics = (): string => {
    const lines = ['# TYPE http_requests_total counter'];
    for (const [status, n] of counts) lines.push(`http_requests_total{status="${status}"} ${n}`);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    lines.push('# TYPE http_request_duration_seconds histogram');
    buckets.forEach((b, i) => lines.push(`http_request_duration_seconds_bucket{le="${b}"} ${bucketCounts[i]}`));
    lines.push(`http_request_duration_seconds_bucket{le="+Inf"} ${total}`);
    lines.push(`http_request_duration_seconds_sum ${durationSum}`, `http_request_duration_seconds_count ${total}`);
    lines.push(`podinfo_info{version="${o.version}"} 1`, '');
    return lines.join('\n');
  };
  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type, 'x-podinfo-version': o.version });
    res.end(typeof body === 'string' ? body : JSON.stringify(body) + '\n');
  };
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/metrics') return (send(res, 200, metrics(), 'text/plain; version=0.0.4'), 200);
    if (path === '/healthz' || path === '/readyz') return (send(res, 200, { status: 'OK' }), 200);
    if (o.randomDelay) await sleep((o.delayMin + Math.random() * (o.delayMax - o.delayMin)) * 1000);
    if (o.randomError && Math.random() < 1 / 3) return (send(res, 500, { status: 500 }), 500);
    const status = /^\/status\/(\d{3})$/.exec(path);
    if (status) {
      const code = Number(status[1]);
      return (send(res, code, { status: code }), code);
    }
    const delay = /^\/delay\/(\d+(?:\.\d+)?)$/.exec(path);
    if (delay) {
      await sleep(Number(delay[1]) * 1000);
      return (send(res, 200, { delay: Number(delay[1]) }), 200);
    }
    if (path === '/token') {
      const expires = new Date(Date.now() + 60_000).toISOString();
      return (send(res, 200, { token: randomBytes(24).toString('base64url'), expires_at: expires }), 200);
    }
    if (path === '/' || path === '') {
      return (
        send(res, 200, {
          hostname: o.hostname,
          version: o.version,
          revision: '',
          color: '#34577c',
          logo: '',
          message: `greetings from podinfo v${o.version}`,
          goos: 'linux',
          goarch: 'amd64',
          runtime: `node ${process.version}`,
          num_goroutine: '1',
          num_cpu: '1',
        }),
        200
      );
    }
    return (send(res, 404, { status: 404 }), 404);
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const start = process.hrtime.bigint();
    route(req, res).then(
      (code) => {
        if ((req.url ?? '').startsWith('/metrics')) return;
        const s = Number(process.hrtime.bigint() - start) / 1e9;
        counts.set(code, (counts.get(code) ?? 0) + 1);
        durationSum += s;
        buckets.forEach((b, i) => {
          if (s <= b) bucketCounts[i] = (bucketCounts[i] ?? 0) + 1;
        });
      },
      () => res.destroy(),
    );
  };
  const ports = [o.port, ...(o.metricsPort && o.metricsPort !== o.port ? [o.metricsPort] : [])];
  const servers = await Promise.all(
    ports.map(
      (port) =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer({ keepAliveTimeout: 5000 }, handler);
          srv.on('error', reject);
          srv.listen(port, o.listen, () => resolve(srv));
        }),
    ),
  );
  return {
    async close() {
      await Promise.all(servers.map((s) => new Promise((r) => (s.closeAllConnections(), s.close(() => r(undefined))))));
    },
  };
}

if (import.meta.main) {
  const opts = parsePodinfoArgs(process.argv.slice(2));
  for (const port of [opts.port, opts.metricsPort])
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      // podinfo's flag parsing fails the same way: the process exits, its pod never gets Ready.
      console.error(`invalid port ${port}`);
      process.exit(2);
    }
  const app = await startPodinfo(opts);
  console.log(`podinfo ${opts.version} listening on ${opts.listen}:${opts.port}`);
  const stop = () => void app.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
