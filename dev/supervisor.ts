// Restarts a process that exits on its own, as a Deployment's pods are restarted by the kubelet: with a doubling
// backoff, and giving up on a crash loop. Used by the stack (dev/stack.ts) for the controller processes, so the
// sandbox behaves like a cluster when someone `kill -9`s the controller mid-rollout.
//
// The kubelet's rule (CrashLoopBackOff) is 10 s doubling to 5 min, reset after 10 min of running, and it never
// gives up. On loopback a restart must be quick enough to watch, and a start-up that can never succeed (bad flags,
// no Temporal) must end instead of looping forever, so:
//   - the first restart after a run waits `initialBackoffMs` (default 1 s), each further one in a row twice as long,
//     up to `maxBackoffMs` (default 30 s);
//   - a run that became ready (the `ready` check passed) or lasted `resetAfterMs` (default 30 s) ends the row;
//   - after `maxRestarts` restarts in a row (default 10) without either, the supervisor gives up.
import { describeExit, type ExitStatus, type Server } from './proc.ts';

export interface SupervisionOptions {
  /** Delay before the first restart in a row, ms (default 1000). */
  initialBackoffMs?: number;
  /** Upper bound of the doubling delay, ms (default 30000). */
  maxBackoffMs?: number;
  /** Restarts in a row (runs that neither became ready nor lasted resetAfterMs) before giving up (default 10). */
  maxRestarts?: number;
  /** A run at least this long ends the row even if it never became ready, ms (default 30000). */
  resetAfterMs?: number;
  /** Where each restart and the giving-up are reported (default: stderr, one line each). */
  log?: (line: string) => void;
}

/** One restart: which process ended, why, after how long, and how long the supervisor waited. */
export interface RestartRecord {
  /** Unix ms of the exit. */
  at: number;
  /** The process that ended. */
  pid: number;
  cause: ExitStatus;
  /** How long that process ran, ms. */
  uptimeMs: number;
  /** Delay before the new process was spawned, ms. */
  delayMs: number;
  /** Restarts in a row including this one (1 after a run that became ready). */
  inARow: number;
  /** The process started in its place (set once spawned). */
  newPid?: number;
}

export interface Supervised {
  readonly name: string;
  /** The process running now (or the last one, after an exit). */
  readonly current: Server;
  readonly restarts: readonly RestartRecord[];
  /**
   * Resolves with the last exit once the process is down for good: the supervisor gave up (crash loop). Never
   * resolves while it keeps restarting, nor after stop().
   */
  readonly down: Promise<ExitStatus>;
  /** Stops supervising, then stops the current process (SIGTERM, SIGKILL after 10 s: Server.stop). */
  stop(): Promise<void>;
}

/**
 * Runs `start()` and starts it again whenever the process it returned exits, until stop() or a crash loop.
 *
 * `start` spawns one process (dev/proc.ts spawnServer) and must not throw for a process that merely exits; `ready`
 * (optional) resolves once a process is serving (it is called for every process and may reject or hang when the
 * process dies first; its rejections are ignored). Each restart is logged with the exit cause, e.g.
 * `controller 0 (pid 4242) exited (signal SIGKILL) after 12.3 s; restarting in 1.0 s (restart 1 in a row, at most 10)`.
 */
export function supervise(
  name: string,
  start: () => Server,
  ready: ((server: Server) => Promise<void>) | undefined,
  opts: SupervisionOptions = {},
): Supervised {
  const initial = opts.initialBackoffMs ?? 1000;
  const max = opts.maxBackoffMs ?? 30_000;
  const maxRestarts = opts.maxRestarts ?? 10;
  const resetAfterMs = opts.resetAfterMs ?? 30_000;
  const log = opts.log ?? ((line: string) => console.error(line));
  const restarts: RestartRecord[] = [];
  let stopped = false;
  let inARow = 0;
  let timer: NodeJS.Timeout | undefined;
  let current: Server;
  let giveUp: (s: ExitStatus) => void = () => undefined;
  const down = new Promise<ExitStatus>((resolve) => (giveUp = resolve));

  const run = (): void => {
    const server = start();
    current = server;
    const startedAt = Date.now();
    let becameReady = false;
    if (ready) {
      ready(server).then(
        () => {
          becameReady = true;
        },
        () => undefined,
      );
    }
    void server.exit.then((cause) => {
      if (stopped) return;
      const uptimeMs = Date.now() - startedAt;
      if (becameReady || uptimeMs >= resetAfterMs) inARow = 0;
      inARow++;
      if (inARow > maxRestarts) {
        log(
          `${name} (pid ${server.pid}) exited (${describeExit(cause)}) after ${secs(uptimeMs)}; ${maxRestarts} ` +
            `restarts in a row did not bring it up, not restarting it again (log ${server.logFile})`,
        );
        giveUp(cause);
        return;
      }
      const delayMs = Math.min(max, initial * 2 ** (inARow - 1));
      const record: RestartRecord = { at: Date.now(), pid: server.pid, cause, uptimeMs, delayMs, inARow };
      restarts.push(record);
      log(
        `${name} (pid ${server.pid}) exited (${describeExit(cause)}) after ${secs(uptimeMs)}; restarting in ` +
          `${secs(delayMs)} (restart ${inARow} in a row, at most ${maxRestarts})`,
      );
      timer = setTimeout(() => {
        timer = undefined;
        if (stopped) return;
        try {
          run();
          record.newPid = current.pid;
        } catch (err) {
          log(`${name}: restart failed: ${err instanceof Error ? err.message : String(err)}; not restarting it again`);
          giveUp(cause);
        }
      }, delayMs);
    });
  };
  run();

  return {
    name,
    get current() {
      return current;
    },
    restarts,
    down,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current.stop();
    },
  };
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
