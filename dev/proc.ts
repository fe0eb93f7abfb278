// Process plumbing for the real servers the tests run: spawn with a log file, wait until ready,
// kill by process group on teardown, and never leave anything behind when the test process exits.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Every harness temp dir starts with this, so a leak check can find stray processes by their args. */
export const TEMP_PREFIX = 'fledge-harness-';

export function makeTempDir(label: string): string {
  // scripts/test.sh sets FLEDGE_RUN_ID and looks for survivors of its own run by this name.
  const run = process.env.FLEDGE_RUN_ID ? `${process.env.FLEDGE_RUN_ID}-` : '';
  return mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${run}${label}-`));
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function tailFile(path: string, lines = 25): string {
  if (!existsSync(path)) return '(no log)';
  const text = readFileSync(path, 'utf8').trimEnd().split('\n');
  return text.slice(-lines).join('\n');
}

export interface Server {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited (for any reason): its exit code, null when a signal ended it. */
  readonly exited: Promise<number | null>;
  /** The same moment with the cause: exit code, or the signal that ended it (`SIGKILL`, …); -1 if spawning failed. */
  readonly exit: Promise<ExitStatus>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<Server>();

// Synchronous last resort: the test runner may exit without awaiting teardown (e.g. a failed before()).
process.on('exit', () => {
  for (const s of running) killGroup(s.pid, 'SIGKILL');
});

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `code 1`, `signal SIGKILL`: an exit cause for logs. */
export function describeExit(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `code ${status.code}`;
}

export interface SpawnOptions {
  name: string;
  bin: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Starts a server in its own process group, stdout+stderr to logFile. */
export function spawnServer(opts: SpawnOptions): Server {
  const fd = openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.bin, opts.args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${opts.name}: failed to start ${opts.bin}`);
  const pid = child.pid;
  const exit = new Promise<ExitStatus>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', () => resolve({ code: -1, signal: null }));
  });
  const exited = exit.then((s) => s.code);
  const server: Server = {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    exit,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      running.delete(server);
      killGroup(pid, signal);
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
      if ((await Promise.race([exited, timeout])) === 'timeout') {
        killGroup(pid, 'SIGKILL');
        await exited;
      }
      // Children that escaped the group wait (e.g. re-parented helpers) are killed too.
      killGroup(pid, 'SIGKILL');
    },
  };
  running.add(server);
  return server;
}

export class StartupError extends Error {}

/**
 * Polls `ready` until it returns true. Fails fast if the server exits, and on timeout; both errors
 * name the binary and show the tail of its log, which is what one needs to see first.
 */
export async function waitReady(
  server: Server,
  ready: () => Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 200 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void server.exited.then((c) => (exitCode = c === null ? -1 : c));
  let lastError = '';
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new StartupError(
        `${server.name} exited with code ${exitCode} during start-up; log ${server.logFile}:\n${tailFile(server.logFile)}`,
      );
    }
    try {
      if (await ready()) return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  await server.stop('SIGKILL');
  throw new StartupError(
    `${server.name} not ready after ${timeoutMs} ms (last error: ${lastError || 'none'}); log ${server.logFile}:\n${tailFile(server.logFile)}`,
  );
}

/** Path of one local binary, built (or found) by scripts/build-binaries.sh; cached per process. */
const binCache = new Map<string, string>();
export function binary(name: string): string {
  const cached = binCache.get(name);
  if (cached) return cached;
  const out = execFileSync('bash', [join(REPO_ROOT, 'scripts', 'build-binaries.sh'), name], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const path = /^FLEDGE_[A-Z_]+_BIN=(.+)$/m.exec(out)?.[1];
  if (!path) throw new Error(`scripts/build-binaries.sh did not provide ${name}`);
  binCache.set(name, path);
  return path;
}
