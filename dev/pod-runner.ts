// The pod runner: kwok only simulates pods, so nothing answers on their IPs. This turns each Running pod with
// an IP into a real process — the podinfo work-alike (dev/podinfo.ts) — listening on the pod's IP inside the
// harness's network namespace (dev/netns.ts), one process per container that declares ports. Its version is the
// image tag; podinfo's flags come from the container's command and args. The process stops when the pod goes
// (deleted, terminating, or its IP changed).
//
// Readiness follows the process: the runner sets the pod's Ready and ContainersReady conditions True once its
// process listens (with `startCluster({ podReadiness: 'runner' })` kwok leaves them False until then; a pod with
// no container port is made Ready at once); if the process exits while its pod still exists, it sets them False
// and restarts the process after 1 s (as kubelet would), then True again once it listens. A pod with several
// served containers turns Ready when the first of them listens.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { REPO_ROOT, type Server } from './proc.ts';
import type { PodNetwork } from './netns.ts';

const PODINFO = join(REPO_ROOT, 'dev', 'podinfo.ts');

/** Tag of an image reference (`ghcr.io/x/podinfo:6.0.1` → `6.0.1`; no tag → `latest`; digest ignored). */
export function imageVersion(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(colon + 1) : 'latest';
}

/**
 * Arguments of the podinfo work-alike for one container of a pod: podinfo's own flags from command + args, and
 * `--port` defaulted to the first container port when the container gives none. Undefined when the container
 * declares no port (nothing to serve).
 */
export function podinfoArgs(pod: k8s.V1Pod, container: k8s.V1Container): string[] | undefined {
  const ports = container.ports ?? [];
  if (!ports.length || !pod.status?.podIP) return undefined;
  const flags = [...(container.command ?? []), ...(container.args ?? [])].filter((a) => a.startsWith('--'));
  const hasPort = flags.some((f) => f === '--port' || f.startsWith('--port='));
  return [
    `--listen=${pod.status.podIP}`,
    `--version=${imageVersion(container.image ?? '')}`,
    `--hostname=${pod.metadata?.name ?? ''}`,
    ...(hasPort ? [] : [`--port=${ports[0]?.containerPort}`]),
    ...flags,
  ];
}

interface Running {
  key: string;
  podIP: string;
  server: Server;
  wanted: boolean;
}

export interface PodRunner {
  /** Keys (`namespace/pod/container`) of the processes running now. */
  running(): string[];
  /** How many times the process of `key` was started (restarts included). */
  starts(key: string): number;
  /** Why the last round failed (`<ISO time> <message>`), until a round succeeds; undefined while rounds succeed. */
  lastError(): string | undefined;
  stop(): Promise<void>;
}

function keyOf(pod: k8s.V1Pod, c: k8s.V1Container): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}/${c.name}`;
}

/** Starts the runner; it polls the pods every 300 ms until `stop()`. */
export function startPodRunner(kc: k8s.KubeConfig, net: PodNetwork): PodRunner {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const procs = new Map<string, Running>();
  const startCount = new Map<string, number>();
  let stopped = false;
  let seq = 0;
  let lastError: string | undefined;

  const setReady = async (pod: k8s.V1Pod, ready: boolean) => {
    const status = ready ? 'True' : 'False';
    const now = new Date().toISOString();
    await core
      .patchNamespacedPodStatus(
        {
          name: pod.metadata?.name ?? '',
          namespace: pod.metadata?.namespace ?? '',
          body: {
            status: {
              conditions: ['Ready', 'ContainersReady'].map((type) => ({ type, status, lastTransitionTime: now })),
            },
          },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
      )
      .catch(() => undefined);
  };

  const launch = (pod: k8s.V1Pod, c: k8s.V1Container, args: string[]) => {
    const key = keyOf(pod, c);
    startCount.set(key, (startCount.get(key) ?? 0) + 1);
    const server = net.spawn({
      name: `pod ${key}`,
      bin: process.execPath,
      args: [PODINFO, ...args],
      logFile: join(net.dir, `pod-${++seq}.log`),
    });
    const entry: Running = { key, podIP: pod.status?.podIP ?? '', server, wanted: true };
    procs.set(key, entry);
    void (async () => {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && procs.get(key) === entry) {
        if (readFileSync(server.logFile, 'utf8').includes('listening on')) {
          await setReady(pod, true);
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    void server.exit.then(async () => {
      if (stopped || procs.get(key) !== entry || !entry.wanted) return;
      await setReady(pod, false);
      await new Promise((r) => setTimeout(r, 1000));
      if (!stopped && procs.get(key) === entry) launch(pod, c, args);
    });
  };

  const sync = async () => {
    const pods = (await core.listPodForAllNamespaces()).items;
    const seen = new Set<string>();
    for (const pod of pods) {
      if (pod.metadata?.deletionTimestamp || pod.status?.phase !== 'Running' || pod.spec?.hostNetwork) continue;
      const isReady = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      const served = (pod.spec?.containers ?? []).some((c) => podinfoArgs(pod, c));
      if (!served && !isReady && pod.status?.podIP) await setReady(pod, true);
      for (const c of pod.spec?.containers ?? []) {
        const args = podinfoArgs(pod, c);
        if (!args) continue;
        const key = keyOf(pod, c);
        const cur = procs.get(key);
        if (cur && cur.podIP === pod.status?.podIP) {
          seen.add(key);
          continue;
        }
        if (cur) continue; // IP changed: stopped below, started on the next round
        seen.add(key);
        launch(pod, c, args);
      }
    }
    for (const [key, p] of procs) {
      if (seen.has(key)) continue;
      p.wanted = false;
      procs.delete(key);
      await p.server.stop();
    }
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        await sync();
        lastError = undefined;
      } catch (err) {
        // apiserver briefly unavailable, a process that could not be spawned: next round; kept for diagnosis
        lastError = `${new Date().toISOString()} ${err instanceof Error ? err.message : String(err)}`;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();

  return {
    running: () => [...procs.keys()].sort(),
    starts: (key) => startCount.get(key) ?? 0,
    lastError: () => lastError,
    async stop() {
      stopped = true;
      await loop;
      for (const p of procs.values()) await p.server.stop();
      procs.clear();
    },
  };
}
