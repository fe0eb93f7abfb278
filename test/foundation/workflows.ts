// Trivial workflows for the foundation tests: a durable timer, a signal, an activity after a timer.
import { condition, defineSignal, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type { createActivities } from './activities.ts';

export const goSignal = defineSignal<[string]>('go');

/** Waits for the `go` signal or, failing that, a durable timer; reports which came first. */
export async function timerOrSignal(timeoutMs: number): Promise<string> {
  let said: string | undefined;
  setHandler(goSignal, (word) => void (said = word));
  const signalled = await condition(() => said !== undefined, timeoutMs);
  return signalled ? `signal:${said}` : 'timer';
}

const { stamp } = proxyActivities<ReturnType<typeof createActivities>>({ startToCloseTimeout: '10s' });

/** Sleeps, then runs an activity: the worker can be replaced while the timer runs. */
export async function sleepThenStamp(ms: number, label: string): Promise<string> {
  const before = await stamp(`${label}:before`);
  await sleep(ms);
  const after = await stamp(`${label}:after`);
  return `${before}|${after}`;
}
