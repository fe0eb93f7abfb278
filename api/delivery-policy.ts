// DeliveryPolicy (fledge.dev/v1alpha1): when rollouts of the Canaries it selects may start (windows) and when
// they may not (freezes). A fledge-only kind, in fledge's own API group; Flagger has no equivalent
// (docs/delivery-windows.md). The CRD (crds/deliverypolicies.yaml) is generated from this schema.
import { z } from 'zod';
import { ObjectMetaSchema } from './canary.ts';

export const DELIVERY_GROUP = 'fledge.dev';
export const DELIVERY_VERSION = 'v1alpha1';
export const DELIVERY_API_VERSION = `${DELIVERY_GROUP}/${DELIVERY_VERSION}`;
export const DELIVERY_POLICIES = 'deliverypolicies';

export const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** "HH:MM", 00:00 to 23:59. */
export const CLOCK_REGEX = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
/** "HH:MM", 00:00 to 24:00 (24:00 = the end of the day). */
export const CLOCK_END_REGEX = /^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/;

const LabelSelectorRequirementSchema = z.object({
  key: z.string().min(1),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string()).optional(),
});

export const LabelSelectorSchema = z
  .object({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z.array(LabelSelectorRequirementSchema).optional(),
  })
  .meta({ description: 'Label selector on Canaries of the namespace; empty or absent selects every Canary' });
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

export const DeliveryWindowSchema = z
  .object({
    name: z.string().optional().meta({ description: 'Name shown in status messages and events' }),
    days: z
      .array(z.enum(WEEKDAYS))
      .optional()
      .meta({ description: 'Days of the week the window starts on (Mon..Sun); default every day' }),
    start: z.string().regex(CLOCK_REGEX).meta({ description: 'Start, local time "HH:MM" (inclusive)' }),
    end: z
      .string()
      .regex(CLOCK_END_REGEX)
      .meta({ description: 'End, local time "HH:MM" (exclusive; 24:00 = midnight; before start = the next day)' }),
    timeZone: z.string().default('UTC').meta({ description: 'IANA time zone of start and end, e.g. Europe/Berlin' }),
  })
  .refine((w) => w.start !== w.end, { message: 'start and end are equal (use 00:00-24:00 for a whole day)' })
  .meta({ description: 'A time span in which new rollouts may start' });
export type DeliveryWindow = z.infer<typeof DeliveryWindowSchema>;

export const FREEZE_POLICIES = ['hold', 'rollback'] as const;
export type FreezePolicy = (typeof FREEZE_POLICIES)[number];

export const FreezeSchema = z
  .object({
    name: z.string().optional().meta({ description: 'Name of the freeze (`fledge unfreeze --name`)' }),
    from: z.iso
      .datetime({ offset: true })
      .optional()
      .meta({ description: 'Start (RFC 3339); absent = already in force' }),
    until: z.iso.datetime({ offset: true }).meta({ description: 'End (RFC 3339, exclusive)' }),
    reason: z.string().min(1).meta({ description: 'Why; shown in status messages and events' }),
    policy: z
      .enum(FREEZE_POLICIES)
      .default('hold')
      .meta({ description: 'A rollout under way when the freeze begins: hold at its step, or rollback' }),
    by: z.string().optional().meta({ description: 'Who declared it (set by `fledge freeze`)' }),
  })
  .meta({ description: 'A time span in which no rollout starts or advances' });
export type Freeze = z.infer<typeof FreezeSchema>;

export const DeliveryPolicySpecSchema = z
  .object({
    selector: LabelSelectorSchema.optional(),
    windows: z
      .array(DeliveryWindowSchema)
      .optional()
      .meta({ description: 'When new rollouts may start; absent or empty = any time' }),
    freezes: z.array(FreezeSchema).optional().meta({ description: 'When no rollout may start or advance' }),
  })
  .meta({ description: 'DeliveryPolicySpec: delivery windows and freezes of the selected Canaries' });
export type DeliveryPolicySpec = z.infer<typeof DeliveryPolicySpecSchema>;

export const DeliveryPolicySchema = z
  .object({
    apiVersion: z.literal(DELIVERY_API_VERSION).default(DELIVERY_API_VERSION),
    kind: z.literal('DeliveryPolicy').default('DeliveryPolicy'),
    metadata: ObjectMetaSchema,
    spec: DeliveryPolicySpecSchema,
  })
  .meta({ description: 'DeliveryPolicy: delivery windows and freezes for the Canaries of its namespace (fledge)' });
export type DeliveryPolicy = z.infer<typeof DeliveryPolicySchema>;

/** Whether `tz` is an IANA time zone this runtime knows (Intl); windows in an unknown zone never open. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The delivery port: what the rollout workflow asks before a rollout starts and at each analysis tick

/** Input of `checkDelivery`: the Canary, and the instant to judge (the workflow's clock, ms since the epoch). */
export interface DeliveryCheckInput {
  canary: { namespace: string; name: string };
  at: number;
}

/** A freeze in force at the judged instant. */
export interface ActiveFreeze {
  /** `<namespace>/<policy name>` of the DeliveryPolicy. */
  policy: string;
  /** The freeze's name (or its index, `#0`). */
  name: string;
  reason: string;
  /** End of the freeze, ms since the epoch. */
  until: number;
  action: FreezePolicy;
  by?: string;
}

/**
 * What the policies selecting a Canary say at one instant. A new rollout may start when neither `freeze` nor
 * `closedWindow` is set; a rollout under way only cares about `freeze`.
 */
export interface DeliveryVerdict {
  /** `<namespace>/<name>` of every DeliveryPolicy that selects the Canary (empty: none, nothing is held). */
  policies: string[];
  freeze?: ActiveFreeze;
  /** A policy none of whose windows is open: its name and its windows, described. */
  closedWindow?: { policy: string; windows: string };
  /** When set (freeze or closed window): the first instant at which a rollout may start, ms; absent = none
   * within the next 8 days (the workflow asks again a day later). */
  opensAt?: number;
  /** Policies ignored because they are invalid: `<ns>/<name>: <error>`. */
  invalid?: string[];
}

export interface DeliveryPort {
  checkDelivery(input: DeliveryCheckInput): Promise<DeliveryVerdict>;
}
