import type { Observer } from './observer.ts';

const SELECTOR = `namespace="{{ namespace }}", ingress="{{ ingress }}"`;

/** NGINX reports no latency histogram per ingress: the duration is the mean upstream latency, as in Flagger. */
export const nginx: Observer = {
  name: 'nginx',
  successRate: `
  sum(rate(nginx_ingress_controller_requests{${SELECTOR}, status!~"5.*"}[{{ interval }}]))
  /
  sum(rate(nginx_ingress_controller_requests{${SELECTOR}}[{{ interval }}]))
  * 100`,
  duration: `
  sum(rate(nginx_ingress_controller_ingress_upstream_latency_seconds_sum{${SELECTOR}}[{{ interval }}]))
  /
  sum(rate(nginx_ingress_controller_ingress_upstream_latency_seconds_count{${SELECTOR}}[{{ interval }}]))
  * 1000`,
  durationUnit: 'ms',
};
