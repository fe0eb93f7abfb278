// Which sockets of a process tree listen on the host's network namespace outside loopback: the harness may only
// listen on 127.0.0.0/8 and ::1 there (pods and the gateway live in their own namespace, dev/netns.ts).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of `root` and all its descendants, from /proc/<pid>/stat (field 4 is the parent pid). */
export function processTree(root: number): Set<number> {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name (field 2) is in parentheses and may hold spaces: read the fields after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(entry), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const tree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent)
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
  }
  return tree;
}

/** True for 127.0.0.0/8, ::1 and ::ffff:127.x addresses. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  return a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.');
}

/**
 * TCP and UDP sockets listening (or bound, for UDP) in the caller's network namespace, owned by a process of the
 * tree under `root` (default: this process), on an address outside loopback; each as `address:port pid=N (cmd)`.
 * Reads `ss -ltunpH` (iproute2).
 */
export function nonLoopbackListeners(root = process.pid): string[] {
  const tree = processTree(root);
  const out = execFileSync('ss', ['-ltunpH'], { encoding: 'utf8' });
  const found: string[] = [];
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const local = cols[4];
    if (!local) continue;
    const address = local.slice(0, local.lastIndexOf(':'));
    if (isLoopback(address)) continue;
    for (const m of line.matchAll(/\("([^"]*)",pid=(\d+)/g))
      if (tree.has(Number(m[2]))) found.push(`${local} pid=${m[2]} (${m[1]})`);
  }
  return found;
}
