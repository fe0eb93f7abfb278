// A builtin-metrics observer: the PromQL of `request-success-rate` (percent) and `request-duration` (P99) for
// one mesh or ingress, written as query templates and rendered with the canary's model like a MetricTemplate.

export interface Observer {
  /** Flagger's provider name, used in the "no values found for <provider> metric …" message. */
  name: string;
  /** Non-5xx requests as a percentage (0–100) of all requests in the window. */
  successRate: string;
  /** A latency over the window (P99 for histograms); its result unit is `durationUnit`. */
  duration: string;
  durationUnit: 'ms' | 's';
}
