// The sandbox supervises its controller as a Deployment would: `kill -9` of the controller mid-rollout (at canary
// weight 20) brings up a new controller process within 5 s, and the rollout carries on to Succeeded with every
// step's Event exactly once. Started through the sandbox's own startSandbox() (its stack options, Canary and
// analysis), on free ports so a sandbox someone runs on 7233/8233 is left alone.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, waitForCanary } from '../../dev/stack.ts';
import { NAMESPACE, startSandbox, type Sandbox } from '../../scripts/sandbox.ts';
import { ALL_PRIMARY, NEW_IMAGE, canaryEvents, primaryImage, routeWeights } from './helpers.ts';

let sandbox: Sandbox;
const supervisorLog: string[] = [];
before(async () => {
  // No ports given: free ones are picked (and picked anew if one is taken before the server binds it).
  sandbox = await startSandbox({ supervise: { log: (line) => supervisorLog.push(line) } });
});
after(async () => {
  await sandbox?.stop();
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it('kill -9 of the controller at weight 20: a new controller within 5 s, the rollout succeeds, each step once', async (t) => {
  const { stack } = sandbox;
  const ns = NAMESPACE;
  const controller = stack.controllers[0]!;
  await stack.kubectl(['set', 'image', '-n', ns, 'deploy/podinfo', `podinfod=${NEW_IMAGE}`]);
  await waitForCanary(stack, ns, 'canary weight 20', (c) => c.status?.canaryWeight === 20, { timeoutMs: 180_000 });

  const killed = controller.server.pid;
  const killedAt = Date.now();
  process.kill(killed, 'SIGKILL');
  while (!(controller.server.pid !== killed && alive(controller.server.pid))) {
    assert.ok(
      Date.now() - killedAt < 5000,
      `no new controller process 5 s after the kill; ${supervisorLog.join('\n')}`,
    );
    await new Promise((r) => setTimeout(r, 50));
  }
  const replacedAfterMs = Date.now() - killedAt;
  t.diagnostic(`new controller process ${controller.server.pid} ${replacedAfterMs} ms after the kill`);
  assert.deepEqual(
    controller.restarts.map((r) => [r.pid, r.cause.signal, r.newPid]),
    [[killed, 'SIGKILL', controller.server.pid]],
  );
  assert.match(supervisorLog.join('\n'), new RegExp(`controller 0 \\(pid ${killed}\\) exited \\(signal SIGKILL\\)`));

  await stack.waitForPhase(ns, 'Succeeded', { timeoutMs: 240_000 });
  assert.equal(await primaryImage(stack, ns), NEW_IMAGE);
  assert.deepEqual(await routeWeights(stack, ns), ALL_PRIMARY);

  // Status and Events are projected one after the other: wait for the last step's Event, then count.
  const events = await eventually(
    'the Promotion completed! Event',
    async () => {
      const list = await canaryEvents(stack, ns);
      return list.some((e) => e.message.startsWith('Promotion completed!')) ? list : undefined;
    },
    30_000,
  );
  const all = events.map((e) => `${e.message} (x${e.count})`).join('\n');
  assert.deepEqual(
    events.filter((e) => e.message.startsWith('Advance ')).map((e) => e.message),
    [10, 20, 30, 40, 50].map((w) => `Advance podinfo.${ns} canary weight ${w}`),
    all,
  );
  for (const once of [
    `New revision detected! Scaling up podinfo.${ns}`,
    `Starting canary analysis for podinfo.${ns}`,
    `Promotion completed! Scaling down podinfo.${ns}`,
  ])
    assert.equal(events.filter((e) => e.message === once).length, 1, `${once}\n${all}`);
  assert.ok(
    events.every((e) => e.count === 1),
    `no event repeated:\n${all}`,
  );
  // The replacement is the process that finished the rollout: still the one running, nothing else restarted.
  assert.equal(controller.restarts.length, 1, supervisorLog.join('\n'));
});
