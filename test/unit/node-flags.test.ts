// The controller image runs node with the V8 flags worker/node-flags.ts lists (dev/stack.ts uses the list itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../dev/proc.ts';
import { CONTROLLER_NODE_FLAGS } from '../../worker/node-flags.ts';

test('the Dockerfile ENTRYPOINT passes the controller node flags before worker/main.ts', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8');
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  assert.ok(line, 'no ENTRYPOINT in deploy/Dockerfile');
  const argv = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
  const node = argv.indexOf('node');
  const main = argv.indexOf('/app/worker/main.ts');
  assert.ok(node >= 0 && main > node, `ENTRYPOINT runs node /app/worker/main.ts: ${line}`);
  assert.deepEqual(argv.slice(node + 1, main), [...CONTROLLER_NODE_FLAGS]);
});
