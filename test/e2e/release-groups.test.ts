// Release groups end to end (docs/release-groups.md) on the whole product (dev/stack.ts): real apiserver +
// controller-manager + kwok, real Temporal dev server, real Prometheus scraping the steerable exporter, the real
// controller process (watcher, group watcher, worker) and the `fledge` and `temporal` CLIs. A group of three
// services alpha ← beta ← gamma (beta depends on alpha, gamma on beta) gets one `kubectl set image` of all three.
// Each test has its own namespace; they run concurrently. Every wait is on a condition, never a fixed sleep.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { eventually, podinfoCanary, startStack, type Stack } from '../../dev/stack.ts';
import { NEW_IMAGE, OLD_IMAGE } from './helpers.ts';

let stack: Stack;
before(async () => {
  stack = await startStack({ controllers: 1 });
});
after(async () => {
  await stack?.stop();
});

const MEMBERS = ['alpha', 'beta', 'gamma'] as const;
const GROUP = 'shop';

interface GroupObject {
  status?: {
    phase?: string;
    run?: number;
    message?: string;
    members?: { name: string; phase: string; revision?: string; previousRevision?: string; order: number }[];
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

function deploymentManifest(ns: string, name: string): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: OLD_IMAGE, ports: [{ name: 'http', containerPort: 9898 }] }] },
      },
    },
  };
}

function groupManifest(ns: string, members: { name: string; dependsOn?: string[] }[], name = GROUP): object {
  return {
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'ReleaseGroup',
    metadata: { name, namespace: ns },
    // Under load the three rollouts reach their gates seconds apart: the window must cover that spread.
    spec: { settleWindow: '10s', members },
  };
}

const CHAIN = [{ name: 'alpha' }, { name: 'beta', dependsOn: ['alpha'] }, { name: 'gamma', dependsOn: ['beta'] }];

/** alpha, beta, gamma: Deployments and Canaries (no HPA), Initialized, with the exporter's traffic converged. */
async function applyServices(ns: string): Promise<void> {
  for (const name of MEMBERS) stack.metrics.set(ns, name, {});
  const objects = MEMBERS.flatMap((name) => [
    deploymentManifest(ns, name),
    // One step to 50 %: each rollout is a few ticks (a failing run holds five rollouts one after the other).
    podinfoCanary(ns, { name, analysis: { stepWeight: 50, maxWeight: 50 }, spec: { autoscalerRef: undefined } }),
  ]);
  await stack.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  await Promise.all(MEMBERS.map((name) => stack.waitForPhase(ns, 'Initialized', { name })));
  await Promise.all(MEMBERS.map((name) => stack.metrics.converged(ns, name)));
}

async function group(ns: string, name = GROUP): Promise<GroupObject> {
  return (await stack.kubeConfig.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: 'fledge.dev',
    version: 'v1alpha1',
    plural: 'releasegroups',
    namespace: ns,
    name,
  })) as GroupObject;
}

async function waitGroup(ns: string, what: string, check: (g: GroupObject) => boolean, name = GROUP) {
  let last: GroupObject | undefined;
  try {
    return await eventually(
      `release group ${ns}/${name}: ${what}`,
      async () => ((last = await group(ns, name)), check(last) ? last : undefined),
      600_000,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; status: ${JSON.stringify(last?.status)}\n${stack.controllerLogs(60)}`, {
      cause: err,
    });
  }
}

async function image(ns: string, name: string): Promise<string | undefined> {
  const d = await stack.kubeConfig.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name, namespace: ns });
  return d.spec?.template.spec?.containers[0]?.image;
}

/** Every Event in the namespace, in the order the apiserver stored them (resourceVersion is etcd's revision). */
async function eventsInOrder(ns: string): Promise<{ object: string; reason: string; type: string; message: string }[]> {
  const list = await stack.kubeConfig.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: ns });
  return list.items
    .sort((a, b) => Number(a.metadata?.resourceVersion) - Number(b.metadata?.resourceVersion))
    .map((e) => ({
      object: `${e.involvedObject.kind}/${e.involvedObject.name}`,
      reason: e.reason ?? '',
      type: e.type ?? '',
      message: e.message ?? '',
    }));
}

/**
 * Records every phase the apiserver stores for the namespace's Canaries, in etcd order (a watch delivers the
 * changes of one resource type in resourceVersion order): `alpha:Succeeded` before `beta:Progressing` proves beta
 * started after alpha had succeeded, whatever the timing.
 */
async function recordPhases(ns: string): Promise<{ phases: string[]; stop(): void }> {
  const phases: string[] = [];
  const last = new Map<string, string>();
  const req = await new k8s.Watch(stack.kubeConfig).watch(
    `/apis/flagger.app/v1beta1/namespaces/${ns}/canaries`,
    {},
    (_type, obj: { metadata: { name: string }; status?: { phase?: string } }) => {
      const phase = obj.status?.phase ?? '';
      if (last.get(obj.metadata.name) === phase) return;
      last.set(obj.metadata.name, phase);
      phases.push(`${obj.metadata.name}:${phase}`);
    },
    () => undefined,
  );
  return { phases, stop: () => req.abort() };
}

const setImages = (ns: string) =>
  stack.kubectl(['set', 'image', '-n', ns, ...MEMBERS.map((m) => `deploy/${m}`), `app=${NEW_IMAGE}`]);

describe('release groups end to end', { concurrency: true }, () => {
  it('all members pass: promoted in dependency order alpha, beta, gamma; none starts before its dependency succeeded', async () => {
    const ns = await stack.createNamespace('rg-pass');
    await applyServices(ns);
    await stack.kubectl(['apply', '-f', '-'], JSON.stringify(groupManifest(ns, CHAIN)));
    await waitGroup(ns, 'Ready', (g) => g.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
    const watch = await recordPhases(ns);
    await setImages(ns);
    const done = await waitGroup(
      ns,
      'run 1 ended',
      (g) => g.status?.run === 1 && ['Succeeded', 'Failed'].includes(g.status.phase ?? ''),
    );
    watch.stop();
    assert.equal(done.status?.phase, 'Succeeded', JSON.stringify(done.status));
    assert.deepEqual(
      done.status?.members?.map((m) => `${m.order}:${m.name}:${m.phase}`),
      ['0:alpha:Succeeded', '1:beta:Succeeded', '2:gamma:Succeeded'],
    );
    for (const m of MEMBERS)
      assert.equal(await image(ns, `${m}-primary`), NEW_IMAGE, `${m}-primary runs the new image`);

    // Order of promotions, from the Canaries' Events as the apiserver stored them.
    const events = await eventsInOrder(ns);
    const promotions = events.filter((e) => e.message.startsWith('Promotion completed!')).map((e) => e.object);
    assert.deepEqual(promotions, ['Canary/alpha', 'Canary/beta', 'Canary/gamma'], JSON.stringify(events, null, 1));
    // Held at the gate, then started only after the dependency succeeded (etcd order of the status writes).
    const p = watch.phases;
    const at = (x: string) => p.indexOf(x);
    for (const [dep, m] of [
      ['alpha', 'beta'],
      ['beta', 'gamma'],
    ] as const) {
      assert.ok(at(`${m}:Waiting`) >= 0, `${m} was held at its gate: ${p.join(' ')}`);
      assert.ok(at(`${m}:Progressing`) > at(`${dep}:Succeeded`), `${m} started after ${dep} succeeded: ${p.join(' ')}`);
      assert.ok(
        at(`${dep}:Succeeded`) > at(`${m}:Waiting`),
        `${m} was waiting while ${dep} rolled out: ${p.join(' ')}`,
      );
    }
    assert.ok(
      events.some(
        (e) => e.object === 'Canary/beta' && e.message === `Waiting for release group ${GROUP} to start beta.${ns}`,
      ),
      'the held member says why it waits',
    );

    // The parent workflow and its children, as Temporal shows them.
    const children = await stack.temporal([
      'workflow',
      'list',
      '--query',
      `ParentWorkflowId = 'releasegroup/${ns}/${GROUP}'`,
    ]);
    assert.equal(children.code, 0, children.stderr);
    for (const m of MEMBERS) assert.match(children.stdout, new RegExp(`releasegroup/${ns}/${GROUP}/run-1/${m}`));

    // fledge group get: the tree with each member's phase.
    const tree = await stack.fledge(['group', 'get', GROUP, '-n', ns]);
    assert.equal(tree.code, 0, tree.stderr);
    assert.match(tree.stdout, new RegExp(`^releasegroup ${GROUP}\\.${ns}\\s+Succeeded\\s+run 1`));
    assert.match(tree.stdout, /└── alpha\s+Succeeded/);
    assert.match(tree.stdout, /\n {4}└── beta\s+Succeeded/);
    assert.match(tree.stdout, /\n {8}└── gamma\s+Succeeded/);
    const live = await stack.fledge(['group', 'get', `${ns}/${GROUP}`, '-w', '--interval', '0.2', '--count', '2']);
    assert.equal(live.code, 0, live.stderr);
    assert.match(live.stdout, /gamma\s+Succeeded/);
  });

  it('gamma fails: alpha and beta are promoted, gamma rolls back, alpha and beta end on their previous revisions', async () => {
    const ns = await stack.createNamespace('rg-fail');
    await applyServices(ns);
    await stack.kubectl(['apply', '-f', '-'], JSON.stringify(groupManifest(ns, CHAIN)));
    await waitGroup(ns, 'Ready', (g) => g.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
    const before = Object.fromEntries(
      await Promise.all(MEMBERS.map(async (m) => [m, (await stack.canary(ns, m)).status?.lastPromotedSpec] as const)),
    );
    // gamma's new version answers half of its requests with 5xx.
    stack.metrics.set(ns, 'gamma', { successRate: 50 });
    await stack.metrics.converged(ns, 'gamma');
    await setImages(ns);
    const done = await waitGroup(
      ns,
      'run 1 ended',
      (g) => g.status?.run === 1 && ['Succeeded', 'Failed'].includes(g.status.phase ?? ''),
    );
    assert.equal(done.status?.phase, 'Failed', JSON.stringify(done.status));
    const phases = Object.fromEntries((done.status?.members ?? []).map((m) => [m.name, m]));
    assert.equal(phases.alpha?.phase, 'Compensated', JSON.stringify(done.status));
    assert.equal(phases.beta?.phase, 'Compensated', JSON.stringify(done.status));
    assert.equal(phases.gamma?.phase, 'Failed', JSON.stringify(done.status));

    // Back on the previous revision: target and primary run the old image, the Canary's promoted revision is the
    // one from before the group run.
    for (const m of ['alpha', 'beta']) {
      assert.equal(await image(ns, m), OLD_IMAGE, `${m}'s target is back on the old image`);
      assert.equal(await image(ns, `${m}-primary`), OLD_IMAGE, `${m}-primary is back on the old image`);
      const c = await stack.canary(ns, m);
      assert.equal(c.status?.phase, 'Succeeded');
      assert.equal(c.status?.lastPromotedSpec, before[m], `${m} promoted its previous revision again`);
      assert.equal(phases[m]?.previousRevision, before[m]);
    }
    assert.equal(await image(ns, 'gamma-primary'), OLD_IMAGE, 'gamma was never promoted');
    assert.equal((await stack.canary(ns, 'gamma')).status?.phase, 'Failed');

    // What happened, in order: alpha and beta promoted the new version, gamma failed, beta then alpha rolled back.
    const events = await eventsInOrder(ns);
    const story = events
      .filter(
        (e) =>
          (e.object.startsWith('Canary/') && e.message.startsWith('Promotion completed!')) ||
          (e.object === 'Canary/gamma' && e.message.startsWith('Canary failed!')) ||
          (e.object === `ReleaseGroup/${GROUP}` && /^(Rolling back|Rolled back)/.test(e.message)),
      )
      .map((e) => `${e.object} ${e.message.split(':')[0]}`);
    const text = JSON.stringify(events, null, 1);
    const idx = (s: string) => story.indexOf(s);
    const promotedAlpha = idx(`Canary/alpha Promotion completed! Scaling down alpha.${ns}`);
    const promotedBeta = idx(`Canary/beta Promotion completed! Scaling down beta.${ns}`);
    const gammaFailed = idx(`Canary/gamma Canary failed! Scaling down gamma.${ns}`);
    assert.ok(
      promotedAlpha >= 0 && promotedBeta > promotedAlpha && gammaFailed > promotedBeta,
      `${story.join('\n')}\n${text}`,
    );
    assert.ok(
      story.indexOf(`ReleaseGroup/${GROUP} Rolled back beta to revision ${before.beta}`) <
        story.indexOf(`ReleaseGroup/${GROUP} Rolled back alpha to revision ${before.alpha}`),
      `beta is rolled back before alpha: ${story.join('\n')}`,
    );
    assert.ok(
      events.some(
        (e) =>
          e.object === 'Canary/alpha' &&
          e.type === 'Warning' &&
          e.message ===
            `Rolling back alpha to revision ${before.alpha}: release group ${GROUP} run 1 failed at member gamma`,
      ),
      `the member's own events say why it is rolled back:\n${text}`,
    );
  });

  it('a group with a dependency cycle or an unknown member is rejected: Ready False and a Warning event', async () => {
    const ns = await stack.createNamespace('rg-invalid');
    await stack.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(
        groupManifest(
          ns,
          [
            { name: 'x', dependsOn: ['z'] },
            { name: 'y', dependsOn: ['x'] },
            { name: 'z', dependsOn: ['y'] },
          ],
          'cyclic',
        ),
      ),
    );
    const g = await waitGroup(
      ns,
      'Ready False',
      (o) => o.status?.conditions?.some((c) => c.reason === 'Invalid') ?? false,
      'cyclic',
    );
    const ready = g.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'False');
    assert.match(ready?.message ?? '', /member x: no Canary of that name in the namespace/);
    assert.equal(g.status?.phase, 'Invalid');
    const warning = await eventually('the Warning event', async () =>
      (await eventsInOrder(ns)).find((e) => e.object === 'ReleaseGroup/cyclic' && e.type === 'Warning'),
    );
    assert.match(warning.message, /^ReleaseGroup rejected: /);
    // With the Canaries there, the cycle itself is what is wrong.
    for (const name of ['x', 'y', 'z']) stack.metrics.set(ns, name, {});
    await stack.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: ['x', 'y', 'z'].map((name) => podinfoCanary(ns, { name, spec: { autoscalerRef: undefined } })),
      }),
    );
    await stack.kubectl([
      'patch',
      '-n',
      ns,
      'releasegroup/cyclic',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { settleWindow: '3s' } }),
    ]);
    const cyc = await waitGroup(
      ns,
      'cycle reported',
      (o) => /dependency cycle/.test(o.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? ''),
      'cyclic',
    );
    assert.match(
      cyc.status?.conditions?.[0]?.message ?? '',
      /dependency cycle: (x → z → y → x|y → x → z → y|z → y → x → z)/,
    );
  });
});
