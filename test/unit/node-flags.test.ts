// The controller image and `npm run controller` run node with the flags worker/node-flags.ts lists (dev/stack.ts
// uses the list itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../dev/proc.ts';
import { controllerNodeFlags } from '../../worker/node-flags.ts';

test('the Dockerfile ENTRYPOINT passes the controller node flags before worker/main.ts', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8');
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  assert.ok(line, 'no ENTRYPOINT in deploy/Dockerfile');
  const argv = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
  const node = argv.indexOf('node');
  const main = argv.indexOf('/app/worker/main.ts');
  assert.ok(node >= 0 && main > node, `ENTRYPOINT runs node /app/worker/main.ts: ${line}`);
  assert.deepEqual(argv.slice(node + 1, main), controllerNodeFlags('/app'));
});

test("package.json's controller script runs worker/main.ts with the same flags", () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.controller, ['node', ...controllerNodeFlags('.'), 'worker/main.ts'].join(' '));
});
