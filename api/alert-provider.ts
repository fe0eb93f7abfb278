import { z } from 'zod';
import { API_VERSION, ObjectMetaSchema } from './canary.ts';

export const ALERT_PROVIDER_TYPES = ['slack', 'msteams', 'discord', 'rocket', 'gchat'] as const;
export type AlertProviderType = (typeof ALERT_PROVIDER_TYPES)[number];

export const AlertProviderSpecSchema = z
  .object({
    type: z.enum(ALERT_PROVIDER_TYPES).meta({ description: 'Type of this provider' }),
    channel: z.string().optional().meta({ description: 'Alert channel for this provider' }),
    username: z.string().optional().meta({ description: 'Bot username for this provider' }),
    address: z.string().optional().meta({ description: 'Hook URL address of this provider' }),
    proxy: z.string().optional().meta({ description: 'HTTP(S) proxy of this provider' }),
    secretRef: z
      .object({ name: z.string().min(1) })
      .optional()
      .meta({ description: 'Secret whose `address` (and optional `token`, `proxy`) keys override the spec' }),
  })
  // Flagger's CRD demands one of address and secretRef; we also accept both (the secret wins, as in Flagger).
  .refine((s) => Boolean(s.address) || s.secretRef !== undefined, {
    message: 'set address or secretRef: the provider needs somewhere to post alerts',
    path: ['address'],
  })
  .meta({ description: 'AlertProviderSpec defines the desired state of an AlertProvider.' });
export type AlertProviderSpec = z.infer<typeof AlertProviderSpecSchema>;

export const AlertProviderSchema = z
  .object({
    apiVersion: z.literal(API_VERSION).default(API_VERSION),
    kind: z.literal('AlertProvider').default('AlertProvider'),
    metadata: ObjectMetaSchema,
    spec: AlertProviderSpecSchema,
    status: z.looseObject({}).optional().catch(undefined),
  })
  .meta({ description: 'AlertProvider is the Schema for the AlertProvider API.' });
export type AlertProvider = z.infer<typeof AlertProviderSchema>;
