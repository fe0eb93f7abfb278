// The scripted "cluster" the rollout activities act on: a tiny HTTP server in the test process, so a SIGKILLed
// worker cannot take it down. It holds per-canary state (Canary object, readiness, routes, scripted metric values
// and webhook outcomes) and logs what a rollout did: every route change, phase, event, hook call and alert.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CanaryEvent, MetricResult, Routes, StatusProjection, WebhookType } from '../../api/ports.ts';

export interface WorldCanary {
  /** The Canary object as the apiserver would return it (validated by observe with the real schema). */
  raw: Record<string, unknown>;
  /** Flagger accepts stepWeights above 100 where our schema does not: set to bypass the schema for them. */
  exists: boolean;
  status: { phase?: string; lastAppliedRevision?: string; projection?: StatusProjection };
  /** `readyDelayMs`: after a promotion the primary is not ready for this long (a rollout in progress). */
  primary: {
    exists: boolean;
    ready: boolean;
    message?: string;
    readyAfterPromote?: boolean;
    revision?: string;
    readyDelayMs?: number;
    readyAt?: number;
  };
  /** `readyDelayMs`: after a scale-up the canary is not ready for this long (pods starting). */
  canary: {
    scaled: 'up' | 'down';
    ready: boolean;
    message?: string;
    readyAfterScaleUp?: boolean;
    readyDelayMs?: number;
    readyAt?: number;
  };
  routes: Routes;
  /** Metric values by metric name, one per runMetrics call (the last one repeats); null means no data. */
  metrics: Record<string, (number | null)[]>;
  metricCalls: number;
  /** Webhook outcomes by hook name, one per call (the last one repeats); an unscripted hook succeeds. */
  hooks: Record<string, boolean[]>;
  hookCalls: Record<string, number>;
  /** Infrastructure faults: the next N calls of an activity throw (retried by the activity retry policy). */
  faults: Record<string, number>;
  /** Non-retryable faults (e.g. target not found): the next N calls of an activity fail for good. */
  fatalFaults?: Record<string, number>;
  /**
   * Calls of an op wait for this promise before acting (a test releases it), e.g. to land a control while
   * `promotePrimary` is in flight. Each held call is logged as `held <op>` in `log.actions`.
   */
  holds?: Record<string, Promise<void>>;
  log: WorldLog;
}

export interface WorldLog {
  routes: Routes[];
  phases: string[];
  events: CanaryEvent[];
  eventNames: string[];
  hooks: { name: string; type: WebhookType; phase: string; ok: boolean }[];
  eventHookPosts: number;
  alerts: { message: string; severity: string }[];
  actions: string[];
  /**
   * When things happened (Date.now() of the world): `routes 90/10`, `phase Progressing`, `metrics`, `hook <name>`,
   * `scale up`, `promote`, `primary ready`, `canary ready`; for timing assertions.
   */
  timeline: { what: string; at: number }[];
}

export type WorldCanaryInit = Partial<Omit<WorldCanary, 'log' | 'metricCalls' | 'hookCalls'>> & {
  raw: Record<string, unknown>;
};

export function newWorldCanary(init: WorldCanaryInit): WorldCanary {
  return {
    exists: true,
    status: {},
    primary: { exists: false, ready: true },
    canary: { scaled: 'up', ready: true },
    routes: { primary: 100, canary: 0, mirrored: false },
    metrics: {},
    hooks: {},
    faults: {},
    ...init,
    metricCalls: 0,
    hookCalls: {},
    log: {
      routes: [],
      phases: [],
      events: [],
      eventNames: [],
      hooks: [],
      eventHookPosts: 0,
      alerts: [],
      actions: [],
      timeline: [],
    },
  };
}

type Canaries = Map<string, WorldCanary>;

/** Answered with 404: the scripted activities turn it into a non-retryable TargetNotFound failure. */
class FatalWorldError extends Error {}

export interface World {
  url: string;
  canaries: Canaries;
  get(key: string): WorldCanary;
  put(key: string, canary: WorldCanary): void;
  close(): Promise<void>;
}

/** Start the world on 127.0.0.1:<free port>. */
export async function startWorld(): Promise<World> {
  const canaries: Canaries = new Map();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', async () => {
      try {
        const { op, key, args } = JSON.parse(body) as { op: string; key: string; args: unknown };
        const held = canaries.get(key)?.holds?.[op];
        if (held) {
          canaries.get(key)!.log.actions.push(`held ${op}`);
          await held;
        }
        const result = handle(canaries, op, key, args);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ result: result ?? null }));
      } catch (err) {
        res.writeHead(err instanceof FatalWorldError ? 404 : 500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(err instanceof Error ? err.message : err) }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    canaries,
    get(key) {
      const c = canaries.get(key);
      if (!c) throw new Error(`no canary ${key} in the world`);
      return c;
    },
    put(key, canary) {
      canaries.set(key, canary);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function handle(canaries: Canaries, op: string, key: string, args: unknown): unknown {
  const c = canaries.get(key);
  if (!c) {
    if (op === 'observe') return { exists: false };
    throw new Error(`no canary ${key}`);
  }
  const fatal = c.fatalFaults?.[op];
  if (fatal && fatal > 0) {
    c.fatalFaults![op] = fatal - 1;
    throw new FatalWorldError(`scripted: target of ${key} not found in ${op}`);
  }
  const fault = c.faults[op];
  if (fault && fault > 0) {
    c.faults[op] = fault - 1;
    throw new Error(`scripted infrastructure fault in ${op}`);
  }
  settle(c);
  const a = args as Record<string, unknown>;
  switch (op) {
    case 'observe':
      mark(c, 'observe');
      return observe(c);
    case 'checkReadiness': {
      // Readiness alone, as the production activity reads it: no route involved.
      const { primary, canary } = observe(c);
      return { primary, canary };
    }
    case 'initializePrimary':
      if (!c.primary.exists) c.log.actions.push('initialize-primary');
      c.primary.exists = true;
      return null;
    case 'reconcileRoutes':
      return c.routes;
    case 'setRoutes':
      return setRoutes(c, a.routes as Routes);
    case 'scaleCanary':
      return scale(c, a.direction as 'up' | 'down');
    case 'promotePrimary':
      c.primary.revision = (a.revision as { hash: string }).hash;
      if (c.primary.readyAfterPromote !== undefined) c.primary.ready = c.primary.readyAfterPromote;
      if (c.primary.readyDelayMs !== undefined) {
        c.primary.ready = false;
        c.primary.readyAt = Date.now() + c.primary.readyDelayMs;
      }
      c.log.actions.push(`promote ${c.primary.revision}`);
      mark(c, 'promote');
      return null;
    case 'runMetrics':
      return runMetrics(c, a.metrics as { name: string; thresholdRange?: { min?: number; max?: number } }[]);
    case 'callWebhook':
      return callWebhook(c, a.hook as { name: string; type: WebhookType }, a.phase as string);
    case 'writeStatus':
      writeStatus(c, a.status as StatusProjection);
      // event-driven-phases: the tick's events ride along its status write.
      if (a.events) recordEvents(c, a.events as Parameters<typeof recordEvents>[1]);
      for (const alert of (a.alerts as { message: string; severity: string }[] | undefined) ?? [])
        c.log.alerts.push({ message: alert.message, severity: alert.severity });
      return null;
    case 'recordEvents':
      return recordEvents(
        c,
        a as { runId: string; firstSequence: number; events: CanaryEvent[]; eventHooks: unknown[] },
      );
    case 'sendAlert':
      c.log.alerts.push({ message: a.message as string, severity: a.severity as string });
      return null;
    default:
      throw new Error(`unknown op ${op}`);
  }
}

function mark(c: WorldCanary, what: string): void {
  c.log.timeline.push({ what, at: Date.now() });
}

/** Workloads whose scripted rollout time is over become ready. */
function settle(c: WorldCanary): void {
  const now = Date.now();
  for (const which of ['primary', 'canary'] as const) {
    const w = c[which];
    if (w.readyAt === undefined || now < w.readyAt) continue;
    w.ready = true;
    w.readyAt = undefined;
    mark(c, `${which} ready`);
  }
}

function observe(c: WorldCanary) {
  return {
    exists: c.exists,
    raw: c.raw,
    primary: c.primary.exists
      ? { ready: c.primary.ready, message: c.primary.ready ? undefined : (c.primary.message ?? 'primary not ready') }
      : { ready: false, message: 'primary not found' },
    canary: { ready: c.canary.ready, message: c.canary.ready ? undefined : (c.canary.message ?? 'canary not ready') },
    routes: c.routes,
    status: { phase: c.status.phase, lastAppliedRevision: c.status.lastAppliedRevision },
    generation: (c.raw.metadata as { generation?: number } | undefined)?.generation,
  };
}

function setRoutes(c: WorldCanary, routes: Routes): Routes {
  const cur = c.routes;
  if (cur.primary !== routes.primary || cur.canary !== routes.canary || cur.mirrored !== routes.mirrored) {
    c.routes = { ...routes };
    c.log.routes.push({ ...routes });
    mark(c, `routes ${routes.primary}/${routes.canary}${routes.mirrored ? 'm' : ''}`);
  }
  return c.routes;
}

function scale(c: WorldCanary, direction: 'up' | 'down'): null {
  if (c.canary.scaled !== direction) {
    c.log.actions.push(`scale-canary ${direction}`);
    mark(c, `scale ${direction}`);
  }
  c.canary.scaled = direction;
  if (direction === 'up' && c.canary.readyAfterScaleUp !== undefined) c.canary.ready = c.canary.readyAfterScaleUp;
  if (direction === 'up' && c.canary.readyDelayMs !== undefined) {
    c.canary.ready = false;
    c.canary.readyAt = Date.now() + c.canary.readyDelayMs;
  }
  return null;
}

function runMetrics(c: WorldCanary, metrics: { name: string; thresholdRange?: { min?: number; max?: number } }[]) {
  const call = c.metricCalls++;
  mark(c, 'metrics');
  const results: MetricResult[] = metrics.map((m) => {
    const script = c.metrics[m.name] ?? [0];
    const value = script[Math.min(call, script.length - 1)] ?? null;
    const range = m.thresholdRange ?? {};
    const verdict =
      value === null
        ? 'no-data'
        : (range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max)
          ? 'fail'
          : 'pass';
    const message =
      verdict === 'no-data'
        ? `Halt advancement no values found for custom metric: ${m.name}`
        : verdict === 'fail'
          ? `Halt advancement ${m.name} ${value!.toFixed(2)} outside ${JSON.stringify(range)}`
          : undefined;
    return { name: m.name, value, range, verdict, message };
  });
  return { ok: results.every((r) => r.verdict === 'pass'), results };
}

function callWebhook(c: WorldCanary, hook: { name: string; type: WebhookType }, phase: string) {
  const call = c.hookCalls[hook.name] ?? 0;
  c.hookCalls[hook.name] = call + 1;
  const script = c.hooks[hook.name] ?? [true];
  const ok = script[Math.min(call, script.length - 1)] ?? true;
  c.log.hooks.push({ name: hook.name, type: hook.type, phase, ok });
  mark(c, `hook ${hook.name}`);
  return { ok, message: ok ? 'ok' : `${hook.name} returned 403` };
}

function writeStatus(c: WorldCanary, status: StatusProjection): null {
  const last = c.log.phases[c.log.phases.length - 1];
  if (last !== status.phase) {
    c.log.phases.push(status.phase);
    mark(c, `phase ${status.phase}`);
  }
  c.status = { phase: status.phase, lastAppliedRevision: status.revision, projection: status };
  return null;
}

function recordEvents(
  c: WorldCanary,
  a: { runId: string; firstSequence: number; events: CanaryEvent[]; eventHooks: unknown[] },
): null {
  a.events.forEach((e, i) => {
    // Deterministic names make a retried call idempotent, like a 409 on a Kubernetes Event create.
    const name = `${a.runId}.${a.firstSequence + i}`;
    if (c.log.eventNames.includes(name)) return;
    c.log.eventNames.push(name);
    c.log.events.push(e);
    c.log.eventHookPosts += a.eventHooks.length;
  });
  return null;
}
