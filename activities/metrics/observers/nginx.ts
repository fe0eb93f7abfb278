import type { Observer } from './observer.ts';

// Requests the canary Ingress served (ingress-nginx sets `canary` on them), as Flagger's pkg/metrics/observers/nginx.go.
const SELECTOR = `namespace="{{ namespace }}", ingress="{{ ingress }}", canary!=""`;

/** NGINX reports no latency histogram per ingress: the duration is the mean response time, as in Flagger. */
export const nginx: Observer = {
  name: 'nginx',
  successRate: `
  sum(rate(nginx_ingress_controller_requests{${SELECTOR}, status!~"5.*"}[{{ interval }}]))
  /
  sum(rate(nginx_ingress_controller_requests{${SELECTOR}}[{{ interval }}]))
  * 100`,
  duration: `
  sum(rate(nginx_ingress_controller_response_duration_seconds_sum{${SELECTOR}}[{{ interval }}]))
  /
  sum(rate(nginx_ingress_controller_response_duration_seconds_count{${SELECTOR}}[{{ interval }}]))
  * 1000`,
  durationUnit: 'ms',
};
