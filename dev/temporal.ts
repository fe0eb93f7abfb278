// A real Temporal dev server (`temporal server start-dev`) on free loopback ports, SQLite in a temp dir; restart()
// stops it and starts it again on the same ports and SQLite file (the chaos suite, test/chaos/).
// The SDK's own launcher gives a server 5 s to start, which a loaded 2-core machine misses; we wait longer.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import {
  REPO_ROOT,
  binary,
  freePort,
  makeTempDir,
  removeTempDir,
  spawnServer,
  waitReady,
  type Server,
} from './proc.ts';
import { DEV_SERVER_DYNAMIC_CONFIG, dynamicConfigArgs } from '../worker/dev-server.ts';

export interface SearchAttribute {
  name: string;
  type: 'Keyword' | 'Text' | 'Int' | 'Datetime' | 'Bool' | 'Double' | 'KeywordList';
}

export interface TemporalOptions {
  /** Serve the Web UI too (the sandbox does; tests need not). */
  ui?: boolean;
  /** Fixed UI port (default: a free one). */
  uiPort?: number;
  /** Fixed frontend port (default: a free one). */
  port?: number;
  namespace?: string;
  /** SQLite file; default: a file in a fresh temp dir (removed on stop). */
  dbFile?: string;
  searchAttributes?: SearchAttribute[];
  /** Dynamic config values (`--dynamic-config-value key=value`), on top of DEV_SERVER_DYNAMIC_CONFIG. */
  dynamicConfig?: Record<string, string | number | boolean>;
}

export interface TemporalServer {
  /** host:port of the frontend gRPC endpoint. */
  readonly address: string;
  readonly namespace: string;
  readonly uiUrl?: string;
  /** Process id of the running server (a new one after restart()). */
  readonly pid: number;
  /**
   * Stops the server (`signal`, default SIGTERM; SIGKILL for a crash) and starts it again on the same ports with
   * the same SQLite file, so every workflow and its history survive; resolves once it answers again. `downtimeMs`
   * (default 0) is waited between the two. Rejects like startTemporal when the new server does not come up.
   */
  restart(opts?: { signal?: NodeJS.Signals; downtimeMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** Our search attributes, declared by the workflow's controls module once it exists. */
export async function fledgeSearchAttributes(): Promise<SearchAttribute[]> {
  const controls = join(REPO_ROOT, 'workflows', 'controls.ts');
  if (!existsSync(controls)) return [];
  const mod = (await import(controls)) as { SEARCH_ATTRIBUTES?: SearchAttribute[] };
  return mod.SEARCH_ATTRIBUTES ?? [];
}

export async function startTemporal(opts: TemporalOptions = {}): Promise<TemporalServer> {
  const dir = makeTempDir('temporal');
  const namespace = opts.namespace ?? 'fledge-test';
  const attributes = opts.searchAttributes ?? (await fledgeSearchAttributes());
  // Ports the caller did not fix are picked here, and picked anew when the first start fails: a port free a
  // moment ago can be taken meanwhile (e.g. as the local port of another process's outgoing connection).
  const pickPorts = async () => ({
    grpc: opts.port ?? (await freePort()),
    http: await freePort(),
    metrics: await freePort(),
    ui: opts.ui ? (opts.uiPort ?? (await freePort())) : undefined,
  });
  const argsFor = (ports: Awaited<ReturnType<typeof pickPorts>>) => [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(ports.grpc),
    '--http-port',
    String(ports.http),
    '--metrics-port',
    String(ports.metrics),
    '--db-filename',
    opts.dbFile ?? join(dir, 'temporal.sqlite'),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...attributes.flatMap((a) => ['--search-attribute', `${a.name}=${a.type}`]),
    ...dynamicConfigArgs({ ...DEV_SERVER_DYNAMIC_CONFIG, ...opts.dynamicConfig }),
    ...(ports.ui !== undefined ? ['--ui-ip', '127.0.0.1', '--ui-port', String(ports.ui)] : ['--headless']),
  ];
  let ports = await pickPorts();
  // Every restart uses the arguments of the first successful start: ports, SQLite file, namespace.
  const launch = async () => {
    const server = spawnServer({
      name: 'temporal dev server',
      bin: binary('temporal'),
      args: argsFor(ports),
      logFile: join(dir, 'temporal.log'),
    });
    const address = `127.0.0.1:${ports.grpc}`;
    await waitReady(
      server,
      async () => {
        const conn = await Connection.connect({ address, connectTimeout: 1000 });
        try {
          await conn.workflowService.describeNamespace({ namespace });
          return true;
        } finally {
          await conn.close();
        }
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    return server;
  };
  let server: Server | undefined;
  const autoPorts = opts.port === undefined || (opts.ui === true && opts.uiPort === undefined);
  for (let attempt = 1; !server; attempt++) {
    try {
      server = await launch();
    } catch (err) {
      if (autoPorts && attempt < 3) {
        ports = await pickPorts();
        continue;
      }
      if (!process.env.FLEDGE_KEEP_TEMP) removeTempDir(dir);
      throw err;
    }
  }
  let running: Server = server;
  const address = `127.0.0.1:${ports.grpc}`;
  const uiUrl = ports.ui !== undefined ? `http://127.0.0.1:${ports.ui}` : undefined;
  return {
    address,
    namespace,
    uiUrl,
    get pid() {
      return running.pid;
    },
    async restart({ signal = 'SIGTERM', downtimeMs = 0 } = {}) {
      await running.stop(signal);
      if (downtimeMs > 0) await new Promise((r) => setTimeout(r, downtimeMs));
      running = await launch();
    },
    async stop() {
      await running.stop();
      if (!process.env.FLEDGE_KEEP_TEMP) removeTempDir(dir);
    },
  };
}

let quiet = false;
/** Workers log every state change at INFO; tests only want warnings. Call before creating a worker. */
export function quietWorkerLogs(): void {
  if (quiet) return;
  quiet = true;
  Runtime.install({ logger: new DefaultLogger((process.env.FLEDGE_SDK_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN') });
}
