import type { Observer } from './observer.ts';

const SELECTOR = `namespace="{{ namespace }}",
        deployment=~"{{ target }}",
        direction="inbound"`;

export const linkerd: Observer = {
  name: 'linkerd',
  successRate: `
  sum(rate(response_total{${SELECTOR}, classification!="failure"}[{{ interval }}]))
  /
  sum(rate(response_total{${SELECTOR}}[{{ interval }}]))
  * 100`,
  duration: `
  histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{${SELECTOR}}[{{ interval }}])) by (le))`,
  durationUnit: 'ms',
};
