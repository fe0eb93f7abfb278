// App Mesh builtin metrics (Flagger pkg/metrics/observers/appmesh.go): the Envoy sidecar's upstream request
// counters and time histogram, selected by the pods of the target (`<target>-<hash>-<id>`). Used for `appmesh`
// and `appmesh:v1beta2` alike.
import type { Observer } from './observer.ts';

const SELECTOR = `kubernetes_namespace="{{ namespace }}",
        kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"`;

export const appmesh: Observer = {
  name: 'appmesh',
  successRate: `
  sum(rate(envoy_cluster_upstream_rq{${SELECTOR}, envoy_response_code!~"5.*"}[{{ interval }}]))
  /
  sum(rate(envoy_cluster_upstream_rq{${SELECTOR}}[{{ interval }}]))
  * 100`,
  duration: `
  histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{${SELECTOR}}[{{ interval }}])) by (le))`,
  durationUnit: 'ms',
};
