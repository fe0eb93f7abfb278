// The Temporal Web UI of a running rollout, in a real browser (Debian's chromium, driven by playwright-core): the
// dev server with its UI, the bundled workflow on an in-process worker, the world scripted. The rollout waits at
// a closed confirm-promotion gate; the page shows its static and current details and the step summaries,
// `pause` and `resume` sent through the UI's Signal form hold and release it, and `promote` sent through the UI's
// own Update form promotes it. Screenshots go to FLEDGE_UI_SCREENSHOTS (default: a
// temp dir); docs/temporal-ui-*.png are copies of them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { makeTempDir, removeTempDir } from '../../dev/proc.ts';
import { quietWorkerLogs, startTemporal, type TemporalServer } from '../../dev/temporal.ts';
import { workflowBundlePath } from '../../dev/workflow-bundle.ts';
import { createScriptedActivities } from '../scripted/activities.ts';
import { startWorld, type World } from '../scripted/world.ts';
import { rolloutWorkflowId, statusQuery } from '../../workflows/controls.ts';
import type { RolloutInput, RolloutResult } from '../../workflows/rollout.ts';
import { rolloutMetadata } from '../../worker/rollout-metadata.ts';
import {
  NAMESPACE,
  REV2,
  canaryRaw,
  hook,
  metric,
  seedInitialized,
  startBundledWorker,
  type TestEnv,
} from '../workflow/env.ts';

/** Debian's chromium as found on PATH (scripts/ensure-system-packages.sh installs it); FLEDGE_CHROMIUM overrides. */
const CHROMIUM =
  process.env.FLEDGE_CHROMIUM ??
  (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'chromium'))
    .find((file) => existsSync(file)) ??
  'chromium';
const NAME = 'podinfo';

let temporal: TemporalServer;
let world: World;
let client: Client;
let connection: Connection;
let browser: Browser;
let stopWorker = async () => {};
const shotsDir = process.env.FLEDGE_UI_SCREENSHOTS ?? makeTempDir('ui screenshots');

before(async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} missing: run scripts/ensure-system-packages.sh (apt-get install chromium)`,
  );
  quietWorkerLogs();
  let bundlePath: string;
  [temporal, world, bundlePath, browser] = await Promise.all([
    startTemporal({ ui: true }),
    startWorld(),
    workflowBundlePath(),
    // Chromium refuses to run as root with its sandbox on.
    chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] }),
  ]);
  connection = await Connection.connect({ address: temporal.address });
  client = new Client({ connection, namespace: temporal.namespace });
  const env = { temporal, taskQueue: 'fledge-ui', bundlePath } as const;
  stopWorker = await startBundledWorker(env, createScriptedActivities(world.url));
});

after(async () => {
  await browser?.close();
  await stopWorker();
  await connection?.close();
  await world?.close();
  await temporal?.stop();
  if (!process.env.FLEDGE_UI_SCREENSHOTS) removeTempDir(shotsDir);
});

describe('the Temporal UI of a running rollout', () => {
  it('shows the story, pauses and resumes through the Signal form, promotes through the Update form', async () => {
    const raw = canaryRaw(NAME, {
      interval: '1s',
      stepWeight: 10,
      maxWeight: 50,
      metrics: [metric('error-rate', 1)],
      webhooks: [hook('approve', 'confirm-promotion')],
    });
    seedInitialized({ world } as TestEnv, { raw, hooks: { approve: [false] }, metrics: { 'error-rate': [0.4] } });
    const ref = { namespace: NAMESPACE, name: NAME };
    const input: RolloutInput = { canary: ref, revision: REV2, cause: 'new-revision' };
    const handle = await client.workflow.start('rollout', {
      taskQueue: 'fledge-ui',
      workflowId: rolloutWorkflowId(ref),
      args: [input],
      ...rolloutMetadata(raw, ref, REV2, 'new-revision'),
    });
    await poll(
      'the gate holds the rollout',
      async () => (await handle.query(statusQuery)).phase === 'WaitingPromotion',
    );
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      const base = `${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows`;
      await page.goto(`${base}/${encodeURIComponent(handle.workflowId)}/${handle.firstExecutionRunId}/history`);

      // The timeline names each step: the weights set, the analysis and the gate checked, the waits.
      await page.getByText('set weight 50 % (primary 50 %)').first().waitFor();
      await page.getByText('gate confirm-promotion approve: open?').first().waitFor();
      await page
        .getByText(/wait (0\.\d+|1) s for approval from confirm-promotion hook approve/)
        .first()
        .waitFor();
      // The timeline below the input, in a tall window (the page scrolls inside its own container).
      await page.setViewportSize({ width: 1280, height: 2100 });
      // Oldest first: the weights the rollout stepped through, then the gate it waits at.
      await page.getByRole('button', { name: 'Descending' }).click();
      await page.getByRole('button', { name: 'Ascending' }).waitFor();
      // The story only, as docs/temporal-controls.md suggests: no workflow tasks, no patch markers or search
      // attribute upserts (Filter: Workflow and Other off), one row per activity and timer (Compact).
      await page.getByRole('button', { name: 'Filter' }).click();
      const categories = page.locator('[role=menu]').filter({ hasText: 'Local Activity' });
      await categories.getByRole('menuitem').filter({ hasText: 'A Workflow Task is' }).click();
      await categories.getByRole('menuitem').filter({ hasText: 'Marker Recorded' }).click();
      await page.keyboard.press('Escape');
      await page.getByRole('button', { name: 'Compact' }).click();
      // The reads and the analysis are local activities: the event list shows each with its summary.
      await page.getByText('observe test/podinfo').first().waitFor();
      await page.getByText('analysis: error-rate ≤ 1').first().waitFor();
      // Fixed-rate ticks: what is left of the 1 s interval after the tick's own work.
      await page
        .getByText(/wait (0\.\d+|1) s for the next analysis/)
        .first()
        .waitFor();
      await page.waitForTimeout(500);
      await page.screenshot({
        path: join(shotsDir, 'temporal-ui-history.png'),
        clip: { x: 64, y: 590, width: 1216, height: 1500 },
      });
      await page.setViewportSize({ width: 1280, height: 800 });

      // User Metadata: the static summary and details from the start, the current details kept up to date.
      await page.getByText('User Metadata', { exact: true }).first().click();
      // The UI renders markdown (summary, details, current details) in sandboxed iframes.
      await poll('the static summary and details', () =>
        framesShow(page, [
          'test/podinfo: canary rollout of revision rev-2 (gatewayapi:v1)',
          'canary weight 10 % → 20 % → 30 % → 40 % → 50 %, one step every 1 s, then promote',
          'webhooks: approve (confirm-promotion)',
        ]),
      );
      await poll('the current details', () =>
        framesShow(page, [
          'WaitingPromotion · weight 50 % (primary 50 %) · step 5 of 5 · failed checks 0/2',
          'analysis: error-rate 0.4 ≤ 1 ✓',
          'gate confirm-promotion approve: closed',
          `temporal workflow update execute --workflow-id canary/test/podinfo --name promote --input '{"by":"<you>","reason":"<why>"}'`,
          'fledge promote podinfo -n test',
        ]),
      );
      await page.screenshot({ path: join(shotsDir, 'temporal-ui-details.png') });

      // The UI's own Signal form, with the same documented input: pause, then resume (no validation, no answer).
      for (const [control, paused] of [
        ['pause', true],
        ['resume', false],
      ] as const) {
        await page.getByRole('button', { name: 'More Actions' }).click();
        await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
        const form = page.locator('dialog[open]');
        await form.getByTestId('signal-select-button').click();
        await form.getByRole('option', { name: control, exact: true }).click();
        await form.locator('.cm-content').click();
        await page.keyboard.insertText('{"by": "ui-user", "reason": "signal form"}');
        await form.getByText('Data', { exact: true }).click();
        await form.getByTestId('confirm-modal-button').click();
        await page.locator('dialog[open]').waitFor({ state: 'detached' });
        await poll(`${control} by signal`, async () => (await handle.query(statusQuery)).paused === paused);
      }
      const signalled = (await handle.query(statusQuery)).steps.map((x) => x.note);
      assert.ok(signalled.includes('paused by ui-user (signal form)'), signalled.join('\n'));
      assert.ok(signalled.includes('resumed by ui-user (signal form)'), signalled.join('\n'));

      // The UI's own Update form, with the documented input.
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: 'Send an Update' }).click();
      const dialog = page.locator('dialog[open]');
      await dialog.getByTestId('update-select-button').click();
      await dialog.getByRole('option', { name: 'promote', exact: true }).click();
      await dialog.locator('.cm-content').click();
      await page.keyboard.insertText('{"by": "ui-user", "reason": "looks good"}');
      await page.screenshot({ path: join(shotsDir, 'temporal-ui-update.png') });
      // Leave the editor first: the form reformats its JSON on blur.
      await dialog.getByText('Data', { exact: true }).click();
      await dialog.getByTestId('confirm-modal-button').click();
      await page.locator('dialog[open]').waitFor({ state: 'detached' });
      await poll('the rollout to end', async () => (await handle.describe()).status.name !== 'RUNNING');
      const result = (await handle.result()) as RolloutResult;
      assert.equal(result.phase, 'Succeeded');
      assert.deepEqual(result.routes, { primary: 100, canary: 0, mirrored: false });
      const steps = (await handle.query(statusQuery)).steps.map((x) => x.note);
      assert.ok(
        steps.some((n) => n.includes('promote requested by ui-user (looks good)')),
        steps.join('\n'),
      );
      // An update (not a signal) named promote, with the form's input, is in the history.
      const events = (await handle.fetchHistory()).events ?? [];
      const update = events.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      const request = update?.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
      assert.equal(request?.name, 'promote');
      // ... and pause and resume as signals, from the Signal form.
      const signals = events.map((e) => e.workflowExecutionSignaledEventAttributes?.signalName).filter(Boolean);
      assert.deepEqual(signals, ['pause', 'resume']);
      // The gate never opened: only the promote sent through the UI ended the wait.
      const world0 = world.get(`${NAMESPACE}/${NAME}`);
      assert.ok(world0.log.hooks.filter((h) => h.name === 'approve').every((h) => !h.ok));
    } catch (err) {
      // What the page showed when a step failed, next to the other screenshots.
      await page.screenshot({ path: join(shotsDir, 'failure.png') }).catch(() => undefined);
      throw err;
    } finally {
      await page.close();
    }
  });
});

/** Whether the page's frames (the markdown iframes included) show every text. */
async function framesShow(page: Page, texts: string[]): Promise<boolean> {
  const shown = await Promise.all(
    page.frames().map((f) =>
      f
        .evaluate('document.body ? document.body.innerText : ""')
        .then(String)
        .catch(() => ''),
    ),
  );
  const all = shown.join('\n').replace(/\s+/g, ' ');
  return texts.every((t) => all.includes(t));
}

/** Polls `check` every 200 ms until it holds, for up to `ms`. */
async function poll(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
