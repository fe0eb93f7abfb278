// fledge's load tester (worker/loadtester.ts, with its built-in `hey`) inside the harness's network namespace
// (dev/netns.ts), where a flagger-loadtester pod would be: its `hey` commands reach the gateway (Traefik's `web`
// entrypoint on 127.0.0.1:8000 there) and pod IPs directly, as in a cluster. The controllers on the host post
// webhooks to it through a loopback forwarder (`url`). Nothing listens outside loopback.
import { join } from 'node:path';
import type { PodNetwork } from './netns.ts';
import { REPO_ROOT, freePort, waitReady, type Server } from './proc.ts';

export interface NetnsLoadTester {
  readonly server: Server;
  /** `http://127.0.0.1:<port>` on the host: the webhook URL (`/`, `/gate/*`, `/healthz`, …). */
  readonly url: string;
  /** Its JSON log, with each command's output (`--log-cmd-output`). */
  readonly logFile: string;
  stop(): Promise<void>;
}

/**
 * Starts `node worker/loadtester.ts` in `net` on 127.0.0.1 (gate state in a file of `net.dir`); resolves once
 * `/healthz` answers through the forwarder (30 s at most), rejects with the log's tail otherwise.
 */
export async function startNetnsLoadTester(net: PodNetwork): Promise<NetnsLoadTester> {
  const port = await freePort();
  const logFile = join(net.dir, 'loadtester.log');
  const server = net.spawn({
    name: 'loadtester',
    bin: process.execPath,
    logFile,
    args: [
      join(REPO_ROOT, 'worker', 'loadtester.ts'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--state-file',
      join(net.dir, 'loadtester-gates.json'),
      '--log-cmd-output',
    ],
  });
  try {
    const url = `http://127.0.0.1:${await net.forwardToNamespace('127.0.0.1', port)}`;
    await waitReady(server, async () => (await fetch(`${url}/healthz`)).ok, { timeoutMs: 30_000 });
    return { server, url, logFile, stop: () => server.stop() };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
