import type { Observer } from './observer.ts';

// Envoy cluster of the canary revision as Knative's Kourier ingress names it, `<namespace>/<revision>` (Flagger
// pkg/metrics/observers/knative.go); `route` is the Knative Service's latest created revision (metrics/kube.ts).
const SELECTOR = `envoy_cluster_name=~"{{ namespace }}/{{ route }}"`;

export const knative: Observer = {
  name: 'knative',
  successRate: `
  sum(rate(envoy_cluster_upstream_rq{${SELECTOR}, envoy_response_code!~"5.*"}[{{ interval }}]))
  /
  sum(rate(envoy_cluster_upstream_rq{${SELECTOR}}[{{ interval }}]))
  * 100`,
  duration: `
  histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{${SELECTOR}}[{{ interval }}])) by (le))`,
  durationUnit: 'ms',
};
