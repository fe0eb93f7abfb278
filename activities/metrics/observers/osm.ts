import type { Observer } from './observer.ts';

// Open Service Mesh's Envoy metrics by destination Deployment (Flagger pkg/metrics/observers/osm.go).
const SELECTOR = `destination_namespace="{{ namespace }}",
        destination_kind="Deployment",
        destination_name="{{ target }}"`;

export const osm: Observer = {
  name: 'osm',
  successRate: `
  sum(rate(osm_request_total{${SELECTOR}, response_code!~"5.*"}[{{ interval }}]))
  /
  sum(rate(osm_request_total{${SELECTOR}}[{{ interval }}]))
  * 100`,
  duration: `
  histogram_quantile(0.99, sum(rate(osm_request_duration_ms_bucket{${SELECTOR}}[{{ interval }}])) by (le))`,
  durationUnit: 'ms',
};
