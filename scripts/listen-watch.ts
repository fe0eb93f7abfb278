// The test command's listener check (scripts/test.sh): every second, the sockets that processes under `<root-pid>`
// listen on outside loopback in the host's network namespace (dev/listeners.ts) are appended to `<out-file>`, once
// each. Exits when the root process is gone or on SIGTERM. The tests may only listen on 127.0.0.0/8 and ::1 there.
//
// Usage: node scripts/listen-watch.ts <root-pid> <out-file>
import { appendFileSync } from 'node:fs';
import { nonLoopbackListeners } from '../dev/listeners.ts';

const [rootArg, out] = process.argv.slice(2);
const root = Number(rootArg);
if (!Number.isInteger(root) || !out) throw new Error('usage: listen-watch.ts <root-pid> <out-file>');
const seen = new Set<string>();
const alive = () => {
  try {
    process.kill(root, 0);
    return true;
  } catch {
    return false;
  }
};
process.on('SIGTERM', () => process.exit(0));
while (alive()) {
  for (const line of nonLoopbackListeners(root)) {
    // The pid changes from run to run of the same server; the address and command identify the offence.
    if (seen.has(line)) continue;
    seen.add(line);
    appendFileSync(out, `${new Date().toISOString()} ${line}\n`);
  }
  await new Promise((r) => setTimeout(r, 1000));
}
