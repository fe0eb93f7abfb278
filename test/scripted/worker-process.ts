// The scripted worker (test/scripted/worker-main.ts) as a process of its own, for tests that kill it with SIGKILL
// mid-rollout and start another (test/workflow/crash.test.ts, test/integration/delivery-policy.test.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../dev/proc.ts';
import type { TestEnv } from '../workflow/env.ts';

/**
 * Starts a worker process on `env`'s Temporal server, task queue, scripted world and workflow bundle (with
 * `kubeconfig`, its delivery activity reads that apiserver); resolves once it prints "worker ready". The process
 * is in `children` while it runs, so the file's `after` can SIGKILL what is left. Rejects if it exits first.
 */
export async function startWorkerProcess(
  env: TestEnv,
  children: Set<ChildProcess>,
  kubeconfig?: string,
): Promise<ChildProcess> {
  const args = [env.temporal.address, env.temporal.namespace, env.taskQueue, env.world.url, env.bundlePath];
  const child = spawn(
    process.execPath,
    [join(REPO_ROOT, 'test/scripted/worker-main.ts'), ...args, ...(kubeconfig ? [kubeconfig] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('worker ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
  });
  return child;
}

/** SIGKILL, resolved once the process has exited. */
export async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
