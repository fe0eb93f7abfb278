// Metric providers by MetricTemplate `spec.provider.type`. Flagger knows more types than fledge implements;
// an unimplemented one is a configuration error that names the ones that work.
import { ProviderConfigError } from './errors.ts';
import { createCloudWatchProvider } from './cloudwatch.ts';
import { createDatadogProvider } from './datadog.ts';
import { createDynatraceProvider } from './dynatrace.ts';
import { createExternalMetricsProvider } from './externalmetrics.ts';
import { createGraphiteProvider } from './graphite.ts';
import { createInfluxdbProvider } from './influxdb.ts';
import { createKeptnProvider } from './keptn.ts';
import { createNewRelicProvider } from './newrelic.ts';
import { createPrometheusProvider } from './prometheus.ts';
import { createSplunkProvider } from './splunk.ts';
import { createStackdriverProvider } from './stackdriver.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

export type { MetricsProvider, ProviderOptions };

const FACTORIES: Record<string, (opts: ProviderOptions) => MetricsProvider> = {
  prometheus: createPrometheusProvider,
  datadog: createDatadogProvider,
  cloudwatch: createCloudWatchProvider,
  newrelic: createNewRelicProvider,
  dynatrace: createDynatraceProvider,
  graphite: createGraphiteProvider,
  influxdb: createInfluxdbProvider,
  stackdriver: createStackdriverProvider,
  externalmetrics: createExternalMetricsProvider,
  keptn: (opts) => createKeptnProvider(opts),
  splunk: createSplunkProvider,
};

export function supportedProviderTypes(): string[] {
  return Object.keys(FACTORIES);
}

export function createProvider(opts: ProviderOptions): MetricsProvider {
  const factory = FACTORIES[opts.provider.type];
  if (!factory) {
    throw new ProviderConfigError(
      `provider type ${opts.provider.type} is not supported by fledge (supported: ${supportedProviderTypes().join(', ')})`,
    );
  }
  return factory(opts);
}
