import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import {
  FLAGGER_PROVIDERS,
  GATEWAY_REFS_REQUIRED,
  SUPPORTED_PROVIDERS,
  deriveStrategy,
  formatPath,
  parseAlertProvider,
  parseCanary,
  parseDuration,
  parseMetricTemplate,
  serviceNames,
} from '../../api/index.ts';
import type { Canary } from '../../api/index.ts';

// Manifests in the shape of Flagger's tutorials (podinfo), one per strategy.

const GATEWAY_CANARY = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: gatewayapi:v1
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  autoscalerRef:
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    name: podinfo
  progressDeadlineSeconds: 60
  service:
    port: 9898
    targetPort: 9898
    hosts:
      - www.example.com
    gatewayRefs:
      - name: gateway
        namespace: istio-ingress
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
      - name: error-rate
        templateRef:
          name: error-rate
          namespace: istio-system
        thresholdRange:
          max: 1
        interval: 1m
      - name: latency
        templateRef:
          name: latency
          namespace: istio-system
        thresholdRange:
          max: 0.5
        interval: 30s
    webhooks:
      - name: smoke-test
        type: pre-rollout
        url: http://flagger-loadtester.test/
        timeout: 15s
        metadata:
          type: bash
          cmd: "curl -sd 'anon' http://podinfo-canary.test:9898/token | grep token"
      - name: load-test
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          cmd: "hey -z 2m -q 10 -c 2 -host www.example.com http://gateway-istio.istio-ingress"
`;

const AB_CANARY = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: gatewayapi:v1beta1
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: 9898
    targetPort: http
    gatewayRefs:
      - name: contour
        namespace: projectcontour
  analysis:
    interval: 1m
    threshold: 10
    iterations: 10
    match:
      - headers:
          x-canary:
            exact: "insider"
      - headers:
          cookie:
            regex: "^(.*?;)?(canary=always)(;.*)?$"
      - cookies:
          canary:
            exact: always
    metrics:
      - name: request-success-rate
        thresholdRange:
          min: 99
        interval: 1m
    webhooks:
      - name: load-test
        type: rollout
        url: http://flagger-loadtester.test/
        metadata:
          cmd: "hey -z 2m -q 10 -c 2 -H 'Cookie: canary=always' http://podinfo.test:9898/"
`;

const BLUE_GREEN_CANARY = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: kubernetes
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
  service:
    port: 9898
    portDiscovery: true
  analysis:
    interval: 30s
    threshold: 2
    iterations: 10
    metrics:
      - name: request-success-rate
        thresholdRange:
          min: 99
        interval: 1m
      - name: request-duration
        thresholdRange:
          max: 500
        interval: 30s
    webhooks:
      - name: conformance-test
        type: pre-rollout
        url: http://flagger-loadtester.test/
        timeout: 15s
        metadata:
          type: "bash"
          cmd: "curl -s http://podinfo-canary.test:9898/"
      - name: load-test
        url: http://flagger-loadtester.test/
        timeout: 5s
        metadata:
          type: cmd
          cmd: "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"
`;

const SESSION_AFFINITY_CANARY = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: gatewayapi:v1
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: 9898
    gatewayRefs:
      - name: gateway
  analysis:
    interval: 1m
    threshold: 5
    stepWeights: [5, 10, 25, 50]
    sessionAffinity:
      cookieName: flagger-cookie
      primaryCookieName: flagger-primary-cookie
    metrics:
      - name: request-success-rate
        thresholdRange:
          min: 99
`;

function ok(yamlOrObject: string | unknown): Canary {
  const raw = typeof yamlOrObject === 'string' ? parseYaml(yamlOrObject) : yamlOrObject;
  const result = parseCanary(raw);
  if (!result.ok) assert.fail(`expected a valid canary, got ${JSON.stringify(result.errors, null, 2)}`);
  return result.canary;
}

function errorsOf(raw: unknown): { path: string; message: string }[] {
  const result = parseCanary(raw);
  assert.equal(result.ok, false, `expected rejection of ${JSON.stringify(raw)?.slice(0, 300)}`);
  return result.ok ? [] : result.errors;
}

const base = (): Record<string, unknown> => parseYaml(GATEWAY_CANARY);

/** Returns a deep copy of `obj` with the value at `path` replaced (or removed when `value` is DELETE). */
const DELETE = Symbol('delete');
function mutate(obj: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(obj) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === DELETE) delete node[last];
  else node[last] = value;
  return copy;
}

// ---------------------------------------------------------------------------------------------------------------
// Flagger's examples

test('Flagger gatewayapi canary example parses, with defaults applied', () => {
  const c = ok(GATEWAY_CANARY);
  assert.equal(c.spec.provider, 'gatewayapi:v1');
  assert.equal(c.spec.progressDeadlineSeconds, 60);
  assert.equal(c.spec.service?.portName, 'http');
  assert.equal(c.spec.service?.portDiscovery, false);
  assert.equal(c.spec.analysis.primaryReadyThreshold, 100);
  assert.equal(c.spec.analysis.canaryReadyThreshold, 100);
  assert.equal(c.spec.analysis.mirror, false);
  assert.deepEqual(c.spec.analysis.match, []);
  assert.deepEqual(c.spec.analysis.alerts, []);
  const [smoke, load] = c.spec.analysis.webhooks;
  assert.equal(smoke?.type, 'pre-rollout');
  assert.equal(load?.type, 'rollout', 'webhook type defaults to rollout');
  assert.equal(load?.muteAlert, false);
  assert.equal(c.spec.analysis.metrics[0]?.noDataPolicy, 'fail');
  assert.deepEqual(deriveStrategy(c.spec), { strategy: 'canary', mirrored: false, iterations: 0, warnings: [] });
});

test('Flagger A/B testing example parses; cookies matches are kept', () => {
  const c = ok(AB_CANARY);
  assert.equal(c.spec.service?.targetPort, 'http');
  assert.deepEqual(c.spec.analysis.match[2]?.cookies, { canary: { exact: 'always' } });
  assert.equal(c.spec.analysis.match[1]?.headers?.cookie?.regex, '^(.*?;)?(canary=always)(;.*)?$');
  assert.deepEqual(deriveStrategy(c.spec), { strategy: 'ab-testing', mirrored: false, iterations: 10, warnings: [] });
});

test('Flagger blue/green example (kubernetes provider) parses', () => {
  const c = ok(BLUE_GREEN_CANARY);
  assert.equal(c.spec.service?.portDiscovery, true);
  assert.equal(c.spec.analysis.metrics[1]?.name, 'request-duration');
  assert.deepEqual(deriveStrategy(c.spec), { strategy: 'blue-green', mirrored: false, iterations: 10, warnings: [] });
});

test('session affinity canary with stepWeights parses', () => {
  const c = ok(SESSION_AFFINITY_CANARY);
  assert.equal(c.spec.analysis.sessionAffinity?.maxAge, 86400);
  assert.deepEqual(c.spec.analysis.stepWeights, [5, 10, 25, 50]);
  assert.equal(deriveStrategy(c.spec).strategy, 'canary');
});

// ---------------------------------------------------------------------------------------------------------------
// Defaults

test('minimal canary gets every documented default', () => {
  const c = ok({
    metadata: { name: 'app' },
    spec: {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' },
      service: { port: 80 },
      analysis: { interval: '30s', threshold: 0, stepWeight: 20, metrics: [{ name: 'request-success-rate' }] },
    },
  });
  assert.equal(c.apiVersion, 'flagger.app/v1beta1');
  assert.equal(c.kind, 'Canary');
  assert.equal(c.spec.provider, 'kubernetes', 'parseCanary names the provider it assumed');
  assert.equal(c.spec.progressDeadlineSeconds, 600);
  assert.equal(c.spec.skipAnalysis, false);
  assert.equal(c.spec.revertOnDeletion, false);
  assert.equal(c.spec.suspend, false);
  assert.equal(c.spec.analysis.threshold, 1, 'Flagger counts threshold 0 as 1');
  assert.equal(c.spec.analysis.metrics[0]?.interval, '1m');
  assert.equal(c.status, undefined);
});

test('defaultProvider option applies only when the spec names none', () => {
  const raw = parseYaml(GATEWAY_CANARY);
  const withoutProvider = mutate(raw, ['spec', 'provider'], DELETE);
  const r = parseCanary(withoutProvider, { defaultProvider: 'gatewayapi:v1' });
  assert.ok(r.ok);
  assert.equal(r.canary.spec.provider, 'gatewayapi:v1');
  const explicit = parseCanary(mutate(raw, ['spec', 'provider'], 'gatewayapi:v1beta1'), {
    defaultProvider: 'kubernetes',
  });
  assert.ok(explicit.ok);
  assert.equal(explicit.canary.spec.provider, 'gatewayapi:v1beta1');
  assert.equal((withoutProvider as { spec: { provider?: string } }).spec.provider, undefined, 'input not mutated');
});

test('webhook and alert defaults: timeout 10s, empty type is rollout, severity info', () => {
  const c = ok(
    mutate(base(), ['spec', 'analysis'], {
      interval: '1m',
      threshold: 1,
      stepWeight: 10,
      webhooks: [{ name: 'w', type: '', url: 'https://hooks.example.com/x' }],
      alerts: [
        { name: 'a', severity: '', providerRef: { name: 'slack' } },
        { name: 'b', providerRef: { name: 's' } },
      ],
    }),
  );
  const [hook] = c.spec.analysis.webhooks;
  assert.deepEqual(hook, {
    name: 'w',
    type: 'rollout',
    url: 'https://hooks.example.com/x',
    timeout: '10s',
    muteAlert: false,
    disableTLS: false,
  });
  assert.deepEqual(
    c.spec.analysis.alerts.map((a) => a.severity),
    ['info', 'info'],
  );
});

test('unknown fields are pruned like the apiserver would, trafficPolicy is kept verbatim', () => {
  const raw = mutate(base(), ['spec', 'service', 'trafficPolicy'], { tls: { mode: 'ISTIO_MUTUAL' }, custom: { x: 1 } });
  const withExtras = mutate(mutate(raw, ['spec', 'bogus'], 1), ['spec', 'analysis', 'unknownField'], 'x');
  const c = ok(withExtras);
  assert.equal((c.spec as Record<string, unknown>).bogus, undefined);
  assert.equal((c.spec.analysis as Record<string, unknown>).unknownField, undefined);
  assert.deepEqual(c.spec.service?.trafficPolicy, { tls: { mode: 'ISTIO_MUTUAL' }, custom: { x: 1 } });
});

test('metadata is passed through, a malformed status is dropped rather than blocking the spec', () => {
  const raw = mutate(base(), ['metadata', 'labels'], { app: 'podinfo' });
  const c = ok(mutate(raw, ['status'], { phase: 'Bogus', failedChecks: 'x' }));
  assert.deepEqual(c.metadata.labels, { app: 'podinfo' });
  assert.equal(c.status, undefined);
  const s = ok(
    mutate(raw, ['status'], {
      phase: 'Progressing',
      canaryWeight: 20,
      failedChecks: 1,
      iterations: 0,
      conditions: [{ type: 'Promoted', status: 'Unknown', reason: 'Progressing', message: 'x' }],
      workflowId: 'canary/test/podinfo',
      step: 3,
      metrics: [{ name: 'error-rate', value: 0.2, passed: true }],
    }),
  );
  assert.equal(s.status?.phase, 'Progressing');
  assert.equal(s.status?.workflowId, 'canary/test/podinfo');
});

// ---------------------------------------------------------------------------------------------------------------
// Cross-field rules

function assertRejected(raw: unknown, path: string, messagePart: string | RegExp) {
  const errors = errorsOf(raw);
  const hit = errors.find(
    (e) =>
      e.path === path &&
      (typeof messagePart === 'string' ? e.message.includes(messagePart) : messagePart.test(e.message)),
  );
  assert.ok(hit, `expected ${path}: ${messagePart}; got ${JSON.stringify(errors)}`);
}

test('gatewayRefs are required for every Gateway API provider, with Flagger message', () => {
  for (const provider of ['gatewayapi', 'gatewayapi:v1', 'gatewayapi:v1beta1']) {
    const raw = mutate(mutate(base(), ['spec', 'provider'], provider), ['spec', 'service', 'gatewayRefs'], DELETE);
    assertRejected(raw, 'spec.service.gatewayRefs', GATEWAY_REFS_REQUIRED);
    assertRejected(
      mutate(raw, ['spec', 'service', 'gatewayRefs'], []),
      'spec.service.gatewayRefs',
      GATEWAY_REFS_REQUIRED,
    );
  }
  ok(mutate(mutate(base(), ['spec', 'provider'], 'kubernetes'), ['spec', 'service', 'gatewayRefs'], DELETE));
});

test('every Flagger provider is supported; unknown ones are rejected as unknown', () => {
  assert.deepEqual([...SUPPORTED_PROVIDERS].sort(), [...FLAGGER_PROVIDERS].sort());
  assertRejected(mutate(base(), ['spec', 'provider'], 'envoy'), 'spec.provider', 'unknown provider "envoy"');
  assertRejected(mutate(base(), ['spec', 'provider'], 'Istio'), 'spec.provider', 'unknown provider "Istio"');
});

test('cookieName must differ from primaryCookieName', () => {
  const raw = mutate(
    parseYaml(SESSION_AFFINITY_CANARY),
    ['spec', 'analysis', 'sessionAffinity', 'primaryCookieName'],
    'flagger-cookie',
  );
  assertRejected(raw, 'spec.analysis.sessionAffinity.primaryCookieName', 'must differ from cookieName');
});

test('stepWeights must be positive and strictly increasing; overflow above 100 is accepted as in Flagger', () => {
  const at = (ws: unknown) => mutate(parseYaml(SESSION_AFFINITY_CANARY), ['spec', 'analysis', 'stepWeights'], ws);
  assertRejected(at([10, 5]), 'spec.analysis.stepWeights', 'strictly increasing');
  assertRejected(at([10, 10]), 'spec.analysis.stepWeights', 'strictly increasing');
  assertRejected(at([0, 10]), 'spec.analysis.stepWeights[0]', 'at least 1');
  assertRejected(at([-5, 10]), 'spec.analysis.stepWeights[0]', 'at least 1');
  const overflow = parseCanary(at([1, 2, 10, 200]));
  assert.ok(overflow.ok, 'the rollout clamps 200 to maxWeight, like Flagger');
  assertRejected(at([]), 'spec.analysis.stepWeights', 'at least 1 item');
});

test('maxWeight must be within 1..100', () => {
  for (const w of [0, -1, 101, 1000])
    assertRejected(
      mutate(base(), ['spec', 'analysis', 'maxWeight'], w),
      'spec.analysis.maxWeight',
      /at (least 1|most 100)/,
    );
  for (const w of [1, 100]) ok(mutate(base(), ['spec', 'analysis', 'maxWeight'], w));
});

test('thresholdRange min must not exceed max', () => {
  const raw = mutate(base(), ['spec', 'analysis', 'metrics', 0, 'thresholdRange'], { min: 5, max: 1 });
  assertRejected(raw, 'spec.analysis.metrics[0].thresholdRange.min', 'must not exceed max');
  ok(mutate(base(), ['spec', 'analysis', 'metrics', 0, 'thresholdRange'], { min: 1, max: 1 }));
});

test('mirrorWeight requires mirror', () => {
  assertRejected(
    mutate(base(), ['spec', 'analysis', 'mirrorWeight'], 50),
    'spec.analysis.mirrorWeight',
    'requires mirror: true',
  );
  const mirrored = ok(
    mutate(mutate(base(), ['spec', 'analysis', 'mirrorWeight'], 50), ['spec', 'analysis', 'mirror'], true),
  );
  assert.equal(deriveStrategy(mirrored.spec).mirrored, true);
});

test('metrics need a query, a templateRef or a builtin name', () => {
  const raw = mutate(base(), ['spec', 'analysis', 'metrics', 0], { name: 'custom', thresholdRange: { max: 1 } });
  assertRejected(raw, 'spec.analysis.metrics[0]', 'needs a query, a templateRef, or a builtin name');
  ok(mutate(base(), ['spec', 'analysis', 'metrics', 0], { name: 'custom', query: 'sum(up)' }));
  ok(mutate(base(), ['spec', 'analysis', 'metrics', 0], { name: 'request-duration' }));
});

test('A/B testing needs iterations', () => {
  const raw = mutate(base(), ['spec', 'analysis', 'match'], [{ headers: { 'x-canary': { exact: 'yes' } } }]);
  assertRejected(raw, 'spec.analysis.iterations', 'A/B testing (analysis.match) requires iterations');
});

test('exactly one of iterations, stepWeight, stepWeights (Flagger CRD oneOf)', () => {
  const none = mutate(base(), ['spec', 'analysis', 'stepWeight'], DELETE);
  assertRejected(none, 'spec.analysis', 'set one of iterations');
  const both = mutate(base(), ['spec', 'analysis', 'iterations'], 5);
  assertRejected(both, 'spec.analysis.stepWeight', 'set only one of iterations, stepWeight');
  const weights = mutate(base(), ['spec', 'analysis', 'stepWeights'], [10, 20]);
  assertRejected(weights, 'spec.analysis.stepWeights', 'set only one of stepWeight, stepWeights');
});

test('service is required unless the target is a Service', () => {
  const raw = mutate(base(), ['spec', 'service'], DELETE);
  assertRejected(raw, 'spec.service', 'is required');
  const serviceTarget = mutate(
    mutate(raw, ['spec', 'provider'], 'kubernetes'),
    ['spec', 'targetRef', 'kind'],
    'Service',
  );
  ok(serviceTarget);
});

test('string matches take exactly one operator', () => {
  const raw = mutate(parseYaml(AB_CANARY), ['spec', 'analysis', 'match', 0, 'headers', 'x-canary'], {
    exact: 'a',
    regex: 'b',
  });
  assertRejected(raw, 'spec.analysis.match[0].headers["x-canary"]', 'exactly one of exact, prefix, suffix, regex');
  const cookie = mutate(parseYaml(AB_CANARY), ['spec', 'analysis', 'match', 2, 'cookies', 'canary'], { prefix: 'a' });
  assertRejected(cookie, 'spec.analysis.match[2].cookies.canary', 'exactly one of exact, regex');
});

test('autoscaler primary replicas: min must not exceed max', () => {
  const raw = mutate(base(), ['spec', 'autoscalerRef', 'primaryScalerReplicas'], { minReplicas: 5, maxReplicas: 2 });
  assertRejected(raw, 'spec.autoscalerRef.primaryScalerReplicas.minReplicas', 'must not exceed maxReplicas');
});

// ---------------------------------------------------------------------------------------------------------------
// Strategy derivation

test('deriveStrategy follows Flagger precedence: A/B, then blue/green, then canary', () => {
  const spec = ok(AB_CANARY).spec;
  assert.equal(deriveStrategy(spec).strategy, 'ab-testing');
  assert.equal(deriveStrategy({ ...spec, analysis: { ...spec.analysis, match: [] } }).strategy, 'blue-green');
  const canary = { ...spec, analysis: { ...spec.analysis, match: [], iterations: undefined, stepWeight: 5 } };
  assert.equal(deriveStrategy(canary).strategy, 'canary');
});

test('deriveStrategy: kubernetes provider forces blue/green like Flagger, with its warnings', () => {
  const spec = ok(
    mutate(mutate(base(), ['spec', 'provider'], 'kubernetes'), ['spec', 'service', 'gatewayRefs'], DELETE),
  ).spec;
  const plan = deriveStrategy(spec);
  assert.equal(plan.strategy, 'blue-green');
  assert.equal(plan.iterations, 10);
  assert.deepEqual(plan.warnings, [
    'Progressive traffic is not supported when using the kubernetes provider',
    'Setting canaryAnalysis.iterations: 10',
  ]);
  const ab = deriveStrategy(ok(mutate(parseYaml(AB_CANARY), ['spec', 'provider'], 'kubernetes')).spec);
  assert.equal(ab.strategy, 'blue-green');
  assert.ok(ab.warnings.includes('A/B testing is not supported when using the kubernetes provider'));
});

test('deriveStrategy: nginx A/B warns about the cookie matches ingress-nginx cannot express', () => {
  const nginx = (match: unknown) =>
    ok(
      mutate(
        mutate(mutate(parseYaml(AB_CANARY), ['spec', 'provider'], 'nginx'), ['spec', 'analysis', 'match'], match),
        ['spec', 'ingressRef'],
        { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'podinfo' },
      ),
    ).spec;
  // Flagger's Istio A/B tutorial match: the user-agent regex is kept, the cookie header regex cannot be.
  const istioStyle = [
    { headers: { 'user-agent': { regex: '.*Firefox.*' } } },
    { headers: { cookie: { regex: '^(.*?;)?(type=insider)(;.*)?$' } } },
    { cookies: { type: { exact: 'insider' } } },
  ];
  assert.deepEqual(deriveStrategy(nginx(istioStyle)).warnings, [
    'analysis.match[1].headers.cookie is ignored by the nginx provider: ingress-nginx selects a cookie by name (exact) only',
    'analysis.match[2].cookies is ignored by the nginx provider: ingress-nginx selects a cookie by name (headers.cookie.exact)',
  ]);
  // Flagger's nginx tutorial match: a header and a cookie name, both expressible.
  const nginxStyle = [{ headers: { 'x-canary': { exact: 'insider' } } }, { headers: { cookie: { exact: 'canary' } } }];
  assert.deepEqual(deriveStrategy(nginx(nginxStyle)).warnings, []);
  // Other providers express the cookie regex (Istio) or say nothing of nginx.
  const istio = ok(
    mutate(mutate(parseYaml(AB_CANARY), ['spec', 'provider'], 'istio'), ['spec', 'analysis', 'match'], istioStyle),
  );
  assert.deepEqual(deriveStrategy(istio.spec).warnings, []);
});

test('deriveStrategy: mirroring applies to blue/green and canary, never to A/B testing', () => {
  const bg = ok(
    mutate(mutate(parseYaml(AB_CANARY), ['spec', 'analysis', 'match'], []), ['spec', 'analysis', 'mirror'], true),
  );
  assert.deepEqual(deriveStrategy(bg.spec), { strategy: 'blue-green', mirrored: true, iterations: 10, warnings: [] });
  const ab = ok(mutate(parseYaml(AB_CANARY), ['spec', 'analysis', 'mirror'], true));
  const plan = deriveStrategy(ab.spec);
  assert.equal(plan.mirrored, false);
  assert.equal(plan.warnings.length, 1);
});

test('serviceNames defaults to the target name', () => {
  assert.deepEqual(serviceNames(ok(GATEWAY_CANARY)), {
    apex: 'podinfo',
    primary: 'podinfo-primary',
    canary: 'podinfo-canary',
  });
  const named = ok(mutate(base(), ['spec', 'service', 'name'], 'web'));
  assert.equal(serviceNames(named).primary, 'web-primary');
});

// ---------------------------------------------------------------------------------------------------------------
// Durations

test('parseDuration reads Go durations into milliseconds', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['1m', 60_000],
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['1000us', 1],
    ['1000µs', 1],
    ['1000000ns', 1],
    ['.5s', 500],
  ];
  for (const [s, ms] of cases) assert.equal(parseDuration(s), ms, s);
});

test('parseDuration explains bad durations', () => {
  for (const bad of ['', '1', '10', '1x', '-1s', '+1s', 'ms', '1 m', 'm1', '1m 30s', '1h2', 'P1D', '1e3s', '1.2.3s']) {
    assert.throws(() => parseDuration(bad), /invalid duration .*expected a Go duration such as "30s"/, bad);
  }
  assert.throws(() => parseDuration('9999999999h'), /too large/);
  assert.throws(() => parseDuration(5 as unknown as string), /expected a duration string/);
});

test('formatPath renders paths a user can find in YAML', () => {
  assert.equal(formatPath(['spec', 'analysis', 'metrics', 0, 'interval']), 'spec.analysis.metrics[0].interval');
  assert.equal(formatPath(['spec', 'match', 0, 'headers', 'x-user']), 'spec.match[0].headers["x-user"]');
  assert.equal(formatPath([]), '(root)');
});

// ---------------------------------------------------------------------------------------------------------------
// MetricTemplate and AlertProvider

test('MetricTemplate and AlertProvider parse Flagger examples and reject broken ones', () => {
  const mt = parseMetricTemplate({
    apiVersion: 'flagger.app/v1beta1',
    kind: 'MetricTemplate',
    metadata: { name: 'latency', namespace: 'istio-system' },
    spec: {
      provider: { type: 'prometheus', address: 'http://prometheus.istio-system:9090' },
      query: 'histogram_quantile(0.99, sum(rate(x{namespace="{{ namespace }}"}[{{ interval }}])) by (le))',
    },
  });
  assert.ok(mt.ok);
  assert.equal(mt.metricTemplate.spec.provider.type, 'prometheus');
  const badMt = parseMetricTemplate({ metadata: { name: 'x' }, spec: { provider: { type: 'nagios' } } });
  assert.ok(!badMt.ok);
  assert.deepEqual(badMt.errors.map((e) => e.path).sort(), ['spec.provider.type', 'spec.query']);

  const ap = parseAlertProvider({
    metadata: { name: 'on-call' },
    spec: { type: 'slack', channel: 'on-call-alerts', username: 'flagger', secretRef: { name: 'on-call-url' } },
  });
  assert.ok(ap.ok);
  assert.equal(ap.alertProvider.kind, 'AlertProvider');
  const noAddress = parseAlertProvider({ metadata: { name: 'x' }, spec: { type: 'msteams' } });
  assert.ok(!noAddress.ok);
  assert.equal(noAddress.errors[0]?.path, 'spec.address');
  assert.ok(!parseAlertProvider(null).ok);
  assert.ok(!parseMetricTemplate([]).ok);
});
