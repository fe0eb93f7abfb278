import type { Observer } from './observer.ts';

const SELECTOR = `reporter="destination",
        destination_workload_namespace="{{ namespace }}",
        destination_workload=~"{{ target }}"`;

export const istio: Observer = {
  name: 'istio',
  successRate: `
  sum(
    rate(
      istio_requests_total{
        ${SELECTOR},
        response_code!~"5.*"
      }[{{ interval }}]
    )
  )
  /
  sum(
    rate(
      istio_requests_total{
        ${SELECTOR}
      }[{{ interval }}]
    )
  )
  * 100`,
  duration: `
  histogram_quantile(
    0.99,
    sum(
      rate(
        istio_request_duration_milliseconds_bucket{
          ${SELECTOR}
        }[{{ interval }}]
      )
    ) by (le)
  )`,
  durationUnit: 'ms',
};
