// Chaos: the Canary's `rollout` webhook (timeout 1 s, retries 1) misbehaves in three ways: it answers 503, it answers
// 200 only after its timeout, or it never answers at all. Each call of the hook by the workflow is one logical call
// (one Idempotency-Key, 1 + retries HTTP attempts) and must count as exactly one failed check: the rollout rolls back
// after `threshold` failed calls, with one "Halt … external check … failed" Warning per call.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { NEW_IMAGE } from '../e2e/helpers.ts';
import { medianMax, rollOut, setUpLane, type ChaosContext, type ScenarioResult } from './lib.ts';

export type WebhookMode = '5xx' | 'timeout' | 'hang';
export const WEBHOOK_MODES: WebhookMode[] = ['5xx', 'timeout', 'hang'];

const HOOK_TIMEOUT = '1s';
const RETRIES = 1;
const THRESHOLD = 2;
/** The `timeout` mode answers 200, but this long after the request: well past the hook's timeout. */
const LATE_ANSWER_MS = 2500;

interface Call {
  ns: string;
  mode: string;
  key: string;
  at: number;
}

function startReceiver(): Promise<{ server: Server; url: string; calls: Call[]; close(): Promise<void> }> {
  const calls: Call[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const mode = (req.url ?? '/').slice(1);
      let ns = '?';
      try {
        ns = (JSON.parse(data) as { namespace: string }).namespace;
      } catch {
        // not a hook payload
      }
      calls.push({ ns, mode, key: String(req.headers['idempotency-key'] ?? ''), at: Date.now() });
      if (mode === '5xx') {
        res.statusCode = 503;
        res.end('upstream unavailable');
      } else if (mode === 'timeout') {
        setTimeout(() => res.end('ok, but late'), LATE_ANSWER_MS).unref();
      }
      // hang: no answer, the connection stays open until the caller gives up
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        calls,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    );
  });
}

export interface WebhookChaosOptions {
  /** Runs per mode; all run at once, one namespace each. */
  runsPerMode: number;
  timeoutMs: number;
}

export async function webhookFailures(ctx: ChaosContext, opts: WebhookChaosOptions): Promise<ScenarioResult> {
  const start = Date.now();
  const { stack } = ctx;
  const receiver = await startReceiver();
  const failures: string[] = [];
  const durations: number[] = [];
  let runs = 0;
  let passed = 0;
  const perMode = new Map<WebhookMode, string>();
  try {
    const one = async (mode: WebhookMode, i: number) => {
      runs++;
      const label = `${mode} #${i}`;
      try {
        const ns = await setUpLane(stack, `hook-${mode.replace(/\W/g, '')}`, {
          analysis: {
            threshold: THRESHOLD,
            maxWeight: 50,
            webhooks: [
              {
                name: 'gate',
                type: 'rollout',
                url: `${receiver.url}/${mode}`,
                timeout: HOOK_TIMEOUT,
                retries: RETRIES,
              },
            ],
          },
        });
        const obs = await rollOut(stack, ctx.routes, ns, NEW_IMAGE, opts.timeoutMs);
        durations.push(obs.ms);
        const calls = receiver.calls.filter((c) => c.ns === ns);
        const attempts = new Map<string, number>();
        for (const c of calls) attempts.set(c.key, (attempts.get(c.key) ?? 0) + 1);
        const halts = obs.events
          .filter((e) => e.message.startsWith(`Halt podinfo.${ns} advancement external check gate failed`))
          .reduce((n, e) => n + e.count, 0);
        const got =
          `${obs.phase}, primary ${obs.primary}, weights ${obs.weights}; ${attempts.size} failed calls ` +
          `(attempts ${[...attempts.values()].join(',')}), ${halts} failed-check events, status.failedChecks ${obs.failedChecks}`;
        perMode.set(mode, got);
        const ok =
          obs.phase === 'Failed' &&
          obs.primary !== 'new' &&
          obs.weights === '100/0' &&
          attempts.size === THRESHOLD &&
          halts === THRESHOLD &&
          obs.failedChecks === attempts.size &&
          !attempts.has('') &&
          [...attempts.values()].every((n) => n === 1 + RETRIES);
        if (ok) passed++;
        else failures.push(`${label} (${ns}): ${got}`);
        ctx.log(`webhooks: ${label}: ${ok ? 'ok' : 'FAILED'}: ${got}`);
      } catch (err) {
        failures.push(`${label}: ${(err as Error).message}`);
        ctx.log(`webhooks: ${label}: did not end: ${(err as Error).message.slice(0, 300)}`);
      }
    };
    const all: Promise<void>[] = [];
    for (const mode of WEBHOOK_MODES) for (let i = 0; i < opts.runsPerMode; i++) all.push(one(mode, i));
    await Promise.all(all);
  } finally {
    await receiver.close();
  }
  return {
    scenario: 'webhook 5xx / late answer / hang',
    runs,
    passed,
    ms: Date.now() - start,
    failures,
    notes: [
      `expected per run: Failed, old primary, 100/0, ${THRESHOLD} failed calls of ${1 + RETRIES} attempts each, ` +
        `${THRESHOLD} failed-check events; rollout time median / max ${medianMax(durations)}`,
      ...[...perMode].map(([mode, got]) => `${mode}: ${got}`),
    ],
  };
}
