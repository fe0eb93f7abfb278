// Pod discovery for the harness's Prometheus (dev/pod-discovery.ts) and the `kubernetes-pods` job of Flagger's
// chart (dev/prometheus.ts): the target groups carry kubernetes_sd's labels, and a real Prometheus with the job
// scrapes exactly the annotated pods, once each, on the annotated port, labelled with namespace, pod and labels.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { podTargetGroups, sanitizeLabelName } from '../../dev/pod-discovery.ts';
import { kubernetesPodsJob, startPrometheus, type PrometheusServer } from '../../dev/prometheus.ts';
import { makeTempDir, removeTempDir } from '../../dev/proc.ts';

/** A Running pod of Flagger's podinfo fixture shape: ports http 9898, http-metrics 9797 and grpc 9999. */
function pod(name: string, ip: string | undefined, annotations: Record<string, string>): k8s.V1Pod {
  return {
    metadata: { name, namespace: 'apps', labels: { app: 'podinfo', 'pod-template-hash': 'abc12' }, annotations },
    spec: {
      nodeName: 'kwok-node-0',
      containers: [
        {
          name: 'podinfod',
          ports: [
            { name: 'http', containerPort: 9898, protocol: 'TCP' },
            { name: 'http-metrics', containerPort: 9797, protocol: 'TCP' },
            { name: 'grpc', containerPort: 9999, protocol: 'TCP' },
          ],
        },
        { name: 'sidecar' },
      ],
    },
    status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

describe('pod discovery', () => {
  it('one target per container port (the bare IP for a container without ports), kubernetes_sd labels', () => {
    const groups = podTargetGroups([
      pod('podinfo-abc12-xyz', '10.244.0.7', { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9797' }),
      pod('pending', undefined, {}),
    ]);
    assert.deepEqual(
      groups.map((g) => g.targets),
      [['10.244.0.7:9898'], ['10.244.0.7:9797'], ['10.244.0.7:9999'], ['10.244.0.7']],
    );
    const metrics = groups[1]!.labels;
    assert.equal(metrics.__meta_kubernetes_namespace, 'apps');
    assert.equal(metrics.__meta_kubernetes_pod_name, 'podinfo-abc12-xyz');
    assert.equal(metrics.__meta_kubernetes_pod_ip, '10.244.0.7');
    assert.equal(metrics.__meta_kubernetes_pod_ready, 'true');
    assert.equal(metrics.__meta_kubernetes_pod_label_pod_template_hash, 'abc12');
    assert.equal(metrics.__meta_kubernetes_pod_annotation_prometheus_io_scrape, 'true');
    assert.equal(metrics.__meta_kubernetes_pod_annotationpresent_prometheus_io_port, 'true');
    assert.equal(metrics.__meta_kubernetes_pod_container_port_name, 'http-metrics');
    assert.equal(metrics.__meta_kubernetes_pod_container_port_number, '9797');
    assert.equal(groups[3]!.labels.__meta_kubernetes_pod_container_name, 'sidecar');
    assert.equal(groups[3]!.labels.__meta_kubernetes_pod_container_port_number, undefined);
    assert.equal(sanitizeLabelName('app.kubernetes.io/name'), 'app_kubernetes_io_name');
  });
});

describe("Flagger chart's kubernetes-pods job on a real Prometheus", () => {
  let dir = '';
  let exporter: Server;
  let prometheus: PrometheusServer;
  before(async () => {
    dir = makeTempDir('pod-discovery');
    exporter = createServer((req, res) => {
      res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
      res.end('# TYPE http_requests_total counter\nhttp_requests_total{status="200"} 42\n');
    });
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
    const port = (exporter.address() as AddressInfo).port;
    const sdFile = join(dir, 'pods.sd.json');
    // "Pods" on 127.0.0.1 whose annotated metrics port is the exporter's: one kept, one not annotated.
    const groups = podTargetGroups([
      pod('podinfo-abc12-xyz', '127.0.0.1', { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port) }),
      pod('other-abc12-xyz', '127.0.0.1', { 'prometheus.io/port': String(port) }),
    ]);
    writeFileSync(sdFile, JSON.stringify(groups));
    prometheus = await startPrometheus({ scrapeJobs: [kubernetesPodsJob(sdFile)], scrapeIntervalSeconds: 1 });
  });
  after(async () => {
    await prometheus?.stop();
    await new Promise((r) => exporter?.close(r));
    if (dir) removeTempDir(dir);
  });

  it('scrapes the annotated pod once, on the annotated port, with namespace, pod and pod labels', async () => {
    const port = (exporter.address() as AddressInfo).port;
    const query = async () => {
      const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent('http_requests_total')}`);
      return ((await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } })
        .data.result;
    };
    const deadline = Date.now() + 30_000;
    let result = await query();
    while (result.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      result = await query();
    }
    assert.deepEqual(
      result.map((r) => [r.metric, r.value[1]]),
      [
        [
          {
            __name__: 'http_requests_total',
            app: 'podinfo',
            instance: `127.0.0.1:${port}`,
            job: 'kubernetes-pods',
            kubernetes_namespace: 'apps',
            kubernetes_pod_name: 'podinfo-abc12-xyz',
            pod_template_hash: 'abc12',
            status: '200',
          },
          '42',
        ],
      ],
    );
  });
});
