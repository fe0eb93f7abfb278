// A network namespace of the harness's own, where the gateway (Traefik) and the pod processes run, so pod
// addresses never appear on the host's interfaces. Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN), `unshare`,
// `nsenter` and `ip` (util-linux, iproute2).
//
// - A holder process (`unshare --net sleep`) owns the namespace; the namespace goes away with it, so nothing is
//   left behind even if teardown is skipped (the process group is killed on exit, dev/proc.ts).
// - Inside: `lo` up and `ip route add local <podCidr> dev lo`, so any pod IP is a local address (a process can
//   bind to it) and nothing leaves the namespace.
// - Crossing: dev/relay.ts pairs joined by a unix socket file. `forwardToNamespace` gives the host a
//   127.0.0.1 port that reaches an address inside (the gateway); `exposeHostPort` makes a host loopback port
//   (the apiserver) answer on the same 127.0.0.1 port inside.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, freePort, makeTempDir, removeTempDir, spawnServer, waitReady, type Server } from './proc.ts';

const run = promisify(execFile);

export interface NetnsSpawnOptions {
  name: string;
  bin: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

export interface PodNetwork {
  readonly dir: string;
  /** The CIDR routed to loopback inside (kwok's pod CIDR), e.g. `10.244.0.0/16`. */
  readonly podCidr: string;
  /** Starts a process inside the namespace (own process group; `stop()` kills it). */
  spawn(opts: NetnsSpawnOptions): Server;
  /** Runs a command inside the namespace to completion; resolves with its stdout. */
  exec(bin: string, args: string[]): Promise<string>;
  /**
   * A host 127.0.0.1 port whose connections reach `host:port` inside the namespace: `hostPort` if given (chosen
   * beforehand, e.g. for a scrape config), else a free one.
   */
  forwardToNamespace(host: string, port: number, hostPort?: number): Promise<number>;
  /** Makes the host's 127.0.0.1:`port` reachable as 127.0.0.1:`port` inside the namespace. */
  exposeHostPort(port: number): Promise<void>;
  stop(): Promise<void>;
}

const NODE = process.execPath;
const RELAY = join(REPO_ROOT, 'dev', 'relay.ts');

async function relayReady(server: Server): Promise<void> {
  await waitReady(server, async () => readFileSync(server.logFile, 'utf8').includes('relay ready'), {
    timeoutMs: 20_000,
    intervalMs: 50,
  });
}

/**
 * Creates the namespace and its routes; resolves once they are in place. `podCidr` is the range kwok assigns
 * pod IPs from (dev/cluster.ts runs kwok with `--cidr=10.244.0.1/16`). Rejects if unshare/ip fail (not root).
 */
export async function startPodNetwork({ podCidr = '10.244.0.0/16' } = {}): Promise<PodNetwork> {
  const dir = makeTempDir('netns');
  const servers: Server[] = [];
  const holder = spawnServer({
    name: 'netns-holder',
    bin: 'unshare',
    // Bounded: a day at most, and killed with its process group on teardown or when the harness exits.
    args: ['--net', '--', 'sleep', '86400'],
    logFile: join(dir, 'holder.log'),
  });
  servers.push(holder);
  const nsenter = ['--net=' + `/proc/${holder.pid}/ns/net`, '--'];
  const exec = async (bin: string, args: string[]) => (await run('nsenter', [...nsenter, bin, ...args])).stdout;
  const stop = async () => {
    for (const s of servers.reverse()) await s.stop();
    servers.length = 0;
    if (!process.env.FLEDGE_KEEP_TEMP) removeTempDir(dir);
  };
  try {
    // unshare replaces itself with sleep; the namespace exists once the pid's net ns differs from ours.
    await waitReady(
      holder,
      async () =>
        (await run('readlink', [`/proc/${holder.pid}/ns/net`])).stdout !==
        (await run('readlink', ['/proc/self/ns/net'])).stdout,
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    await exec('ip', ['link', 'set', 'lo', 'up']);
    await exec('ip', ['route', 'add', 'local', podCidr, 'dev', 'lo']);
  } catch (err) {
    await stop();
    throw err;
  }
  let seq = 0;
  const spawn = (opts: NetnsSpawnOptions): Server => {
    const s = spawnServer({ ...opts, bin: 'nsenter', args: [...nsenter, opts.bin, ...opts.args] });
    servers.push(s);
    return s;
  };
  const relay = async (inside: boolean, listen: string, target: string): Promise<void> => {
    const n = ++seq;
    const opts = { name: `relay-${n}`, bin: NODE, args: [RELAY, listen, target], logFile: join(dir, `relay-${n}.log`) };
    const s = inside ? spawn(opts) : spawnServer(opts);
    if (!inside) servers.push(s);
    await relayReady(s);
  };
  return {
    dir,
    podCidr,
    spawn,
    exec,
    async forwardToNamespace(host, port, fixedPort) {
      const sock = join(dir, `in-${++seq}.sock`);
      await relay(true, `unix:${sock}`, `tcp:${host}:${port}`);
      const hostPort = fixedPort ?? (await freePort());
      await relay(false, `tcp:127.0.0.1:${hostPort}`, `unix:${sock}`);
      return hostPort;
    },
    async exposeHostPort(port) {
      const sock = join(dir, `out-${++seq}.sock`);
      await relay(false, `unix:${sock}`, `tcp:127.0.0.1:${port}`);
      await relay(true, `tcp:127.0.0.1:${port}`, `unix:${sock}`);
    },
    stop,
  };
}
