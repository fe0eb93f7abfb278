// Determinism: replay the committed history corpus (test/histories/*.json) against the current workflow code,
// and replay fresh runs of a few rollouts right after they finish. FLEDGE_RECORD_HISTORIES=1 rewrites the corpus
// from those fresh runs (do that only when a change is meant to be incompatible, together with patched()).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { WorkflowHandle } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { format } from 'prettier';
import { REPO_ROOT } from '../../dev/proc.ts';
import {
  NAMESPACE,
  canaryRaw,
  hook,
  metric,
  seedInitialized,
  setupEnv,
  startRollout,
  waitUntil,
  type TestEnv,
} from './env.ts';

const HISTORIES = join(REPO_ROOT, 'test', 'histories');
const RECORD = process.env.FLEDGE_RECORD_HISTORIES === '1';

let env: TestEnv;
before(async () => {
  env = await setupEnv('replay');
});
after(async () => {
  await env?.stop();
});

async function replay(histories: { workflowId: string; history: unknown }[]): Promise<void> {
  const results = Worker.runReplayHistories(
    { workflowBundle: { codePath: env.bundlePath } },
    histories.map((h) => ({ workflowId: h.workflowId, history: historyFromJSON(h.history) })),
  );
  for await (const r of results)
    assert.equal(r.error, undefined, `replay of ${r.workflowId} failed: ${String(r.error)}`);
}

/** Run one rollout to its end; return every run of its chain (continue-as-new) as JSON histories. */
async function recordRun(
  file: string,
  name: string,
  drive?: (h: Awaited<ReturnType<typeof startRollout>>) => Promise<void>,
) {
  const handle = await startRollout(env, name, { options: { maxTicksPerRun: 6, retryWindowMs: 1 } });
  await drive?.(handle);
  await handle.result();
  const runs: { workflowId: string; history: unknown }[] = [];
  // Walk the chain backwards from the last run via each run's first event (continued from).
  let runId: string | undefined = (await handle.describe()).runId;
  while (runId) {
    const run: WorkflowHandle = env.client.workflow.getHandle(handle.workflowId, runId);
    const history: History = await run.fetchHistory();
    runs.unshift({ workflowId: handle.workflowId, history: JSON.parse(historyToJSON(history)) });
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  if (RECORD) {
    mkdirSync(HISTORIES, { recursive: true });
    for (const [i, r] of runs.entries()) {
      // Written as Prettier formats JSON, so `prettier --check .` stays green after re-recording.
      const text = await format(JSON.stringify(r.history), { parser: 'json' });
      writeFileSync(join(HISTORIES, `${file}-${i + 1}.json`), text);
    }
  }
  return runs;
}

describe('workflow replay', { concurrency: true }, () => {
  it('replays the committed history corpus', async (t) => {
    const files = existsSync(HISTORIES) ? readdirSync(HISTORIES).filter((f) => f.endsWith('.json')) : [];
    if (files.length === 0) return t.skip('no committed histories yet');
    await replay(
      files.map((f) => ({ workflowId: f, history: JSON.parse(readFileSync(join(HISTORIES, f), 'utf8')) as unknown })),
    );
  });

  it('replays a canary with gates, metrics and a pause/resume', async () => {
    const name = 'replay-canary';
    seedInitialized(env, {
      raw: canaryRaw(name, {
        interval: '500ms',
        stepWeight: 25,
        maxWeight: 50,
        metrics: [metric('error-rate', 1)],
        webhooks: [hook('approve', 'confirm-rollout'), hook('ship', 'confirm-promotion'), hook('load', 'rollout')],
      }),
      hooks: { approve: [false, true], ship: [false, true] },
    });
    const runs = await recordRun('canary-gates', name, async (handle) => {
      await waitUntil('first step', () => env.world.get(`${NAMESPACE}/${name}`).log.routes.length >= 1);
      await handle.executeUpdate('pause', { args: [{ by: 'replay' }] });
      await handle.executeUpdate('resume', { args: [{ by: 'replay' }] });
    });
    await replay(runs);
  });

  it('replays an A/B run that continues as new', async () => {
    const name = 'replay-ab';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', iterations: 8, match: [{ headers: { x: { exact: 'y' } } }] }),
    });
    const runs = await recordRun('ab-continue-as-new', name);
    assert.ok(runs.length >= 2, 'continued as new at least once');
    await replay(runs);
  });

  it('replays a rollback', async () => {
    const name = 'replay-rollback';
    seedInitialized(env, {
      raw: canaryRaw(name, { interval: '500ms', stepWeight: 20, metrics: [metric('error-rate', 1)] }),
      metrics: { 'error-rate': [0, 5] },
    });
    await replay(await recordRun('rollback', name));
  });
});
