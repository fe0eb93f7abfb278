import type { Observer } from './observer.ts';

// Envoy cluster of the canary Service (service.name, else targetRef.name), e.g. "test_podinfo-canary_9898"
// (Flagger pkg/metrics/observers/contour.go).
const SELECTOR = `envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+"`;

export const contour: Observer = {
  name: 'contour',
  successRate: `
  sum(rate(envoy_cluster_upstream_rq{${SELECTOR}, envoy_response_code!~"5.*"}[{{ interval }}]))
  /
  sum(rate(envoy_cluster_upstream_rq{${SELECTOR}}[{{ interval }}]))
  * 100`,
  duration: `
  histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{${SELECTOR}}[{{ interval }}])) by (le))`,
  durationUnit: 'ms',
};
