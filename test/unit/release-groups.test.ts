// Pure parts of release groups: validation and dependency order, the member's start gate, the previous pod template
// from ReplicaSet history, and the CLI's tree.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1ReplicaSet } from '@kubernetes/client-node';
import { planGroup, topoOrder } from '../../api/release-group.ts';
import { groupGate, releaseGate, type GroupGatePorts } from '../../workflows/group-gate.ts';
import { initialState } from '../../workflows/state.ts';
import { templateOfRevision } from '../../activities/groups/previous.ts';
import { revisionHash } from '../../worker/revision.ts';
import { groupTree } from '../../cli/group.ts';
import type { MemberArrival } from '../../workflows/group-messages.ts';

describe('planGroup', () => {
  it('orders members after their dependencies, ties in spec order', () => {
    const r = planGroup(
      {
        members: [
          { name: 'web', dependsOn: ['api'] },
          { name: 'db' },
          { name: 'api', dependsOn: ['db'] },
          { name: 'x' },
        ],
      },
      ['web', 'db', 'api', 'x'],
    );
    assert.ok(r.ok);
    assert.deepEqual(r.plan.order, ['db', 'api', 'web', 'x']);
    assert.equal(r.plan.settleMs, 30_000);
  });

  it('rejects cycles, unknown Canaries, dependencies on non-members and duplicates, each in one sentence', () => {
    const cycle = planGroup(
      {
        members: [
          { name: 'a', dependsOn: ['b'] },
          { name: 'b', dependsOn: ['a'] },
        ],
      },
      ['a', 'b'],
    );
    assert.deepEqual(cycle, { ok: false, errors: ['dependency cycle: a → b → a'] });
    const bad = planGroup(
      { members: [{ name: 'a', dependsOn: ['zz'] }, { name: 'a' }, { name: 'ghost' }], settleWindow: '5s' },
      ['a'],
    );
    assert.deepEqual(bad, {
      ok: false,
      errors: [
        'member a is listed twice',
        'member ghost: no Canary of that name in the namespace',
        'member a depends on zz, which is not a member',
      ],
    });
    const schema = planGroup({ members: [], settleWindow: '5 s' }, []);
    assert.equal(schema.ok, false);
    assert.ok(!schema.ok && schema.errors.some((e) => e.startsWith('spec.settleWindow: invalid duration')));
  });

  it('topoOrder names one cycle even when other members lead into it', () => {
    const r = topoOrder(['entry', 'p', 'q'], { entry: ['p'], p: ['q'], q: ['p'] });
    assert.deepEqual(r, { ok: false, cycle: ['p', 'q', 'p'] });
  });
});

describe('the start gate', () => {
  const canary = { namespace: 'test', name: 'beta' };
  function ports(group: string | undefined, notify = true) {
    const arrivals: MemberArrival[] = [];
    let lookups = 0;
    const p: GroupGatePorts = {
      memberOf: async () => {
        lookups++;
        return group ? { group, previous: { hash: 'old', template: { spec: { containers: [] } } } } : {};
      },
      arrive: async (_g, a) => {
        arrivals.push(a);
        return notify;
      },
    };
    return { p, arrivals, lookups: () => lookups };
  }

  it('holds a member in Waiting until the release of its revision, asking and telling once', async () => {
    const state = initialState(canary, { hash: 'new', generation: 2 }, 'new-revision');
    state.phase = 'Initialized';
    const { p, arrivals, lookups } = ports('shop');
    assert.equal(await groupGate(state, { group: p }), 'continue');
    assert.equal(state.phase, 'Waiting');
    assert.deepEqual(state.outbox.events, [
      { type: 'Normal', message: 'Waiting for release group shop to start beta.test' },
    ]);
    assert.equal(await groupGate(state, { group: p }), 'continue');
    assert.equal(lookups(), 1);
    assert.deepEqual(arrivals, [
      {
        member: 'beta',
        revision: { hash: 'new', generation: 2 },
        previous: { hash: 'old', template: { spec: { containers: [] } } },
      },
    ]);
    assert.equal(state.group?.previous, undefined, 'the template leaves the state once the group has it');
    assert.equal(releaseGate(state, 'shop', 'older'), false, 'a release of another revision does not open it');
    assert.equal(await groupGate(state, { group: p }), 'continue');
    assert.equal(releaseGate(state, 'shop', 'new'), true);
    assert.equal(await groupGate(state, { group: p }), undefined);
  });

  it('tells the group again at the next tick while its workflow is not running', async () => {
    const state = initialState(canary, { hash: 'new', generation: 2 }, 'new-revision');
    const { p, arrivals } = ports('shop', false);
    await groupGate(state, { group: p });
    await groupGate(state, { group: p });
    assert.equal(arrivals.length, 2);
    assert.match(state.waitingFor, /group workflow not running yet/);
  });

  it('a lookup that failed through its attempts holds the rollout and is asked again at the next tick', async () => {
    const state = initialState(canary, { hash: 'new', generation: 2 }, 'new-revision');
    let calls = 0;
    const flaky: GroupGatePorts = {
      memberOf: async () => (++calls === 1 ? { error: 'apiserver unreachable' } : {}),
      arrive: async () => true,
    };
    assert.equal(await groupGate(state, { group: flaky }), 'continue');
    assert.equal(state.waitingFor, 'release group lookup to succeed: apiserver unreachable');
    assert.equal(state.group, undefined);
    assert.equal(await groupGate(state, { group: flaky }), undefined);
    assert.equal(calls, 2);
  });

  it('no gate for a Canary in no group, without the ports, or when replaying a history from before it', async () => {
    const state = initialState(canary, { hash: 'new', generation: 2 }, 'new-revision');
    assert.equal(await groupGate(state, { group: ports(undefined).p }), undefined);
    assert.equal(await groupGate(initialState(canary, { hash: 'n', generation: 1 }, 'x'), {}), undefined);
    const replaying = { group: ports('shop').p, patched: () => false };
    assert.equal(await groupGate(initialState(canary, { hash: 'n', generation: 1 }, 'x'), replaying), undefined);
  });
});

describe('templateOfRevision', () => {
  const template = (image: string) => ({
    metadata: { labels: { app: 'beta' } },
    spec: { containers: [{ name: 'app', image }] },
  });
  const rs = (image: string, revision: number, owner = 'uid-1'): V1ReplicaSet => ({
    metadata: {
      name: `beta-${revision}`,
      annotations: { 'deployment.kubernetes.io/revision': String(revision) },
      ownerReferences: [{ uid: owner, apiVersion: 'apps/v1', kind: 'Deployment', name: 'beta' }],
    },
    spec: {
      selector: {},
      template: { ...template(image), metadata: { labels: { app: 'beta', 'pod-template-hash': `h${revision}` } } },
    },
  });

  it('finds the template of a revision among the Deployment’s ReplicaSets, without pod-template-hash', () => {
    const old = revisionHash(template('v1'), {});
    const found = templateOfRevision([rs('v2', 2), rs('v1', 1), rs('v1', 7, 'other-owner')], 'uid-1', old, {});
    assert.deepEqual(found, template('v1'));
    assert.equal(templateOfRevision([rs('v2', 2)], 'uid-1', old, {}), undefined, 'history no longer holds it');
  });
});

describe('groupTree', () => {
  it('draws members under the dependency they wait for last, with phase and revisions', () => {
    const text = groupTree({
      metadata: { name: 'shop', namespace: 'test' },
      status: {
        phase: 'Progressing',
        run: 2,
        message: 'run 2: db → api → web',
        members: [
          { name: 'db', order: 0, phase: 'Succeeded', revision: 'r2', previousRevision: 'r1', dependsOn: [] },
          { name: 'api', order: 1, phase: 'Released', dependsOn: ['db'], message: 'rolling out' },
          { name: 'web', order: 2, phase: 'Held', dependsOn: ['db', 'api'] },
          { name: 'cron', order: 3, phase: 'Idle', dependsOn: [] },
        ],
      },
    });
    assert.equal(
      text,
      [
        'releasegroup shop.test   Progressing   run 2   run 2: db → api → web',
        '├── db   Succeeded   revision r2 (was r1)',
        '│   └── api   Released   rolling out',
        '│       └── web   Held   also after db',
        '└── cron   Idle',
        '',
      ].join('\n'),
    );
  });
});
