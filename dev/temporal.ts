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
  const port = opts.port ?? (await freePort());
  const namespace = opts.namespace ?? 'fledge-test';
  const attributes = opts.searchAttributes ?? (await fledgeSearchAttributes());
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--http-port',
    String(await freePort()),
    '--metrics-port',
    String(await freePort()),
    '--db-filename',
    opts.dbFile ?? join(dir, 'temporal.sqlite'),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...attributes.flatMap((a) => ['--search-attribute', `${a.name}=${a.type}`]),
  ];
  let uiUrl: string | undefined;
  if (opts.ui) {
    const uiPort = opts.uiPort ?? (await freePort());
    args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
    uiUrl = `http://127.0.0.1:${uiPort}`;
  } else {
    args.push('--headless');
  }
  const address = `127.0.0.1:${port}`;
  // Every start (the first and each restart) uses the same arguments: ports, SQLite file, namespace.
  const launch = async () => {
    const server = spawnServer({
      name: 'temporal dev server',
      bin: binary('temporal'),
      args,
      logFile: join(dir, 'temporal.log'),
    });
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
  let server: Server;
  try {
    server = await launch();
  } catch (err) {
    if (!process.env.FLEDGE_KEEP_TEMP) removeTempDir(dir);
    throw err;
  }
  return {
    address,
    namespace,
    uiUrl,
    get pid() {
      return server.pid;
    },
    async restart({ signal = 'SIGTERM', downtimeMs = 0 } = {}) {
      await server.stop(signal);
      if (downtimeMs > 0) await new Promise((r) => setTimeout(r, downtimeMs));
      server = await launch();
    },
    async stop() {
      await server.stop();
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
