// How a metric query can go wrong, sorted by what the rollout should do about it.
//
// Flagger counts every failed query as a failed check. fledge separates the cases: a backend that cannot be
// reached is an infrastructure problem (the activity is retried and no check is counted), while a query that
// ran and gave nothing usable is a failed check, exactly as Flagger counts it.

/** The backend could not answer: network error, timeout, 5xx, 429. Retried, never a failed check. */
export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
}

/** The query ran and returned no data (empty result, NaN). Judged by the metric's `noDataPolicy`. */
export class NoValuesError extends Error {
  override name = 'NoValuesError';
  constructor(detail?: string) {
    super(detail ? `${detail}: no values found` : 'no values found');
  }
}

/** The query ran but its answer is unusable: 4xx (bad query, bad credentials), several values, bad payload. */
export class QueryError extends Error {
  override name = 'QueryError';
}

/** The provider or template is misconfigured: bad address, missing credentials, unknown provider type. */
export class ProviderConfigError extends Error {
  override name = 'ProviderConfigError';
}

/** The query template does not render; names the template and the position. */
export class TemplateError extends Error {
  override name = 'TemplateError';
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
