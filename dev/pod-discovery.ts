// Pod discovery for the harness's Prometheus: the pods of the test apiserver as Prometheus `file_sd` target
// groups carrying the `__meta_kubernetes_*` labels of Prometheus' `kubernetes_sd_configs` (role: pod), so a
// scrape job written for Kubernetes (Flagger chart's `kubernetes-pods` relabelling, dev/prometheus.ts) works
// unchanged. Needed because Debian's Prometheus package is built without the Kubernetes discovery (its config
// parser rejects `kubernetes_sd_configs`). The file is rewritten (atomically, by rename) when the pods change;
// Prometheus watches it.
import { renameSync, writeFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';

/** One `file_sd` target group: scrape addresses and their labels. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Prometheus' label-name sanitising of Kubernetes label/annotation keys (every invalid character → `_`). */
export function sanitizeLabelName(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_');
}

/**
 * Target groups of the pods as Prometheus' Kubernetes pod discovery makes them (discovery/kubernetes/pod.go):
 * pods without an IP are left out; one target `<podIP>:<port>` per container port, or `<podIP>` for a container
 * without ports; pod-level labels `__meta_kubernetes_namespace`, `_pod_name`, `_pod_ip`, `_pod_phase`,
 * `_pod_ready`, `_pod_node_name`, `_pod_label_<key>` and `_pod_annotation_<key>` (with their `…present_` twins);
 * container-level `_pod_container_name`, `_pod_container_port_name`, `_pod_container_port_number`,
 * `_pod_container_port_protocol`.
 */
export function podTargetGroups(pods: k8s.V1Pod[]): TargetGroup[] {
  const groups: TargetGroup[] = [];
  for (const pod of pods) {
    const ip = pod.status?.podIP;
    if (!ip) continue;
    const meta = '__meta_kubernetes_';
    const podLabels: Record<string, string> = {
      [`${meta}namespace`]: pod.metadata?.namespace ?? '',
      [`${meta}pod_name`]: pod.metadata?.name ?? '',
      [`${meta}pod_ip`]: ip,
      [`${meta}pod_phase`]: pod.status?.phase ?? '',
      [`${meta}pod_node_name`]: pod.spec?.nodeName ?? '',
      [`${meta}pod_ready`]: String(
        pod.status?.conditions?.find((c) => c.type === 'Ready')?.status?.toLowerCase() ?? 'unknown',
      ),
    };
    for (const [kind, entries] of [
      ['label', pod.metadata?.labels],
      ['annotation', pod.metadata?.annotations],
    ] as const) {
      for (const [k, v] of Object.entries(entries ?? {})) {
        podLabels[`${meta}pod_${kind}_${sanitizeLabelName(k)}`] = v;
        podLabels[`${meta}pod_${kind}present_${sanitizeLabelName(k)}`] = 'true';
      }
    }
    for (const c of pod.spec?.containers ?? []) {
      const container = { ...podLabels, [`${meta}pod_container_name`]: c.name };
      if (!c.ports?.length) {
        groups.push({ targets: [ip], labels: container });
        continue;
      }
      for (const p of c.ports) {
        groups.push({
          targets: [`${ip}:${p.containerPort}`],
          labels: {
            ...container,
            [`${meta}pod_container_port_name`]: p.name ?? '',
            [`${meta}pod_container_port_number`]: String(p.containerPort),
            [`${meta}pod_container_port_protocol`]: p.protocol ?? 'TCP',
          },
        });
      }
    }
  }
  return groups;
}

export interface PodDiscovery {
  stop(): Promise<void>;
}

/**
 * Lists the cluster's pods every `intervalMs` (default 500) and writes their target groups to `file` (JSON) when
 * they changed; the first write happens before this resolves. List errors (apiserver restarting) skip a round.
 */
export async function startPodDiscovery(
  kubeConfig: k8s.KubeConfig,
  file: string,
  intervalMs = 500,
): Promise<PodDiscovery> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  let last = '';
  const sync = async () => {
    const text = JSON.stringify(podTargetGroups((await core.listPodForAllNamespaces()).items), null, 1);
    if (text === last) return;
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
    last = text;
  };
  await sync();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, intervalMs));
      await sync().catch(() => undefined);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
