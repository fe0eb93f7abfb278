// The stack's process supervisor (dev/supervisor.ts) on real, tiny Node processes: a killed process comes back with
// its exit cause logged, a crash loop backs off doubling and ends, a run that became ready ends the row, stop() is
// final.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, spawnServer, type Server } from '../../dev/proc.ts';
import { supervise, type Supervised } from '../../dev/supervisor.ts';

const dir = makeTempDir('supervisor');
after(() => removeTempDir(dir));

let spawned = 0;
/** A process that runs until killed, or one that exits with `code` at once. */
function starter(code?: number): () => Server {
  const script = code === undefined ? 'setInterval(() => {}, 1000)' : `process.exit(${code})`;
  return () =>
    spawnServer({
      name: `p${++spawned}`,
      bin: process.execPath,
      args: ['-e', script],
      logFile: join(dir, 'p.log'),
    });
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it('restarts a SIGKILLed process after the backoff and logs the exit cause', async () => {
  const lines: string[] = [];
  const s = supervise('worker', starter(), undefined, { initialBackoffMs: 50, log: (l) => lines.push(l) });
  try {
    const first = s.current.pid;
    process.kill(first, 'SIGKILL');
    await until('a new process', () => s.current.pid !== first);
    assert.ok(alive(s.current.pid));
    assert.equal(s.restarts.length, 1);
    const r = s.restarts[0]!;
    assert.deepEqual(
      { pid: r.pid, cause: r.cause, delayMs: r.delayMs, inARow: r.inARow, newPid: r.newPid },
      { pid: first, cause: { code: null, signal: 'SIGKILL' }, delayMs: 50, inARow: 1, newPid: s.current.pid },
    );
    assert.match(lines[0]!, new RegExp(`^worker \\(pid ${first}\\) exited \\(signal SIGKILL\\) after .*restarting in`));
  } finally {
    await s.stop();
  }
});

it('backs off doubling on a crash loop and gives up after maxRestarts in a row', async () => {
  const lines: string[] = [];
  const s = supervise('crasher', starter(3), undefined, {
    initialBackoffMs: 20,
    maxRestarts: 3,
    log: (l) => lines.push(l),
  });
  const cause = await s.down;
  assert.deepEqual(cause, { code: 3, signal: null });
  assert.deepEqual(
    s.restarts.map((r) => [r.delayMs, r.inARow, r.cause.code]),
    [
      [20, 1, 3],
      [40, 2, 3],
      [80, 3, 3],
    ],
  );
  assert.equal(lines.length, 4);
  assert.match(lines[3]!, /exited \(code 3\).*3 restarts in a row did not bring it up, not restarting it again/);
  await s.stop();
});

it('a run that became ready ends the row: every kill of a ready process waits the first delay', async () => {
  let readyCalls = 0;
  const s: Supervised = supervise(
    'ready',
    starter(),
    async () => {
      readyCalls++;
    },
    { initialBackoffMs: 30, maxRestarts: 1, log: () => undefined },
  );
  try {
    for (let i = 1; i <= 3; i++) {
      await until(`ready call ${i}`, () => readyCalls === i);
      const pid = s.current.pid;
      process.kill(pid, 'SIGKILL');
      await until(`restart ${i}`, () => s.current.pid !== pid);
    }
    assert.deepEqual(
      s.restarts.map((r) => [r.delayMs, r.inARow]),
      [
        [30, 1],
        [30, 1],
        [30, 1],
      ],
    );
  } finally {
    await s.stop();
  }
});

it('stop() is final: the stopped process is not restarted', async () => {
  const lines: string[] = [];
  const s = supervise('stopped', starter(), undefined, { initialBackoffMs: 1, log: (l) => lines.push(l) });
  const pid = s.current.pid;
  await s.stop();
  assert.equal(alive(pid), false);
  assert.equal(s.current.pid, pid);
  assert.deepEqual([s.restarts.length, lines], [0, []]);
});
