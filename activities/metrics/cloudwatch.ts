// Amazon CloudWatch: GetMetricData through the AWS SDK v3 (loaded on first use, so workers without CloudWatch
// templates never pay for it), the query being the JSON list of MetricDataQuery, looking back 10 × interval,
// newest data first (ScanBy TimestampDescending, CloudWatch's default, pinned). The first result is judged by
// series.ts's rule: its newest complete period. The newest period is partial (EndTime is "now", mid-period) and
// is never judged; Flagger judges it (Values[0]).
//
// fledge additions: `address` overrides the endpoint (VPC endpoints, local test servers), and a secretRef with
// `aws_access_key_id` / `aws_secret_access_key` (/ `aws_session_token`) is used instead of the default chain.
import type * as CloudWatchSdk from '@aws-sdk/client-cloudwatch';
import type { CloudWatchClient, MetricDataQuery, MetricDataResult } from '@aws-sdk/client-cloudwatch';
import { parseDuration } from '../../api/canary.ts';
import { DEFAULT_TIMEOUT_MS } from './http.ts';
import { NoValuesError, ProviderConfigError, ProviderUnavailableError, QueryError, errorText } from './errors.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';
import { judgedPoint, type SeriesPoint } from './series.ts';

const WINDOW_MULTIPLIER = 10;
const MAX_DATAPOINTS = 20;
const MAX_ATTEMPTS = 3;

type Sdk = typeof CloudWatchSdk;
let sdk: Promise<Sdk> | undefined;
const loadSdk = (): Promise<Sdk> => (sdk ??= import('@aws-sdk/client-cloudwatch'));

export function createCloudWatchProvider(opts: ProviderOptions): MetricsProvider {
  const { provider } = opts;
  if (!provider.region) throw new ProviderConfigError('region not specified');
  if (provider.address && !URL.canParse(provider.address)) {
    throw new ProviderConfigError(`cloudwatch address ${provider.address} is not a valid URL`);
  }
  const lookbackMs = WINDOW_MULTIPLIER * intervalMs(opts.interval);
  let client: Promise<CloudWatchClient> | undefined;
  const getClient = () => (client ??= makeClient(opts));

  return {
    type: 'cloudwatch',
    async runQuery(query) {
      const queries = parseQueries(query);
      const { GetMetricDataCommand } = await loadSdk();
      const end = new Date();
      const out = await send(getClient, (c) =>
        c.send(
          new GetMetricDataCommand({
            StartTime: new Date(end.getTime() - lookbackMs),
            EndTime: end,
            MaxDatapoints: MAX_DATAPOINTS,
            ScanBy: 'TimestampDescending',
            MetricDataQueries: queries,
          }),
        ),
      );
      return judgedPoint(resultPoints(out.MetricDataResults?.[0])).value;
    },
    async isOnline() {
      // Flagger's probe: an empty request must fail with 400 (validation), not 403 or a network error.
      const { GetMetricDataCommand } = await loadSdk();
      try {
        await (
          await getClient()
        ).send(new GetMetricDataCommand({ StartTime: new Date(0), EndTime: new Date(0), MetricDataQueries: [] }));
        return true;
      } catch (err) {
        if (httpStatus(err) === 400) return true;
        throw classify(err);
      }
    },
  };
}

async function makeClient({ provider, credentials, timeoutMs }: ProviderOptions): Promise<CloudWatchClient> {
  const { CloudWatchClient } = await loadSdk();
  const staticKeys =
    credentials.aws_access_key_id && credentials.aws_secret_access_key
      ? {
          accessKeyId: credentials.aws_access_key_id,
          secretAccessKey: credentials.aws_secret_access_key,
          sessionToken: credentials.aws_session_token,
        }
      : undefined;
  const timeout = timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new CloudWatchClient({
    region: provider.region,
    endpoint: provider.address || undefined,
    credentials: staticKeys,
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: { requestTimeout: timeout, connectionTimeout: timeout },
  });
}

/**
 * The points of one MetricDataResult: `Timestamps[i]` (start of the period, a Date from the SDK) with `Values[i]`.
 * No result or no values is no values; timestamps and values of different lengths is a malformed answer.
 */
function resultPoints(result: MetricDataResult | undefined): SeriesPoint[] {
  const values = result?.Values ?? [];
  if (values.length === 0) throw new NoValuesError('invalid response: no data points');
  const timestamps = result?.Timestamps ?? [];
  if (timestamps.length !== values.length) {
    throw new QueryError(
      `malformed response: ${timestamps.length} timestamps for ${values.length} values in result ${result?.Id ?? ''}`,
    );
  }
  return values.map((value, i) => ({ timestamp: new Date(timestamps[i]!).getTime(), value }));
}

function parseQueries(query: string): MetricDataQuery[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(query);
  } catch (err) {
    throw new QueryError(`error unmarshaling query: ${errorText(err)}`);
  }
  if (!Array.isArray(parsed)) throw new QueryError('error unmarshaling query: expected a JSON list of MetricDataQuery');
  return parsed as MetricDataQuery[];
}

async function send<T>(getClient: () => Promise<CloudWatchClient>, call: (c: CloudWatchClient) => Promise<T>) {
  try {
    return await call(await getClient());
  } catch (err) {
    throw classify(err);
  }
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** Client faults (bad query, access denied) are failed checks; everything else is the backend's problem. */
function classify(err: unknown): Error {
  const status = httpStatus(err);
  const fault = (err as { $fault?: string })?.$fault;
  const text = `error requesting cloudwatch: ${errorText(err)}`;
  if (status !== undefined && status < 500 && status !== 429 && fault === 'client') return new QueryError(text);
  return new ProviderUnavailableError(text);
}

function intervalMs(interval: string): number {
  try {
    return parseDuration(interval);
  } catch (err) {
    throw new ProviderConfigError(`error parsing metric interval: ${errorText(err)}`);
  }
}
