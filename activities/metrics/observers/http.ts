// App-exported `http_request_duration_seconds` histogram, scraped with Kubernetes pod labels: Flagger's
// HttpObserver, used for the `kubernetes` provider and (in fledge) for Gateway API.
import type { Observer } from './observer.ts';

const SELECTOR = `kubernetes_namespace="{{ namespace }}",
        kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"`;

export function httpObserver(name: string): Observer {
  return {
    name,
    successRate: `
  sum(
    rate(
      http_request_duration_seconds_count{
        ${SELECTOR},
        status!~"5.*"
      }[{{ interval }}]
    )
  )
  /
  sum(
    rate(
      http_request_duration_seconds_count{
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
        http_request_duration_seconds_bucket{
          ${SELECTOR}
        }[{{ interval }}]
      )
    ) by (le)
  )`,
    durationUnit: 's',
  };
}
