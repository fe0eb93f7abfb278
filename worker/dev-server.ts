// The local default: with no Temporal address configured, the controller runs `temporal server start-dev`
// itself, keeping workflow history in a SQLite file under the data dir (so rollouts survive a restart) and
// serving the Web UI on 127.0.0.1. A dev server already answering on the port (a previous run, a second local
// replica) is reused instead of started.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/controls.ts';
import { PACKAGE_ROOT } from './entry.ts';

const run = promisify(execFile);

export interface DevServerOptions {
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** Explicit binary; default FLEDGE_TEMPORAL_BIN, `temporal` on PATH, or the one scripts/build-binaries.sh caches. */
  bin?: string;
  readyTimeoutMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  /** False when an already running server was reused (we then leave it running). */
  owned: boolean;
  logFile?: string;
  stop(): Promise<void>;
}

/** Where the temporal CLI is: env override, PATH, or the repo's cached build (built on first use). */
export async function findTemporalBinary(env: Record<string, string | undefined> = process.env): Promise<string> {
  if (env.FLEDGE_TEMPORAL_BIN) return env.FLEDGE_TEMPORAL_BIN;
  const script = join(PACKAGE_ROOT, 'scripts', 'build-binaries.sh');
  if (existsSync(script)) {
    const { stdout } = await run('bash', [script, 'temporal'], { maxBuffer: 1 << 20 });
    const line = stdout.split('\n').find((l) => l.startsWith('FLEDGE_TEMPORAL_BIN='));
    if (line) return line.slice('FLEDGE_TEMPORAL_BIN='.length);
  }
  return 'temporal';
}

async function answers(address: string, namespace: string): Promise<boolean> {
  try {
    const conn = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await conn.workflowService.describeNamespace({ namespace });
      return true;
    } finally {
      await conn.close();
    }
  } catch {
    return false;
  }
}

/**
 * Dynamic config of every dev server fledge starts (the controller's own, the sandbox's, the tests'). Eager activity
 * dispatch: an activity scheduled by a workflow task comes back in that task's completion response when the worker
 * has a free slot, instead of through the task queue's matching (one round trip less per weight step). Temporal
 * servers default it to off (`system.enableActivityEagerExecution`, go.temporal.io/server
 * common/dynamicconfig/constants.go); docs/migration-from-flagger.md asks self-hosted servers to turn it on.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, string | number | boolean>> = {
  'system.enableActivityEagerExecution': true,
};

/** `--dynamic-config-value key=<JSON value>` pairs for `temporal server start-dev`. */
export function dynamicConfigArgs(values: Record<string, string | number | boolean>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${JSON.stringify(v)}`]);
}

export function devServerArgs(opts: DevServerOptions): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--ui-ip',
    '127.0.0.1',
    '--ui-port',
    String(opts.uiPort),
    '--db-filename',
    join(opts.dataDir, 'temporal.sqlite'),
    '--namespace',
    opts.namespace,
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=${a.type}`]),
    ...dynamicConfigArgs(DEV_SERVER_DYNAMIC_CONFIG),
  ];
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const address = `127.0.0.1:${opts.port}`;
  const uiUrl = `http://127.0.0.1:${opts.uiPort}`;
  if (await answers(address, opts.namespace)) {
    opts.log?.('reusing the Temporal dev server already running', { address });
    return { address, uiUrl, owned: false, stop: async () => {} };
  }
  mkdirSync(opts.dataDir, { recursive: true });
  const bin = opts.bin ?? (await findTemporalBinary());
  const logFile = join(opts.dataDir, 'temporal.log');
  const out = openSync(logFile, 'a');
  const child = spawn(bin, devServerArgs(opts), { stdio: ['ignore', out, out] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`cannot run ${bin}: ${err.message}`))),
  );
  await Promise.race([waitUntilAnswers(address, opts, exited, logFile), spawnError]);
  opts.log?.('started the embedded Temporal dev server', { address, ui: uiUrl, logFile });
  return { address, uiUrl, owned: true, logFile, stop: () => stopChild(child, exited) };
}

async function waitUntilAnswers(
  address: string,
  opts: DevServerOptions,
  exited: Promise<number | null>,
  logFile: string,
): Promise<void> {
  let done = false;
  let code: number | null = null;
  void exited.then((c) => {
    done = true;
    code = c;
  });
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (done) throw new Error(`temporal dev server exited with code ${code} (log: ${logFile})`);
    if (await answers(address, opts.namespace)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`temporal dev server did not answer on ${address} in time (log: ${logFile})`);
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
