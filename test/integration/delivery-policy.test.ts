// Delivery windows and freezes on real servers: DeliveryPolicies in a real kube-apiserver (the generated CRD),
// read by the real delivery activity, in the real rollout workflow on a Temporal dev server; workloads stay
// scripted (test/scripted/world.ts). (1) a freeze holds a new revision in Waiting, through a SIGKILL of the
// worker, and the rollout starts when it ends; (2) a closed window starts the rollout at its opening, ±1 s;
// (3) a promote with a reason overrides a freeze, recorded with who and why in the history and as an event.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { createDeliveryActivities } from '../../activities/delivery/index.ts';
import { withTickAnswers } from '../../activities/tick-answers.ts';
import { DELIVERY_GROUP, DELIVERY_POLICIES, DELIVERY_VERSION } from '../../api/delivery-policy.ts';
import { runFacts, type Io } from '../../cli/commands.ts';
import { runCli } from '../../cli/fledge.ts';
import { startCluster, type Cluster } from '../../dev/cluster.ts';
import { controlUpdates, rolloutWorkflowId } from '../../workflows/controls.ts';
import type { RolloutInput, RolloutResult } from '../../workflows/rollout.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import type { WorldCanary } from '../scripted/world.ts';
import {
  NAMESPACE,
  REV2,
  canaryRaw,
  seedInitialized,
  setupEnv,
  startBundledWorker,
  startRollout,
  waitUntil,
  type TestEnv,
} from '../workflow/env.ts';
import { kill, startWorkerProcess } from '../scripted/worker-process.ts';

let cluster: Cluster;
let custom: k8s.CustomObjectsApi;
let env: TestEnv;
/** Tests 2 and 3 run on an in-process worker of their own task queue: test 1 kills its worker process. */
const OTHER_QUEUE = 'fledge-delivery-inproc';
let stopInProcess = async () => {};
const children = new Set<ChildProcess>();

before(async () => {
  [cluster, env] = await Promise.all([startCluster({ gatewayApi: false }), setupEnv('delivery', { worker: false })]);
  custom = cluster.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  await cluster.kubectl(['create', 'namespace', NAMESPACE]);
  stopInProcess = await startBundledWorker(
    { ...env, taskQueue: OTHER_QUEUE },
    withTickAnswers({
      ...createScriptedActivities(env.world.url),
      ...createDeliveryActivities({ kube: cluster.kubeConfig }),
    }) as never,
  );
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await stopInProcess();
  await env?.stop();
  await cluster?.stop();
});

/** The Canary in the apiserver (the activity reads its labels) and in the scripted world, ready for rev-2. */
async function canary(name: string, labels: Record<string, string> = {}): Promise<WorldCanary> {
  const raw = canaryRaw(name, { interval: '500ms', stepWeight: 50 });
  const { metadata, ...rest } = raw as { metadata: { name: string } };
  await custom.createNamespacedCustomObject({
    group: 'flagger.app',
    version: 'v1beta1',
    namespace: NAMESPACE,
    plural: 'canaries',
    body: { ...rest, metadata: { name: metadata.name, labels } },
  });
  return seedInitialized(env, { raw });
}

async function policy(name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({
    group: DELIVERY_GROUP,
    version: DELIVERY_VERSION,
    namespace: NAMESPACE,
    plural: DELIVERY_POLICIES,
    body: { apiVersion: `${DELIVERY_GROUP}/${DELIVERY_VERSION}`, kind: 'DeliveryPolicy', metadata: { name }, spec },
  });
}

/**
 * When the rollout started, by the workflow's own history: `decided`, the start of the workflow task that started
 * it (the task that scheduled the first scaleCanary: it woke at the opening, checked the policies and scaled the
 * canary up), and `scheduled`, the end of that task (server clock, ms). The two local activities of that task
 * (observe, checkDelivery) take their time on a loaded machine, between the two.
 */
async function rolloutStart(handle: WorkflowHandle): Promise<{ decided: number; scheduled: number }> {
  const events = (await handle.fetchHistory()).events ?? [];
  const ms = (t: (typeof events)[number]['eventTime']) =>
    Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  const i = events.findIndex((ev) => ev.activityTaskScheduledEventAttributes?.activityType?.name === 'scaleCanary');
  assert.ok(i >= 0, 'no scaleCanary in the history');
  const task = events.slice(0, i).findLast((ev) => ev.workflowTaskStartedEventAttributes);
  return { decided: ms(task?.eventTime), scheduled: ms(events[i]!.eventTime) };
}

/** The history from `from` on, one event a line with its offset (diagnostics of a timing assertion). */
async function timeline(handle: WorkflowHandle, from: number): Promise<string> {
  const events = (await handle.fetchHistory()).events ?? [];
  return events
    .map((e) => {
      const t = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
      const kind = Object.keys(e).find((k) => k.endsWith('EventAttributes')) ?? '?';
      return { t, line: `${t - from} ms ${kind.replace('EventAttributes', '')}` };
    })
    .filter((e) => e.t >= from - 2000)
    .map((e) => e.line)
    .join('\n');
}

async function waitUntilAsync(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The fledge CLI in-process, as user carol, against the test servers. */
async function fledge(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTTY: false,
    interrupted: new Promise<void>(() => {}),
    sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
  };
  const vars = {
    HOME: '/nonexistent-home',
    TEMPORAL_ADDRESS: env.temporal.address,
    TEMPORAL_NAMESPACE: env.temporal.namespace,
    FLEDGE_USER: 'carol',
    KUBECONFIG: cluster.kubeconfigPath,
  };
  const code = await runCli(['-n', NAMESPACE, ...args], io, vars);
  return { code, out, err };
}

const hasEvent = (c: WorldCanary, re: RegExp) => () => c.log.events.some((e) => re.test(e.message));
const scaledUp = (c: WorldCanary) => () => c.log.actions.includes('scale-canary up');
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

// Test 1 has a worker process of its own (it kills it); the others share an in-process worker and run at once,
// after it (a worker process starting beside them would delay the timer of the window test on two cores).
describe('delivery windows and freezes', () => {
  it('a freeze holds a new revision in Waiting through a worker SIGKILL; the rollout starts when it ends', async () => {
    const name = 'frozen';
    const world = await canary(name, { app: name });
    let worker = await startWorkerProcess(env, children, cluster.kubeconfigPath);
    const until = new Date(Date.now() + 15_000);
    await policy('freeze-frozen', {
      selector: { matchLabels: { app: name } },
      freezes: [{ name: 'release', until: until.toISOString(), reason: 'release week', policy: 'hold', by: 'ops' }],
    });
    const handle = await startRollout(env, name);
    await waitUntil('the freeze event', hasEvent(world, /^Halt frozen\.test advancement: delivery freeze: /), 60_000);
    await waitUntil('phase Waiting', () => world.status.phase === 'Waiting');
    const message = world.status.projection?.message ?? '';
    assert.match(message, /^delivery freeze: test\/freeze-frozen freeze release \(release week, by ops\)/);
    assert.ok(message.includes(`the rollout starts at ${until.toISOString()}`), message);
    assert.ok(!world.log.actions.includes('scale-canary up'));
    // The controller dies during the freeze and a new one comes up: the hold is a timer on the Temporal server.
    // Killed once the hold's workflow task is in the history (its first timer), so the new worker replays the hold
    // rather than running that first tick again.
    await waitUntilAsync('the hold in the history', async () =>
      Boolean((await handle.fetchHistory()).events?.some((e) => e.timerStartedEventAttributes)),
    );
    await kill(worker);
    worker = await startWorkerProcess(env, children, cluster.kubeconfigPath);
    const ready = Date.now();
    await waitUntil('the rollout to start', scaledUp(world), 60_000);
    const { decided } = await rolloutStart(handle);
    assert.ok(decided >= until.getTime(), `started ${decided - until.getTime()} ms before the freeze ended`);
    // At the end of the freeze, or once the new worker is up if that is later (it replays the history first).
    const due = Math.max(until.getTime(), ready);
    assert.ok(decided - due < 30_000, `started ${decided - due} ms after it was due`);
    await waitUntil(
      'the release event',
      hasEvent(world, /^Delivery freeze no longer holds frozen\.test: starting the rollout/),
    );
    const result = (await handle.result()) as RolloutResult;
    assert.equal(result.phase, 'Succeeded');
    // Held by one durable timer, not an interval loop: few timers while the freeze was in force (500 ms interval).
    const timers = (await handle.fetchHistory()).events?.filter((e) => e.timerStartedEventAttributes).length ?? 0;
    assert.ok(timers < 8, `${timers} timers`);
    await kill(worker);
  });

  describe('on an in-process worker', { concurrency: true }, () => {
    async function start(name: string) {
      const canaryRef = { namespace: NAMESPACE, name };
      const input: RolloutInput = { canary: canaryRef, revision: REV2, cause: 'new-revision' };
      return env.client.workflow.start('rollout', {
        taskQueue: OTHER_QUEUE,
        workflowId: rolloutWorkflowId(canaryRef),
        args: [input],
      });
    }

    it('a window closed now starts the rollout at its opening, within a second', async () => {
      const name = 'windowed';
      const world = await canary(name, { app: name });
      // Windows are whole minutes: the first minute boundary at least 20 s away (20 to 80 s from now).
      const opening = Math.ceil((Date.now() + 20_000) / 60_000) * 60_000;
      await policy('window-windowed', {
        selector: { matchLabels: { app: name } },
        windows: [{ name: 'soon', start: hhmm(opening), end: hhmm(opening + 10 * 60_000), timeZone: 'UTC' }],
      });
      const handle = await start(name);
      await waitUntil(
        'the window event',
        hasEvent(world, /^Waiting for a delivery window for windowed\.test: /),
        30_000,
      );
      await waitUntil('phase Waiting', () => world.status.phase === 'Waiting');
      const message = world.status.projection?.message ?? '';
      assert.match(message, /^delivery window: test\/window-windowed has no open window \(soon \(/);
      assert.ok(message.includes(`the rollout starts at ${new Date(opening).toISOString()}`), message);
      await waitUntil('the rollout to start', scaledUp(world), 120_000);
      const { decided, scheduled } = await rolloutStart(handle);
      const story = `:\n${await timeline(handle, opening)}`;
      assert.ok(
        decided >= opening && decided - opening <= 1000,
        `started ${decided - opening} ms from the opening${story}`,
      );
      assert.ok(scheduled - opening <= 5000, `canary scaled up ${scheduled - opening} ms after the opening${story}`);
      assert.equal(((await handle.result()) as RolloutResult).phase, 'Succeeded');
    });

    it('a promote with a reason overrides a freeze: who and why in the history and in an event', async () => {
      const name = 'override';
      const world = await canary(name, { app: name });
      await policy('freeze-override', {
        selector: { matchLabels: { app: name } },
        freezes: [{ until: new Date(Date.now() + 600_000).toISOString(), reason: 'quarter end', policy: 'hold' }],
      });
      const handle = await start(name);
      await waitUntil('phase Waiting', () => world.status.phase === 'Waiting', 60_000);
      await assert.rejects(
        handle.executeUpdate(controlUpdates.promote, { args: [{ by: 'mallory' }] }),
        (err: unknown) => err instanceof WorkflowUpdateFailedError && /needs a reason/.test(String(err.cause?.message)),
      );
      const result = await handle.executeUpdate(controlUpdates.promote, {
        args: [{ by: 'alice', reason: 'hotfix for CVE-2026-1' }],
      });
      assert.match(result.message, /promote requested by alice \(hotfix for CVE-2026-1\)/);
      assert.equal(((await handle.result()) as RolloutResult).phase, 'Succeeded');
      assert.ok(
        hasEvent(
          world,
          /^Delivery freeze overridden for override\.test by alice: hotfix for CVE-2026-1 \(delivery freeze: /,
        )(),
        JSON.stringify(world.log.events),
      );
      const facts = await runFacts(handle);
      assert.deepEqual(
        facts.controls.map((c) => [c.name, c.by, c.reason]),
        [['promote', 'alice', 'hotfix for CVE-2026-1']],
      );
      assert.ok(!world.log.actions.includes('scale-canary up'), 'promoted without analysis');
    });

    it('fledge freeze holds a new rollout; fledge unfreeze ends the freeze and the rollout starts at once', async () => {
      const name = 'cli-frozen';
      const world = await canary(name, { app: name });
      const frozen = await fledge(
        ...['freeze', '--selector', `app=${name}`, '--until', '10m', '--reason', 'cli test', '--name', 'cli-freeze'],
      );
      assert.equal(frozen.code, 0, frozen.err);
      assert.match(
        frozen.out,
        /^frozen test \(app=cli-frozen\) until \S+ by carol: cli test \[DeliveryPolicy test\/cli-freeze/,
      );
      const handle = await start(name);
      await waitUntil(
        'the freeze event',
        hasEvent(world, /^Halt cli-frozen\.test advancement: delivery freeze: /),
        60_000,
      );
      assert.match(world.status.projection?.message ?? '', /freeze cli-\S+ \(cli test, by carol\)/);
      const ended = Date.now();
      const r = await fledge('unfreeze', '--name', 'cli-freeze');
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^ended cli-\S+ in DeliveryPolicy test\/cli-freeze; 1 rollout\(s\) told/);
      // The signal wakes the held rollout: it starts now, not when its 10-minute timer would have ended.
      await waitUntil('the rollout to start', scaledUp(world), 60_000);
      assert.ok((await rolloutStart(handle)).decided - ended < 30_000);
      assert.equal(((await handle.result()) as RolloutResult).phase, 'Succeeded');
      const again = await fledge('unfreeze', '--name', 'cli-freeze');
      assert.match(again.out, /no freeze in force/);
      const bad = await fledge('freeze', '--until', 'tomorrow', '--reason', 'x');
      assert.equal(bad.code, 2);
      assert.match(bad.err, /--until "tomorrow": use a time \(RFC 3339\) or a duration/);
    });
  });
});
