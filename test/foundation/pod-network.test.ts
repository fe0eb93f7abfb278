// The harness's network namespace (dev/netns.ts) and the pod runner (dev/pod-runner.ts) on a real cluster with
// kwok: pods of a Deployment become podinfo work-alikes on their pod IPs inside the namespace; the host never
// sees those addresses and reaches them only through a loopback forwarder; the namespace reaches the host's
// apiserver through a relay; readiness follows the process; processes stop with their pods.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { startCluster, waitFor, type Cluster } from '../../dev/cluster.ts';
import { startPodNetwork, type PodNetwork } from '../../dev/netns.ts';
import { imageVersion, startPodRunner, type PodRunner } from '../../dev/pod-runner.ts';

let cluster: Cluster;
let net: PodNetwork;
let runner: PodRunner;
before(async () => {
  cluster = await startCluster({ controllers: true, nodes: 1, podReadiness: 'runner' });
  net = await startPodNetwork();
  runner = startPodRunner(cluster.kubeConfig, net);
});
after(async () => {
  await runner?.stop();
  await net?.stop();
  await cluster?.stop();
});

function deploymentManifest(ns: string, name: string, image: string, replicas: number, args: string[]): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'podinfod',
              image,
              command: ['./podinfo', '--port=9898', '--port-metrics=9797', '--level=info', ...args],
              ports: [{ name: 'http', containerPort: 9898 }],
            },
          ],
        },
      },
    },
  };
}

async function pods(ns: string, app: string): Promise<k8s.V1Pod[]> {
  const core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
  return (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items;
}

/**
 * What kept pods of `ns` from running: the runner's last error, each pod's phase, IP, node and readiness, and the
 * namespace's last events.
 */
async function podState(what: string, ns: string): Promise<string> {
  const core = cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const items = (await core.listNamespacedPod({ namespace: ns })).items;
  const each = items.map(
    (p) =>
      `${p.metadata?.name} ${p.status?.phase} ip=${p.status?.podIP ?? '-'} node=${p.spec?.nodeName ?? '-'} ready=${ready(p) ?? '-'}`,
  );
  // The namespace's events name what kept pods from being created, scheduled or started (ReplicaSet, scheduler, kwok).
  const events = (await core.listNamespacedEvent({ namespace: ns })).items
    .slice(-8)
    .map((e) => `${e.involvedObject.kind}/${e.involvedObject.name} ${e.reason}: ${e.message}`);
  return `${what}; runner running ${JSON.stringify(runner.running())}, last error ${runner.lastError() ?? 'none'}; pods: ${each.join(', ') || 'none'}; events: ${events.join(' | ') || 'none'}`;
}

const ready = (p: k8s.V1Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status;

/** GET inside the namespace (curl run there): status and body. */
async function curlInside(url: string): Promise<{ status: number; body: string }> {
  const out = await net.exec('curl', ['-s', '-m', '10', '-w', '\n%{http_code}', url]);
  const i = out.lastIndexOf('\n');
  return { body: out.slice(0, i), status: Number(out.slice(i + 1)) };
}

describe('pod network and pod runner', () => {
  it('image tag → version', () => {
    assert.equal(imageVersion('ghcr.io/stefanprodan/podinfo:6.0.1'), '6.0.1');
    assert.equal(imageVersion('localhost:5000/podinfo'), 'latest');
    assert.equal(imageVersion('podinfo:6.1.0@sha256:abc'), '6.1.0');
  });

  it('pods serve podinfo on their IPs inside the namespace only; the host reaches them through a forwarder', async () => {
    const ns = await cluster.createNamespace('pods');
    await cluster.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(deploymentManifest(ns, 'web', 'ghcr.io/stefanprodan/podinfo:6.0.1', 2, ['--random-error=false'])),
    );
    await waitFor(
      async () => runner.running().filter((k) => k.startsWith(`${ns}/`)).length === 2,
      () => podState('two pod processes', ns),
    );
    const ips = (await pods(ns, 'web')).map((p) => p.status?.podIP ?? '');
    assert.equal(ips.length, 2);
    for (const ip of ips) {
      assert.ok(ip.startsWith('10.244.'), ip);
      await waitFor(async () => (await curlInside(`http://${ip}:9898/healthz`)).status === 200, `${ip} healthz`);
      const root = await curlInside(`http://${ip}:9898/`);
      assert.equal(root.status, 200);
      assert.equal((JSON.parse(root.body) as { version: string }).version, '6.0.1');
      assert.equal((await curlInside(`http://${ip}:9898/status/503`)).status, 503);
      assert.equal(JSON.parse((await curlInside(`http://${ip}:9898/delay/0.1`)).body).delay, 0.1);
      assert.ok(JSON.parse((await curlInside(`http://${ip}:9898/token`)).body).token);
      assert.equal((await curlInside(`http://${ip}:9898/readyz`)).status, 200);
      const metrics = await curlInside(`http://${ip}:9797/metrics`);
      assert.match(metrics.body, /http_requests_total\{status="503"\} 1/);
    }

    // Isolation: no host interface carries a pod address, no host socket listens on one, the host has no
    // local route to them; inside the namespace the pods listen on exactly those addresses.
    const hostAddrs = execFileSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' });
    const hostListen = execFileSync('ss', ['-ltnH'], { encoding: 'utf8' });
    const insideListen = await net.exec('ss', ['-ltnH']);
    for (const ip of ips) {
      assert.ok(!hostAddrs.includes(ip), `host interfaces:\n${hostAddrs}`);
      assert.ok(!hostListen.includes(`${ip}:`), `host listeners:\n${hostListen}`);
      assert.ok(insideListen.includes(`${ip}:9898`), `namespace listeners:\n${insideListen}`);
      assert.doesNotMatch(execFileSync('ip', ['route', 'get', ip], { encoding: 'utf8' }), /^local /);
    }
    assert.ok(!hostAddrs.includes('10.244.'), hostAddrs);

    const port = await net.forwardToNamespace(ips[0] ?? '', 9898);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(((await res.json()) as { version: string }).version, '6.0.1');

    // Readiness follows the process: kill one pod's process; its pod turns NotReady, then Ready once restarted.
    const victim = (await pods(ns, 'web'))[0];
    const victimIp = victim?.status?.podIP ?? '';
    const pid = (await net.exec('ss', ['-ltnpH', `src ${victimIp}:9898`])).match(/pid=(\d+)/)?.[1];
    assert.ok(pid, 'pid of the pod process');
    process.kill(Number(pid), 'SIGKILL');
    await waitFor(
      async () => ready((await pods(ns, 'web')).find((p) => p.status?.podIP === victimIp) ?? {}) === 'False',
      'pod NotReady after its process died',
    );
    await waitFor(
      async () => ready((await pods(ns, 'web')).find((p) => p.status?.podIP === victimIp) ?? {}) === 'True',
      'pod Ready after its process restarted',
    );
    assert.equal((await curlInside(`http://${victimIp}:9898/healthz`)).status, 200);

    // Processes stop when their pods go.
    await cluster.kubectl(['delete', 'deployment', 'web', '-n', ns, '--wait=false']);
    await waitFor(async () => runner.running().every((k) => !k.startsWith(`${ns}/`)), 'pod processes stopped');
    await waitFor(async () => !(await net.exec('ss', ['-ltnH'])).includes(`${victimIp}:9898`), 'listener gone');
  });

  it('a pod whose process cannot listen stays Running but not Ready, its process restarted', async () => {
    const ns = await cluster.createNamespace('broken');
    await cluster.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(deploymentManifest(ns, 'broken', 'ghcr.io/stefanprodan/podinfo:6.0.3', 1, ['--port=none'])),
    );
    await waitFor(
      async () => runner.running().some((k) => k.startsWith(`${ns}/`)),
      () => podState('a pod process', ns),
    );
    const key = runner.running().find((k) => k.startsWith(`${ns}/`)) ?? '';
    // Two restarts: each time the process exited, the runner checked the pod and left (or set) it NotReady.
    await waitFor(async () => runner.starts(key) >= 3, 'the process restarted twice');
    const [pod] = await pods(ns, 'broken');
    assert.equal(pod?.status?.phase, 'Running');
    assert.ok(pod?.status?.podIP);
    assert.equal(ready(pod ?? {}), 'False');
  });

  it('--random-error makes about a third of the requests fail with 5xx', async () => {
    const ns = await cluster.createNamespace('err');
    await cluster.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(deploymentManifest(ns, 'bad', 'ghcr.io/stefanprodan/podinfo:6.0.2', 1, ['--random-error=true'])),
    );
    await waitFor(
      async () => runner.running().some((k) => k.startsWith(`${ns}/`)),
      () => podState('a pod process', ns),
    );
    const ip = (await pods(ns, 'bad'))[0]?.status?.podIP ?? '';
    await waitFor(async () => (await curlInside(`http://${ip}:9898/healthz`)).status === 200, 'healthz');
    const port = await net.forwardToNamespace(ip, 9898);
    let errors = 0;
    for (let i = 0; i < 300; i++) if ((await fetch(`http://127.0.0.1:${port}/`)).status >= 500) errors++;
    assert.ok(errors > 60 && errors < 140, `5xx: ${errors}/300`);
  });

  it('the namespace reaches the host apiserver through the relay', async () => {
    const port = Number(new URL(cluster.server).port);
    await net.exposeHostPort(port);
    // The serving cert names 127.0.0.1, so the namespace sees the apiserver at the very address the host does.
    const out = await net.exec('curl', [
      '-s',
      '-m',
      '10',
      '--cacert',
      `${cluster.dir}/ca.crt`,
      `https://127.0.0.1:${port}/version`,
    ]);
    assert.match(out, /"gitVersion"/);
  });
});
