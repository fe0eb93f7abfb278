// MetricTemplate rendering: Flagger's variables, Go's trimming forms, errors that point at the action, and the
// seed-style templates rendering to the exact PromQL Prometheus receives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderQuery, TemplateError, type TemplateModel } from '../../activities/metrics/index.ts';
import { collapseWhitespace } from '../../activities/metrics/prometheus.ts';
import { observerFor } from '../../activities/metrics/observers/index.ts';

const model: TemplateModel = {
  name: 'podinfo',
  namespace: 'test',
  target: 'podinfo',
  service: 'podinfo-svc',
  ingress: 'podinfo-ing',
  route: 'podinfo-route',
  interval: '1m',
  variables: { direction: 'inbound', quantile: '0.95' },
};

test('every Flagger variable renders, with spaces or without', () => {
  const q = '{{name}} {{ namespace }} {{ target }} {{ service }} {{ ingress }} {{ route }} {{ interval }}';
  assert.equal(renderQuery(q, model), 'podinfo test podinfo podinfo-svc podinfo-ing podinfo-route 1m');
  assert.equal(renderQuery('{{ variables.direction }}/{{variables.quantile}}', model), 'inbound/0.95');
});

test('whitespace trimming forms behave like Go text/template', () => {
  assert.equal(renderQuery('a  \n {{- target -}} \n  b', model), 'apodinfob');
  assert.equal(renderQuery('a {{- target }} b', model), 'apodinfo b');
  assert.equal(renderQuery('a {{ target -}} b', model), 'a podinfob');
  assert.equal(renderQuery('x{{/* a comment */}}y {{- /* trimmed */ -}} z', model), 'xyz');
});

test('text without actions and lone braces pass through', () => {
  assert.equal(renderQuery('sum(rate(x{a="}"}[5m]))', model), 'sum(rate(x{a="}"}[5m]))');
});

test('an unknown name, a missing variable and bad syntax name the template and the position', () => {
  assert.throws(
    () => renderQuery('sum(\n  rate(x{ns="{{ nmespace }}"}))', model, 'latency.istio-system'),
    (err: Error) =>
      err instanceof TemplateError &&
      err.message === 'template latency.istio-system: line 2, column 14: function "nmespace" not defined',
  );
  assert.throws(
    () => renderQuery('{{ variables.missing }}', model, 't.ns'),
    /template t\.ns: line 1, column 1: no variable "missing" \(templateVariables has direction, quantile\)/,
  );
  assert.throws(() => renderQuery('a {{ target ', model, 't.ns'), /line 1, column 3: unclosed action/);
  assert.throws(() => renderQuery('{{ if target }}x{{ end }}', model, 't.ns'), /unsupported action/);
  assert.throws(() => renderQuery('{{ .Name }}', model, 't.ns'), /unsupported action/);
  assert.throws(() => renderQuery('{{ }}', model, 't.ns'), /missing value for command/);
  assert.throws(() => renderQuery('{{ variables }}', model, 't.ns'), /needs exactly one key/);
});

// Seed-style templates, as users write them for Flagger.
const ISTIO_LATENCY = `
histogram_quantile(0.99,
  sum(
    irate(
      istio_request_duration_milliseconds_bucket{
        reporter="destination",
        destination_workload_namespace="{{ namespace }}",
        destination_workload=~"{{ target }}"
      }[{{ interval }}]
    )
  ) by (le)
)`;

const ISTIO_ERROR_RATE = `
100 - sum(
    rate(
        istio_requests_total{
            reporter="destination",
            destination_workload_namespace="{{ namespace }}",
            destination_workload=~"{{ target }}",
            response_code!~"5.*"
        }[{{ interval }}]
    )
)
/
sum(
    rate(
        istio_requests_total{
            reporter="destination",
            destination_workload_namespace="{{ namespace }}",
            destination_workload=~"{{ target }}"
        }[{{ interval }}]
    )
) * 100`;

const NOT_FOUND_RATE = `
sum(
  rate(
    istio_requests_total{
      destination_service=~"{{ service }}.{{ namespace }}.svc.cluster.local",
      response_code="404"
    }[{{ interval }}]
  )
)
/
sum(
  rate(
    istio_requests_total{
      destination_service=~"{{ service }}.{{ namespace }}.svc.cluster.local"
    }[{{ interval }}]
  )
) * 100`;

const promql = (source: string, m: TemplateModel = model) => collapseWhitespace(renderQuery(source, m)).trim();

test('seed Istio latency template renders to the exact PromQL', () => {
  assert.equal(
    promql(ISTIO_LATENCY, { ...model, interval: '30s' }),
    'histogram_quantile(0.99, sum( irate( istio_request_duration_milliseconds_bucket{ reporter="destination", ' +
      'destination_workload_namespace="test", destination_workload=~"podinfo" }[30s] ) ) by (le) )',
  );
});

test('seed Istio error-rate template renders to the exact PromQL', () => {
  assert.equal(
    promql(ISTIO_ERROR_RATE),
    '100 - sum( rate( istio_requests_total{ reporter="destination", destination_workload_namespace="test", ' +
      'destination_workload=~"podinfo", response_code!~"5.*" }[1m] ) ) / sum( rate( istio_requests_total{ ' +
      'reporter="destination", destination_workload_namespace="test", destination_workload=~"podinfo" }[1m] ) ) * 100',
  );
});

test('seed 404-rate template uses {{ service }}', () => {
  assert.equal(
    promql(NOT_FOUND_RATE),
    'sum( rate( istio_requests_total{ destination_service=~"podinfo-svc.test.svc.cluster.local", ' +
      'response_code="404" }[1m] ) ) / sum( rate( istio_requests_total{ ' +
      'destination_service=~"podinfo-svc.test.svc.cluster.local" }[1m] ) ) * 100',
  );
});

test('builtin observer queries have Flagger shapes', () => {
  assert.equal(
    promql(observerFor('istio').successRate),
    'sum( rate( istio_requests_total{ reporter="destination", destination_workload_namespace="test", ' +
      'destination_workload=~"podinfo", response_code!~"5.*" }[1m] ) ) / sum( rate( istio_requests_total{ ' +
      'reporter="destination", destination_workload_namespace="test", destination_workload=~"podinfo" }[1m] ) ) * 100',
  );
  assert.equal(
    promql(observerFor('kubernetes').duration),
    'histogram_quantile( 0.99, sum( rate( http_request_duration_seconds_bucket{ kubernetes_namespace="test", ' +
      'kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)" }[1m] ) ) by (le) )',
  );
  assert.equal(observerFor('gatewayapi:v1').name, 'gatewayapi');
  assert.equal(observerFor('appmesh:v1beta2').name, 'appmesh', 'both App Mesh versions share the observer');
  assert.equal(
    promql(observerFor('appmesh').successRate),
    'sum(rate(envoy_cluster_upstream_rq{kubernetes_namespace="test", kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", ' +
      'envoy_response_code!~"5.*"}[1m])) / sum(rate(envoy_cluster_upstream_rq{kubernetes_namespace="test", ' +
      'kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[1m])) * 100',
  );
  assert.equal(observerFor('istio:v9').name, 'istio', 'Flagger falls back to Istio');
  // Flagger pkg/metrics/observers/nginx.go and contour.go, whitespace collapsed.
  const nginxSelector = 'namespace="test", ingress="podinfo-ing", canary!=""';
  assert.equal(
    promql(observerFor('nginx').successRate),
    `sum(rate(nginx_ingress_controller_requests{${nginxSelector}, status!~"5.*"}[1m])) / ` +
      `sum(rate(nginx_ingress_controller_requests{${nginxSelector}}[1m])) * 100`,
  );
  assert.equal(
    promql(observerFor('nginx').duration),
    `sum(rate(nginx_ingress_controller_response_duration_seconds_sum{${nginxSelector}}[1m])) / ` +
      `sum(rate(nginx_ingress_controller_response_duration_seconds_count{${nginxSelector}}[1m])) * 1000`,
  );
  const envoyCluster = 'envoy_cluster_name=~"test_podinfo-svc-canary_[0-9a-zA-Z-]+"';
  assert.equal(
    promql(observerFor('contour').successRate),
    `sum(rate(envoy_cluster_upstream_rq{${envoyCluster}, envoy_response_code!~"5.*"}[1m])) / ` +
      `sum(rate(envoy_cluster_upstream_rq{${envoyCluster}}[1m])) * 100`,
  );
  assert.equal(
    promql(observerFor('contour').duration),
    `histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{${envoyCluster}}[1m])) by (le))`,
  );
  for (const name of ['linkerd', 'osm', 'contour', 'traefik', 'nginx']) {
    const o = observerFor(name);
    assert.equal(o.name, name);
    assert.doesNotThrow(() => promql(o.successRate) + promql(o.duration));
  }
});
