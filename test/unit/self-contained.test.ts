// The repository stands alone: no tracked file may name a folder outside the checkout — the reference folder that
// sat beside it while fledge was first written, or any absolute path of the machine it is checked out on (its
// parent folder, the home folder). Third-party data comes from the Go module cache instead (dev/fixtures.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { REPO_ROOT } from '../../dev/proc.ts';

function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
}

/** The reference folder that sat beside the checkout, spelled at run time so this file does not name it. */
const SIBLING = ['..', ['s', 'h', 'a', 'r', 'e', 'd'].join('')].join('/');

/**
 * A stack frame with an absolute path, plain or as a `file:` URL, then line and column: recorded on some machine,
 * it names that machine's checkout wherever this test runs.
 */
const ABSOLUTE_FRAME = /\((?:file:\/\/)?\/[^()\s]+:\d+:\d+\)|\bat (?:file:\/\/)?\/[^()\s]+:\d+:\d+/;

/** Strings no tracked file may contain; built at run time so this file does not name them itself. */
function forbidden(): string[] {
  const out = [SIBLING, `${dirname(REPO_ROOT)}/`];
  const home = homedir();
  if (home && home !== '/' && !REPO_ROOT.startsWith(`${home}/`)) out.push(`${home}/`);
  return out;
}

test('no tracked file names a path outside the repository', () => {
  const needles = forbidden();
  const hits: string[] = [];
  for (const file of trackedFiles()) {
    let text: string;
    try {
      text = readFileSync(join(REPO_ROOT, file), 'utf8');
    } catch {
      continue; // deleted in the work tree but still tracked
    }
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      for (const n of needles) if (line.includes(n)) hits.push(`${file}:${i + 1}: ${n}`);
      const frame = ABSOLUTE_FRAME.exec(line);
      if (frame) hits.push(`${file}:${i + 1}: ${frame[0]}`);
    });
  }
  assert.deepEqual(hits, [], `tracked files name paths outside the repository:\n${hits.join('\n')}`);
});

test('the check sees a path outside the repository when one is there', () => {
  // Guards the guard: the needles are non-empty and would match the kind of line this test forbids.
  const needles = forbidden();
  assert.ok(needles.length >= 2);
  const line = `see ${dirname(REPO_ROOT)}/elsewhere/file.yaml`;
  assert.ok(needles.some((n) => line.includes(n)));
  assert.ok(needles.some((n) => `read ${SIBLING}/x`.includes(n)));
  // A stack trace recorded on another machine (a history file, a log) names its checkout. The frames are built
  // here so that this file's own lines do not contain one.
  const root = '/some/checkout';
  assert.match(`    at call (file://${root}/test/scripted/activities.ts:24:24)\\n`, ABSOLUTE_FRAME);
  assert.match(`    at async Activity.execute (${root}/node_modules/a/lib/activity.js:104:20)`, ABSOLUTE_FRAME);
  assert.doesNotMatch(
    '    at process.processTicksAndRejections (node:internal/process/task_queues:104:5)',
    ABSOLUTE_FRAME,
  );
  assert.doesNotMatch('    at call (test/scripted/activities.ts:24:24)', ABSOLUTE_FRAME);
});

test('every relative link of the README and docs/ points at a file of the repository', () => {
  const broken: string[] = [];
  for (const file of trackedFiles().filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/i.test(link)) continue; // http:, https:, mailto:
      const target = resolve(dirname(join(REPO_ROOT, file)), link);
      if (!target.startsWith(`${REPO_ROOT}/`) || !existsSync(target)) broken.push(`${file}: ${link}`);
    }
  }
  assert.deepEqual(broken, [], `links outside the repository or to missing files:\n${broken.join('\n')}`);
});
