// Worker Versioning against a real Temporal dev server: a worker configured with --worker-deployment-name and
// --worker-build-id (through the controller's own config path) polls as that deployment version, a rollout runs on
// it once `temporal worker deployment set-current-version` made it current, and a rollout waiting at a gate while
// a new build becomes current finishes on the new build (auto-upgrade, the default) — the rolling upgrade of
// docs/upgrading.md. A pinned rollout (--worker-versioning-behavior pinned) stays on the build that started it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { binary } from '../../dev/proc.ts';
import { componentSettings, parseWorkerConfig } from '../../worker/config.ts';
import type { RolloutResult } from '../../workflows/rollout.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import {
  canaryRaw,
  hook,
  routeTrail,
  seedInitialized,
  setupEnv,
  startRollout,
  waitUntil,
  type TestEnv,
} from '../workflow/env.ts';

const run = promisify(execFile);
const DEPLOYMENT = 'fledge-it';

let env: TestEnv;
const stops: (() => Promise<void>)[] = [];
before(async () => {
  env = await setupEnv('versioning', { worker: false });
});
after(async () => {
  for (const stop of stops.reverse()) await stop();
  await env?.stop();
});

/** `temporal <args>` against the test's dev server; resolves with stdout, rejects with stderr in the message. */
async function temporal(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(binary('temporal'), [
      ...args,
      '--address',
      env.temporal.address,
      '--namespace',
      env.temporal.namespace,
    ]);
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`temporal ${args.join(' ')}: ${e.stderr || e.message}`, { cause: err });
  }
}

/** A worker built from controller flags, as worker/main.ts builds it; returns its stop. */
async function startVersionedWorker(buildId: string, behavior: string): Promise<() => Promise<void>> {
  const config = parseWorkerConfig(
    [
      '--task-queue',
      env.taskQueue,
      '--worker-deployment-name',
      DEPLOYMENT,
      '--worker-build-id',
      buildId,
      '--worker-versioning-behavior',
      behavior,
    ],
    { HOME: '/nonexistent-home' },
  );
  const { deployment, taskQueue } = componentSettings(config).worker;
  assert.ok(deployment, 'a deployment name turns Worker Versioning on');
  const native = await NativeConnection.connect({ address: env.temporal.address });
  const worker = await Worker.create({
    connection: native,
    namespace: env.temporal.namespace,
    taskQueue,
    workflowBundle: { codePath: env.bundlePath },
    activities: createScriptedActivities(env.world.url),
    workerDeploymentOptions: deployment,
  });
  const running = worker.run();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    worker.shutdown();
    await running;
    await native.close();
  };
  stops.push(stop);
  return stop;
}

/** Waits until the server lists the version with a poller on our task queue (the worker polls as that version). */
async function waitForPollingVersion(buildId: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const out = await temporal(
        'worker',
        'deployment',
        'describe-version',
        '--deployment-name',
        DEPLOYMENT,
        '--build-id',
        buildId,
        '--output',
        'json',
      );
      if (out.includes(env.taskQueue)) return JSON.parse(out) as Record<string, unknown>;
      last = out;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`version ${DEPLOYMENT}.${buildId} never polled ${env.taskQueue}: ${last}`);
}

/**
 * Makes a build current. The server refuses while the new build has not yet polled every task queue type the
 * current one serves (workflow and activity polls register separately): that refusal is retried for up to 30 s.
 */
async function setCurrent(buildId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await temporal(
        'worker',
        'deployment',
        'set-current-version',
        '--deployment-name',
        DEPLOYMENT,
        '--build-id',
        buildId,
        '--yes',
      );
      return;
    } catch (err) {
      if (!String(err).includes('missing active task queues') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The deployment version and behavior the server recorded for the workflow's last task. */
async function versioning(handle: WorkflowHandle): Promise<{ buildId?: string; behavior?: string }> {
  const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
  const behaviors: Record<number, string> = { 1: 'PINNED', 2: 'AUTO_UPGRADE' };
  return {
    buildId: info?.deploymentVersion?.buildId ?? undefined,
    behavior: info?.behavior ? behaviors[info.behavior] : undefined,
  };
}

describe('Worker Versioning', () => {
  it('a versioned worker polls as its deployment version; a rollout runs on it once it is current', async () => {
    await startVersionedWorker('build-a', 'auto-upgrade');
    const described = await waitForPollingVersion('build-a');
    assert.match(JSON.stringify(described), /build-a/);
    await setCurrent('build-a');
    const name = 'on-build-a';
    const world = seedInitialized(env, { raw: canaryRaw(name, { interval: '500ms', stepWeight: 50 }) });
    const handle = await startRollout(env, name);
    const result = (await handle.result()) as RolloutResult;
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(routeTrail(world.log.routes), ['50/50', '0/100', '100/0']);
    assert.deepEqual(await versioning(handle), { buildId: 'build-a', behavior: 'AUTO_UPGRADE' });
  });

  it('rolling upgrade: a rollout waiting at a gate moves to the new current build (auto-upgrade) and finishes there', async () => {
    const name = 'upgraded-mid-rollout';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50, webhooks: [hook('ship', 'confirm-promotion')] }),
      hooks: { ship: [false] },
    });
    const handle = await startRollout(env, name);
    await waitUntil('WaitingPromotion', () => world.status.phase === 'WaitingPromotion', 60_000);
    assert.equal((await versioning(handle)).buildId, 'build-a');
    // The upgrade: the new build starts polling, becomes current, the old one drains away.
    const stopB = await startVersionedWorker('build-b', 'auto-upgrade');
    await waitForPollingVersion('build-b');
    await setCurrent('build-b');
    const calls = world.hookCalls.ship ?? 0;
    await waitUntil('a gate check on the new build', () => (world.hookCalls.ship ?? 0) > calls + 1, 30_000);
    assert.equal((await versioning(handle)).buildId, 'build-b');
    world.hooks.ship = [true];
    const result = (await handle.result()) as RolloutResult;
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(await versioning(handle), { buildId: 'build-b', behavior: 'AUTO_UPGRADE' });
    assert.equal(world.primary.revision, 'rev-2');
    await stopB();
  });

  it('pinned: a rollout stays on the build that started it after a new build becomes current', async () => {
    await startVersionedWorker('build-c', 'pinned');
    await waitForPollingVersion('build-c');
    await setCurrent('build-c');
    const name = 'pinned-rollout';
    const world = seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 50, webhooks: [hook('ship', 'confirm-promotion')] }),
      hooks: { ship: [false] },
    });
    const handle = await startRollout(env, name);
    await waitUntil('WaitingPromotion', () => world.status.phase === 'WaitingPromotion', 60_000);
    await startVersionedWorker('build-d', 'auto-upgrade');
    await waitForPollingVersion('build-d');
    await setCurrent('build-d');
    const calls = world.hookCalls.ship ?? 0;
    await waitUntil('more gate checks after the switch', () => (world.hookCalls.ship ?? 0) > calls + 1, 30_000);
    assert.deepEqual(await versioning(handle), { buildId: 'build-c', behavior: 'PINNED' });
    world.hooks.ship = [true];
    assert.equal(((await handle.result()) as RolloutResult).phase, 'Succeeded');
    assert.deepEqual(await versioning(handle), { buildId: 'build-c', behavior: 'PINNED' });
  });
});
