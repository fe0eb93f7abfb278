// Generated invalid Canaries: every one must be rejected with a path and a reason, and nothing may throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCanary, parseAlertProvider, parseMetricTemplate } from '../../api/index.ts';

type Path = (string | number)[];
type Case = { name: string; raw: unknown; expectPath: string };

/** A valid canary exercising most fields, so every mutation below lands on something real. */
function valid(): Record<string, unknown> {
  return {
    apiVersion: 'flagger.app/v1beta1',
    kind: 'Canary',
    metadata: { name: 'podinfo', namespace: 'test' },
    spec: {
      provider: 'gatewayapi:v1',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      autoscalerRef: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: 'podinfo' },
      progressDeadlineSeconds: 60,
      skipAnalysis: false,
      service: {
        port: 9898,
        targetPort: 9898,
        portName: 'http',
        timeout: '30s',
        hosts: ['www.example.com'],
        gatewayRefs: [{ name: 'gateway', namespace: 'istio-ingress' }],
        retries: { attempts: 3, perTryTimeout: '1s' },
        headers: { request: { add: { 'x-a': '1' }, remove: ['x-b'] } },
      },
      analysis: {
        interval: '1m',
        threshold: 5,
        maxWeight: 50,
        stepWeight: 10,
        primaryReadyThreshold: 100,
        metrics: [
          { name: 'error-rate', templateRef: { name: 'error-rate' }, thresholdRange: { max: 1 }, interval: '1m' },
        ],
        webhooks: [{ name: 'load-test', type: 'rollout', url: 'http://loadtester.test/', timeout: '5s' }],
        alerts: [{ name: 'on-call', severity: 'error', providerRef: { name: 'slack' } }],
      },
    },
  };
}

function set(obj: unknown, path: Path, value: unknown): unknown {
  const copy = structuredClone(obj) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
  return copy;
}
const REMOVE = Symbol('remove');

function fmt(path: Path): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

// Wrong values by kind of field.
const NOT_INTEGERS = ['10', 'abc', 1.5, true, null, {}, [], Number.NEGATIVE_INFINITY, Number.NaN];
const NOT_STRINGS = [5, true, null, {}, ['a']];
const NOT_BOOLEANS = ['true', 'yes', 1, null, {}];
const NOT_OBJECTS = ['x', 5, true, null, ['a']];
const NOT_LISTS = ['x', 5, true, null, { a: 1 }];
const BAD_DURATIONS = ['1x', '', '10', '-1s', 'ms', '1h2', '1 m', 'P1D', 60, null, '9999999999h'];

const fields: { path: Path; bad: unknown[] }[] = [
  { path: ['spec', 'targetRef', 'name'], bad: [...NOT_STRINGS, ''] },
  { path: ['spec', 'targetRef', 'kind'], bad: ['StatefulSet', 'deployment', '', 5] },
  { path: ['spec', 'targetRef', 'apiVersion'], bad: [...NOT_STRINGS, ''] },
  { path: ['spec', 'targetRef'], bad: NOT_OBJECTS },
  { path: ['spec', 'autoscalerRef', 'kind'], bad: ['VerticalPodAutoscaler', 3] },
  { path: ['spec', 'provider'], bad: ['envoy', 'Istio', 'gatewayapi:v2', 7, true] },
  { path: ['spec', 'progressDeadlineSeconds'], bad: [...NOT_INTEGERS, 0, -60] },
  { path: ['spec', 'skipAnalysis'], bad: NOT_BOOLEANS },
  { path: ['spec', 'suspend'], bad: NOT_BOOLEANS.slice(0, 3) },
  { path: ['spec', 'service', 'port'], bad: [...NOT_INTEGERS, 0, 65536, -80] },
  { path: ['spec', 'service', 'targetPort'], bad: [0, 70000, 1.5, '', true, null, {}] },
  { path: ['spec', 'service', 'portDiscovery'], bad: NOT_BOOLEANS.slice(0, 3) },
  { path: ['spec', 'service', 'timeout'], bad: BAD_DURATIONS.slice(0, 6) },
  { path: ['spec', 'service', 'hosts'], bad: NOT_LISTS },
  { path: ['spec', 'service', 'gatewayRefs', 0, 'name'], bad: ['', 5, null] },
  { path: ['spec', 'service', 'gatewayRefs', 0, 'port'], bad: [0, 65536, 'http'] },
  { path: ['spec', 'service', 'retries', 'attempts'], bad: [-1, 'three', 1.5] },
  { path: ['spec', 'service', 'retries', 'perTryTimeout'], bad: ['1x', 5] },
  { path: ['spec', 'service', 'headers', 'request', 'add'], bad: ['x', ['a']] },
  { path: ['spec', 'service', 'headers', 'request', 'remove'], bad: ['x-b', { a: 1 }] },
  { path: ['spec', 'analysis', 'interval'], bad: [...BAD_DURATIONS, '0', '0s'] },
  { path: ['spec', 'analysis', 'threshold'], bad: NOT_INTEGERS.concat([-1]) },
  { path: ['spec', 'analysis', 'maxWeight'], bad: [0, -10, 101, 1e9, '50', 12.5] },
  { path: ['spec', 'analysis', 'stepWeight'], bad: [0, -5, 101, '10', 2.5, null] },
  { path: ['spec', 'analysis', 'stepWeightPromotion'], bad: [0, 101, 'all'] },
  { path: ['spec', 'analysis', 'primaryReadyThreshold'], bad: [-1, 101, '100', 99.5] },
  { path: ['spec', 'analysis', 'canaryReadyThreshold'], bad: [-1, 101, 'x'] },
  { path: ['spec', 'analysis', 'mirror'], bad: NOT_BOOLEANS.slice(0, 3) },
  { path: ['spec', 'analysis', 'metrics'], bad: NOT_LISTS },
  { path: ['spec', 'analysis', 'metrics', 0, 'name'], bad: ['', 5, null] },
  { path: ['spec', 'analysis', 'metrics', 0, 'interval'], bad: BAD_DURATIONS.slice(0, 8) },
  { path: ['spec', 'analysis', 'metrics', 0, 'thresholdRange', 'max'], bad: ['1', true, {}] },
  { path: ['spec', 'analysis', 'metrics', 0, 'templateRef', 'name'], bad: ['', 5] },
  { path: ['spec', 'analysis', 'metrics', 0, 'noDataPolicy'], bad: ['ignore', 'FAIL', 0] },
  { path: ['spec', 'analysis', 'metrics', 0, 'templateVariables'], bad: ['x', { a: 1 }] },
  { path: ['spec', 'analysis', 'webhooks', 0, 'type'], bad: ['pre', 'post-rollback', 'Rollout', 1] },
  { path: ['spec', 'analysis', 'webhooks', 0, 'url'], bad: ['', 'not a url', 'loadtester.test', 'ftp://x/', 5] },
  { path: ['spec', 'analysis', 'webhooks', 0, 'timeout'], bad: BAD_DURATIONS.slice(0, 6) },
  { path: ['spec', 'analysis', 'webhooks', 0, 'retries'], bad: [-1, 'x'] },
  { path: ['spec', 'analysis', 'webhooks', 0, 'metadata'], bad: ['x', { cmd: 5 }] },
  { path: ['spec', 'analysis', 'webhooks', 0, 'muteAlert'], bad: ['true', 1] },
  { path: ['spec', 'analysis', 'alerts', 0, 'severity'], bad: ['critical', 'INFO', 3] },
  { path: ['spec', 'analysis', 'alerts', 0, 'providerRef'], bad: NOT_OBJECTS.slice(0, 3) },
  { path: ['spec', 'analysis', 'alerts', 0, 'providerRef', 'name'], bad: ['', 4] },
  { path: ['spec', 'analysis'], bad: NOT_OBJECTS },
  { path: ['spec'], bad: NOT_OBJECTS },
  { path: ['metadata', 'name'], bad: ['', 5, null] },
  { path: ['apiVersion'], bad: ['flagger.app/v1alpha3', 'v1', 5] },
  { path: ['kind'], bad: ['Deployment', 'canary'] },
];

const required: Path[] = [
  ['metadata'],
  ['metadata', 'name'],
  ['spec'],
  ['spec', 'targetRef'],
  ['spec', 'targetRef', 'name'],
  ['spec', 'targetRef', 'kind'],
  ['spec', 'targetRef', 'apiVersion'],
  ['spec', 'autoscalerRef', 'name'],
  ['spec', 'service'],
  ['spec', 'service', 'port'],
  ['spec', 'service', 'gatewayRefs'],
  ['spec', 'service', 'gatewayRefs', 0, 'name'],
  ['spec', 'analysis'],
  ['spec', 'analysis', 'interval'],
  ['spec', 'analysis', 'threshold'],
  ['spec', 'analysis', 'metrics', 0, 'name'],
  ['spec', 'analysis', 'webhooks', 0, 'name'],
  ['spec', 'analysis', 'webhooks', 0, 'url'],
  ['spec', 'analysis', 'alerts', 0, 'name'],
  ['spec', 'analysis', 'alerts', 0, 'providerRef'],
];

/** Whole-spec conflicts, with where the error must point. */
const conflicts: { name: string; edits: [Path, unknown][]; expectPath: string }[] = [
  {
    name: 'knative provider, Deployment target',
    edits: [[['spec', 'provider'], 'knative']],
    expectPath: 'spec.targetRef',
  },
  {
    name: 'Knative Service target, other provider',
    edits: [
      [['spec', 'targetRef', 'apiVersion'], 'serving.knative.dev/v1'],
      [['spec', 'targetRef', 'kind'], 'Service'],
    ],
    expectPath: 'spec.provider',
  },
  {
    name: 'nginx provider without ingressRef',
    edits: [[['spec', 'provider'], 'nginx']],
    expectPath: 'spec.ingressRef',
  },
  {
    name: 'gatewayapi without refs',
    edits: [[['spec', 'service', 'gatewayRefs'], []]],
    expectPath: 'spec.service.gatewayRefs',
  },
  {
    name: 'gatewayapi:v1beta1 without refs',
    edits: [
      [['spec', 'provider'], 'gatewayapi:v1beta1'],
      [['spec', 'service', 'gatewayRefs'], REMOVE],
    ],
    expectPath: 'spec.service.gatewayRefs',
  },
  {
    name: 'iterations and stepWeight',
    edits: [[['spec', 'analysis', 'iterations'], 10]],
    expectPath: 'spec.analysis.stepWeight',
  },
  {
    name: 'stepWeight and stepWeights',
    edits: [
      [
        ['spec', 'analysis', 'stepWeights'],
        [10, 20],
      ],
    ],
    expectPath: 'spec.analysis.stepWeights',
  },
  {
    name: 'decreasing stepWeights',
    edits: [
      [['spec', 'analysis', 'stepWeight'], REMOVE],
      [
        ['spec', 'analysis', 'stepWeights'],
        [20, 10],
      ],
    ],
    expectPath: 'spec.analysis.stepWeights',
  },
  {
    name: 'repeated stepWeights',
    edits: [
      [['spec', 'analysis', 'stepWeight'], REMOVE],
      [
        ['spec', 'analysis', 'stepWeights'],
        [10, 10, 20],
      ],
    ],
    expectPath: 'spec.analysis.stepWeights',
  },
  {
    name: 'mirrorWeight without mirror',
    edits: [[['spec', 'analysis', 'mirrorWeight'], 20]],
    expectPath: 'spec.analysis.mirrorWeight',
  },
  {
    name: 'match without iterations',
    edits: [[['spec', 'analysis', 'match'], [{ headers: { 'x-canary': { exact: '1' } } }]]],
    expectPath: 'spec.analysis.iterations',
  },
  {
    name: 'inverted thresholdRange',
    edits: [[['spec', 'analysis', 'metrics', 0, 'thresholdRange'], { min: 10, max: 1 }]],
    expectPath: 'spec.analysis.metrics[0].thresholdRange.min',
  },
  {
    name: 'same cookie names',
    edits: [[['spec', 'analysis', 'sessionAffinity'], { cookieName: 'c', primaryCookieName: 'c' }]],
    expectPath: 'spec.analysis.sessionAffinity.primaryCookieName',
  },
  {
    name: 'session affinity without cookieName',
    edits: [[['spec', 'analysis', 'sessionAffinity'], { maxAge: 10 }]],
    expectPath: 'spec.analysis.sessionAffinity.cookieName',
  },
  {
    name: 'metric with nothing to query',
    edits: [[['spec', 'analysis', 'metrics', 0], { name: 'my-metric' }]],
    expectPath: 'spec.analysis.metrics[0]',
  },
  {
    name: 'metric without its templateRef',
    edits: [[['spec', 'analysis', 'metrics', 0, 'templateRef'], REMOVE]],
    expectPath: 'spec.analysis.metrics[0]',
  },
  {
    name: 'header match with two operators',
    edits: [
      [['spec', 'analysis', 'iterations'], 5],
      [['spec', 'analysis', 'stepWeight'], REMOVE],
      [['spec', 'analysis', 'match'], [{ headers: { a: { exact: '1', prefix: '2' } } }]],
    ],
    expectPath: 'spec.analysis.match[0].headers.a',
  },
  {
    name: 'header match with no operator',
    edits: [
      [['spec', 'analysis', 'iterations'], 5],
      [['spec', 'analysis', 'stepWeight'], REMOVE],
      [['spec', 'analysis', 'match'], [{ headers: { a: {} } }]],
    ],
    expectPath: 'spec.analysis.match[0].headers.a',
  },
  {
    name: 'cookie match with prefix',
    edits: [
      [['spec', 'analysis', 'iterations'], 5],
      [['spec', 'analysis', 'stepWeight'], REMOVE],
      [['spec', 'analysis', 'match'], [{ cookies: { canary: { prefix: 'a' } } }]],
    ],
    expectPath: 'spec.analysis.match[0].cookies.canary',
  },
  {
    name: 'primary replicas inverted',
    edits: [[['spec', 'autoscalerRef', 'primaryScalerReplicas'], { minReplicas: 3, maxReplicas: 1 }]],
    expectPath: 'spec.autoscalerRef.primaryScalerReplicas.minReplicas',
  },
  {
    name: 'no strategy at all',
    edits: [[['spec', 'analysis', 'stepWeight'], REMOVE]],
    expectPath: 'spec.analysis',
  },
  {
    name: 'too many gatewayRefs',
    edits: [[['spec', 'service', 'gatewayRefs'], Array.from({ length: 33 }, (_, i) => ({ name: `g${i}` }))]],
    expectPath: 'spec.service.gatewayRefs',
  },
];

function cases(): Case[] {
  const out: Case[] = [];
  for (const { path, bad } of fields)
    for (const value of bad)
      out.push({
        name: `${fmt(path)} = ${String(JSON.stringify(value))}`,
        raw: set(valid(), path, value),
        expectPath: fmt(path),
      });
  for (const path of required)
    out.push({ name: `missing ${fmt(path)}`, raw: set(valid(), path, REMOVE), expectPath: fmt(path) });
  for (const c of conflicts)
    out.push({
      name: c.name,
      raw: c.edits.reduce<unknown>((o, [p, v]) => set(o, p, v), valid()),
      expectPath: c.expectPath,
    });
  return out;
}

test('the base canary of the generated cases is valid', () => {
  const r = parseCanary(valid());
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
});

test('at least 200 generated invalid canaries are each rejected with a path and a reason', () => {
  const all = cases();
  assert.ok(all.length >= 200, `only ${all.length} cases`);
  for (const c of all) {
    let result: ReturnType<typeof parseCanary>;
    assert.doesNotThrow(() => (result = parseCanary(c.raw)), c.name);
    result = parseCanary(c.raw);
    assert.equal(result.ok, false, `accepted: ${c.name}`);
    if (result.ok) continue;
    assert.ok(result.errors.length > 0, c.name);
    for (const e of result.errors) {
      assert.ok(e.path.length > 0 && e.path !== '(root)', `${c.name}: empty path in ${JSON.stringify(e)}`);
      assert.ok(e.message.trim().length > 0, `${c.name}: empty message`);
    }
    // The error must point at the mutated field (or inside it), not somewhere unrelated.
    const hit = result.errors.some((e) => e.path === c.expectPath || e.path.startsWith(c.expectPath));
    assert.ok(hit, `${c.name}: expected an error at ${c.expectPath}, got ${JSON.stringify(result.errors)}`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Garbage: never throw, always answer.

function hostile(): unknown[] {
  const throwing = new Proxy(
    {},
    {
      get() {
        throw new Error('boom');
      },
      ownKeys() {
        throw new Error('boom');
      },
    },
  );
  const cyclic: Record<string, unknown> = { metadata: { name: 'x' } };
  cyclic.spec = cyclic;
  let deep: Record<string, unknown> = {};
  const root = deep;
  for (let i = 0; i < 5000; i++) deep = deep.spec = {};
  return [
    null,
    undefined,
    0,
    -1,
    Number.MAX_VALUE,
    Number.POSITIVE_INFINITY,
    Number.NaN,
    10n ** 100n,
    '',
    'Canary',
    '{"spec":{}}',
    true,
    Symbol('x'),
    () => 1,
    [],
    [valid()],
    {},
    { spec: null },
    { spec: [] },
    { spec: 'x' },
    { metadata: null, spec: { analysis: null } },
    { spec: { targetRef: { name: 'a'.repeat(1_000_000) } } },
    {
      spec: {
        analysis: { interval: '1'.repeat(10_000) + 's', threshold: 1e308, stepWeights: new Array(10_000).fill(1) },
      },
    },
    { spec: { analysis: { metrics: new Array(1000).fill({ name: 5 }) } } },
    Object.create(null),
    new Date(),
    new Map([['spec', {}]]),
    throwing,
    { spec: throwing },
    cyclic,
    root,
  ];
}

test('hostile inputs never throw and always come back with errors', () => {
  for (const [i, raw] of hostile().entries()) {
    let result: ReturnType<typeof parseCanary> | undefined;
    assert.doesNotThrow(() => {
      result = parseCanary(raw);
    }, `threw on hostile input #${i}`);
    assert.ok(result && !result.ok, `accepted hostile input #${i}`);
    if (result && !result.ok) {
      assert.ok(result.errors.length > 0);
      for (const e of result.errors) assert.ok(e.path.length > 0 && e.message.length > 0);
    }
    assert.doesNotThrow(() => parseMetricTemplate(raw));
    assert.doesNotThrow(() => parseAlertProvider(raw));
  }
});

test('huge and fractional numbers are rejected, not rounded', () => {
  for (const n of [1e21, 2 ** 53, 12.5, -0.5]) {
    const r = parseCanary(set(valid(), ['spec', 'analysis', 'threshold'], n));
    assert.ok(!r.ok, String(n));
  }
});
