// Splunk Observability Cloud (SignalFx): the query is a SignalFlow program, run as a computation over the last
// 10 × the metric interval through SignalFlow's WebSocket API (signalflow.ts), with the org token from the Secret
// key `sf_token_key` (Flagger pkg/metrics/providers/splunk.go). Flagger judges the last data message's value, the
// bucket still filling when the job runs with `immediate: true`; fledge judges series.ts's point (the newest
// complete bucket) of the one time series the program publishes.
import { DEFAULT_TIMEOUT_MS, getText, intervalMs } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
import { compute, type DataMessage } from './signalflow.ts';
import { judgedPoint, type SeriesPoint } from './series.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

const TOKEN_KEY = 'sf_token_key';
/** Flagger's window: 10 × the metric interval, ending now. */
const WINDOW_INTERVALS = 10;

/**
 * The two endpoints of a Splunk address (pure), as Flagger derives them: the SignalFlow stream
 * (`https://api.<realm>.signalfx.com` → `wss://stream.<realm>.signalfx.com/v2/signalflow/connect`) and the REST
 * API's validation call (`…/v2/metric?limit=1` on `api.`). Either form of address works. Flagger replaces the
 * first `http`/`api` anywhere in the string; fledge rewrites the scheme and the host only. ProviderConfigError when
 * the address is missing or not a URL.
 */
export function splunkEndpoints(address: string | undefined): { stream: URL; validation: URL } {
  if (!address) throw new ProviderConfigError('splunk endpoint is not set');
  if (!URL.canParse(address)) throw new ProviderConfigError(`splunk address ${address} is not a valid URL`);
  const base = new URL(address);
  const path = base.pathname.replace(/\/+$/, '');
  const secure = base.protocol === 'https:' || base.protocol === 'wss:';
  const stream = new URL(base);
  stream.protocol = secure ? 'wss:' : 'ws:';
  stream.hostname = base.hostname.replace('api', 'stream');
  stream.pathname = `${path}/v2/signalflow/connect`;
  stream.search = '';
  const validation = new URL(base);
  validation.protocol = secure ? 'https:' : 'http:';
  validation.hostname = base.hostname.replace('stream', 'api');
  validation.pathname = `${path}/v2/metric`;
  validation.search = 'limit=1';
  return { stream, validation };
}

/**
 * The judged value of a computation's data messages (pure). Payloads of several time series are Flagger's
 * "query returned multiple values" (QueryError); none at all is "invalid response: no values found"
 * (NoValuesError); otherwise the series (a message without the series' payload is a gap) goes through
 * `judgedPoint`, so the newest, still-filling bucket is never judged.
 */
export function judgedSignalFlowValue(messages: readonly DataMessage[]): number {
  const tsids = new Set(messages.flatMap((m) => m.payloads.map((p) => p.tsid)));
  if (tsids.size === 0) throw new NoValuesError('invalid response');
  if (tsids.size > 1) throw new QueryError('invalid response: query returned multiple values');
  const points: SeriesPoint[] = messages.map((m) => ({
    timestamp: m.timestampMs,
    value: m.payloads[0]?.value ?? null,
  }));
  return judgedPoint(points).value;
}

/**
 * `address` (ProviderConfigError "splunk endpoint is not set") and the Secret key `sf_token_key` ("splunk
 * credentials does not contain sf_token_key") are required. runQuery: see `compute` and `judgedSignalFlowValue`
 * for the errors. isOnline: `GET <api>/v2/metric?limit=1` with `X-SF-Token` answers 2xx.
 */
export function createSplunkProvider(opts: ProviderOptions): MetricsProvider {
  const { stream, validation } = splunkEndpoints(opts.provider.address);
  const token = opts.credentials[TOKEN_KEY];
  if (token === undefined) throw new ProviderConfigError(`splunk credentials does not contain ${TOKEN_KEY}`);
  const windowMs = WINDOW_INTERVALS * intervalMs(opts.interval);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    type: 'splunk',
    async runQuery(query) {
      const stopMs = Date.now();
      const messages = await compute({
        url: stream,
        token,
        program: query,
        startMs: stopMs - windowMs,
        stopMs,
        timeoutMs,
      });
      return judgedSignalFlowValue(messages);
    },
    async isOnline() {
      await getText(validation, { headers: { 'x-sf-token': token }, timeoutMs });
      return true;
    },
  };
}
