import { z } from 'zod';
import { API_VERSION, ObjectMetaSchema } from './canary.ts';

/** Metric providers Flagger v1.44 knows; which ones fledge implements is the metrics registry's business. */
export const METRIC_PROVIDERS = [
  'prometheus',
  'influxdb',
  'datadog',
  'externalmetrics',
  'stackdriver',
  'cloudwatch',
  'newrelic',
  'graphite',
  'dynatrace',
  'keptn',
  'splunk',
] as const;
export type MetricProviderType = (typeof METRIC_PROVIDERS)[number];

export const MetricTemplateProviderSchema = z.object({
  type: z.enum(METRIC_PROVIDERS).meta({ description: 'Type of this provider' }),
  address: z.string().optional().meta({ description: 'API address of this provider' }),
  secretRef: z
    .object({ name: z.string().min(1) })
    .optional()
    .meta({ description: 'Secret holding the provider credentials' }),
  region: z.string().optional().meta({ description: 'Region of the provider (CloudWatch)' }),
  insecureSkipVerify: z.boolean().optional().meta({ description: 'Skip TLS verification of the address' }),
  headers: z
    .record(z.string(), z.array(z.string()))
    .optional()
    .meta({ description: 'HTTP headers added to provider requests' }),
});
export type MetricTemplateProvider = z.infer<typeof MetricTemplateProviderSchema>;

export const MetricTemplateSpecSchema = z
  .object({
    provider: MetricTemplateProviderSchema,
    query: z.string().min(1).meta({ description: 'Query template, rendered with the canary variables' }),
  })
  .meta({ description: 'MetricTemplateSpec defines the desired state of a MetricTemplate.' });
export type MetricTemplateSpec = z.infer<typeof MetricTemplateSpecSchema>;

const ConditionSchema = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastUpdateTime: z.string().optional(),
  lastTransitionTime: z.string().optional(),
});

export const MetricTemplateSchema = z
  .object({
    apiVersion: z.literal(API_VERSION).default(API_VERSION),
    kind: z.literal('MetricTemplate').default('MetricTemplate'),
    metadata: ObjectMetaSchema,
    spec: MetricTemplateSpecSchema,
    status: z
      .object({ conditions: z.array(ConditionSchema).optional() })
      .optional()
      .catch(undefined),
  })
  .meta({ description: 'MetricTemplate is the Schema for the MetricTemplates API.' });
export type MetricTemplate = z.infer<typeof MetricTemplateSchema>;
