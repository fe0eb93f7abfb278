// The chaos suite's pure parts: a seed reproduces its random schedule, and scripts/test.sh never runs it (the
// chaos suite has its own command, scripts/chaos.sh).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../dev/proc.ts';
import { medianMax, outcomeKey, seededRandom } from '../chaos/lib.ts';

it('a seed reproduces the random sequence; another seed gives another one; values lie in [0, 1)', () => {
  const take = (seed: number) => {
    const r = seededRandom(seed);
    return Array.from({ length: 1000 }, () => r());
  };
  const a = take(7);
  assert.deepEqual(take(7), a);
  assert.notDeepEqual(take(8), a);
  assert.ok(a.every((x) => x >= 0 && x < 1));
  // Not degenerate: both halves of the range are hit often.
  assert.ok(a.filter((x) => x < 0.5).length > 400 && a.filter((x) => x >= 0.5).length > 400);
});

it('outcomeKey compares route sequence and final state; medianMax summarises durations', () => {
  const obs = {
    routes: ['100/0', '90/10', '100/0'],
    phase: 'Succeeded',
    primary: 'new',
    weights: '100/0',
    failedChecks: 0,
    ms: 1,
    events: [],
  };
  assert.equal(outcomeKey(obs), 'routes 100/0 → 90/10 → 100/0; Succeeded, primary new, weights 100/0');
  assert.notEqual(outcomeKey({ ...obs, routes: ['100/0', '100/0'] }), outcomeKey(obs));
  assert.equal(medianMax([3000, 1000, 2000, 10_000]), '2.0 s / 10.0 s');
  assert.equal(medianMax([]), '-');
});

it("scripts/test.sh's file selection leaves the chaos suite out", () => {
  const script = readFileSync(join(REPO_ROOT, 'scripts', 'test.sh'), 'utf8');
  const find = /< <\((find test [^)]*)\)/.exec(script)?.[1];
  assert.ok(find, 'the find of scripts/test.sh');
  const files = execFileSync('bash', ['-c', find], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, FLEDGE_TEST_FILTER: '' },
  })
    .trim()
    .split('\n');
  assert.ok(files.includes('test/unit/chaos-lib.test.ts'), files.join('\n'));
  assert.deepEqual(
    files.filter((f) => f.startsWith('test/chaos/')),
    [],
  );
  // The suite is there to be left out.
  assert.ok(readdirSync(join(REPO_ROOT, 'test', 'chaos')).some((f) => f.endsWith('.chaos.ts')));
});
