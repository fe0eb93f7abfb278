// Determinism: replay the committed history corpus (test/histories/*.json) against the current workflow code, check
// that the corpus is exactly what the scenarios of test/workflow/replay-scenarios.ts write (one per strategy,
// control and failure path), and replay fresh runs of those scenarios right after they finish.
// scripts/record-histories.sh (FLEDGE_RECORD_HISTORIES=1) rewrites the corpus from those fresh runs: do that only
// when a change is meant to be incompatible, together with patched() (docs/upgrading.md).
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
import type { RolloutResult } from '../../workflows/rollout.ts';
import { NAMESPACE, routeTrail, seedInitialized, setupEnv, startRollout, type TestEnv } from './env.ts';
import { OTHER_PATHS, REQUIRED, SCENARIOS, scenarioFile, type Scenario } from './replay-scenarios.ts';

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

/** Run one scenario to its end; return every run of its chain (continue-as-new) as JSON histories. */
async function recordRun(scenario: Scenario) {
  const file = scenarioFile(scenario);
  const world = seedInitialized(env, scenario.init(file));
  const handle = await startRollout(env, file, {
    options: { maxTicksPerRun: 6, retryWindowMs: 1, ...scenario.options },
  });
  await scenario.drive?.(handle, world);
  const result = (await handle.result()) as RolloutResult;
  assert.equal(result.phase, scenario.phase, `${file} ended ${result.phase}`);
  if (scenario.routes) assert.deepEqual(routeTrail(env.world.get(`${NAMESPACE}/${file}`).log.routes), scenario.routes);
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
      // Stack traces in failures name this checkout's absolute paths: made relative, the corpus stands alone.
      const text = await format(withoutCheckoutPaths(JSON.stringify(r.history)), { parser: 'json' });
      writeFileSync(join(HISTORIES, `${file}-${i + 1}.json`), text);
    }
  }
  return runs;
}

/** `text` with every absolute path into this checkout (`file:///…/repo/x`, `/…/repo/x`) made relative (`x`). */
function withoutCheckoutPaths(text: string): string {
  return text.split(`file://${REPO_ROOT}/`).join('').split(`${REPO_ROOT}/`).join('');
}

function corpusFiles(): string[] {
  return existsSync(HISTORIES) ? readdirSync(HISTORIES).filter((f) => f.endsWith('.json')) : [];
}

/** Histories recorded by earlier released code (`earlier/<commit>/*.json`), kept as they are: never re-recorded. */
const EARLIER = join(HISTORIES, 'earlier');
function earlierFiles(): string[] {
  if (!existsSync(EARLIER)) return [];
  return readdirSync(EARLIER).flatMap((release) =>
    readdirSync(join(EARLIER, release))
      .filter((f) => f.endsWith('.json'))
      .map((f) => join(release, f)),
  );
}

// Fresh runs first: when recording, the corpus checks below then look at what was just written.
describe('fresh runs of every corpus scenario replay', { concurrency: true }, () => {
  for (const scenario of SCENARIOS)
    it(scenarioFile(scenario), async () => {
      await replay(await recordRun(scenario));
    });
});

describe('the committed history corpus', () => {
  it('replays against the current workflow code', async () => {
    const files = corpusFiles();
    assert.ok(files.length > 0, `no histories in ${HISTORIES}: run scripts/record-histories.sh`);
    await replay(
      files.map((f) => ({ workflowId: f, history: JSON.parse(readFileSync(join(HISTORIES, f), 'utf8')) as unknown })),
    );
  });

  // Open rollouts survive a worker upgrade only if what the code before it recorded still replays: the scenarios
  // as recorded by an earlier commit (its scripts/record-histories.sh), e.g. a checkDelivery marker every tick.
  it('histories recorded by earlier releases (test/histories/earlier/<commit>/) replay too', async () => {
    const files = earlierFiles();
    assert.ok(files.length > 0, `no histories in ${EARLIER}`);
    await replay(
      files.map((f) => ({ workflowId: f, history: JSON.parse(readFileSync(join(EARLIER, f), 'utf8')) as unknown })),
    );
  });

  it('the scenarios cover every strategy, control and failure path', () => {
    const strategies = new Set(SCENARIOS.map((s) => s.strategy));
    const covered = new Set(SCENARIOS.map((s) => s.covers));
    for (const strategy of REQUIRED.strategies) assert.ok(strategies.has(strategy), `no scenario for ${strategy}`);
    for (const path of [...REQUIRED.controls, ...REQUIRED.failures])
      assert.ok(covered.has(path), `no scenario covers ${path}`);
    const known = new Set<string>([...REQUIRED.controls, ...REQUIRED.failures, ...OTHER_PATHS]);
    for (const s of SCENARIOS) assert.ok(known.has(s.covers), `${scenarioFile(s)}: unknown path ${s.covers}`);
    const names = SCENARIOS.map(scenarioFile);
    assert.equal(new Set(names).size, names.length, 'scenario names are unique');
  });

  it('holds exactly the histories the scenarios record (<strategy>-<path>-<run>.json, runs 1..n)', () => {
    const runs = new Map<string, number[]>();
    for (const f of corpusFiles()) {
      const m = /^(.+)-(\d+)\.json$/.exec(f);
      assert.ok(m, `${f} is not named <strategy>-<path>-<run>.json`);
      runs.set(m[1]!, [...(runs.get(m[1]!) ?? []), Number(m[2])]);
    }
    const expected = SCENARIOS.map(scenarioFile).sort();
    assert.deepEqual(
      [...runs.keys()].sort(),
      expected,
      'corpus files and scenarios differ: run scripts/record-histories.sh',
    );
    for (const [prefix, numbers] of runs)
      assert.deepEqual(
        numbers.sort((a, b) => a - b),
        numbers.map((_, i) => i + 1),
        `${prefix}: runs numbered 1..n`,
      );
  });
});
