// Which alerts get which messages, and the metadata fields Flagger adds to "new revision" style alerts.
import type { AlertSeverity } from '../../api/ports.ts';
import type { Field } from './types.ts';

const RANK: Record<AlertSeverity, number> = { info: 0, warn: 1, error: 2 };

/**
 * An alert subscribed at `subscribed` gets messages of that severity and above: info gets everything, warn gets
 * warn and error, error gets error. An empty severity means info. (Flagger v1.44 never fires an alert with an
 * empty severity, and sends warn messages to error subscribers but not error messages to warn subscribers; both
 * are fixed here.)
 */
export function shouldAlert(subscribed: AlertSeverity | '' | undefined, message: AlertSeverity): boolean {
  const level = subscribed && subscribed in RANK ? subscribed : 'info';
  return RANK[message] >= RANK[level];
}

/** The parts of a Canary the metadata fields need, with Flagger's defaults already applied. */
export interface CanaryFacts {
  namespace: string;
  targetRef: { kind: string; name: string };
  threshold: number;
  progressDeadlineSeconds: number;
  stepWeight?: number;
  stepWeights?: number[];
  maxWeight?: number;
  match: boolean;
  iterations?: number;
}

/** Flagger's alertMetadata: Target, Failed checks threshold, Progress deadline and Traffic routing. */
export function alertMetadata(c: CanaryFacts): Field[] {
  const fields: Field[] = [
    { name: 'Target', value: `${c.targetRef.kind}/${c.targetRef.name}.${c.namespace}` },
    { name: 'Failed checks threshold', value: String(c.threshold) },
    { name: 'Progress deadline', value: `${c.progressDeadlineSeconds}s` },
  ];
  const routing = trafficRouting(c);
  if (routing) fields.push({ name: 'Traffic routing', value: routing });
  return fields;
}

function trafficRouting(c: CanaryFacts): string | undefined {
  // Flagger prints the raw maxWeight (0 when unset); we print the effective default of 100.
  const max = c.maxWeight ?? 100;
  if (c.stepWeight && c.stepWeight > 0) return `Weight step: ${c.stepWeight} max: ${max}`;
  if (c.stepWeights && c.stepWeights.length > 0) return `Weight steps: ${c.stepWeights.join(',')} max: ${max}`;
  if (c.match) return 'A/B Testing';
  if (c.iterations && c.iterations > 0) return 'Blue/Green';
  return undefined;
}
