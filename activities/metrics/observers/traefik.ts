import type { Observer } from './observer.ts';

const SELECTOR = `service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"`;

/** Traefik's histogram is in seconds (Flagger read it as milliseconds; fledge converts). */
export const traefik: Observer = {
  name: 'traefik',
  successRate: `
  sum(rate(traefik_service_request_duration_seconds_bucket{${SELECTOR}, code!~"5..", le="+Inf"}[{{ interval }}]))
  /
  sum(rate(traefik_service_request_duration_seconds_bucket{${SELECTOR}, le="+Inf"}[{{ interval }}]))
  * 100`,
  duration: `
  histogram_quantile(0.99, sum(rate(traefik_service_request_duration_seconds_bucket{${SELECTOR}}[{{ interval }}])) by (le))`,
  durationUnit: 's',
};
