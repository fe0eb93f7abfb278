// Gate state of the load tester (Flagger's GateStorage), kept where a restart cannot lose it: a JSON state file
// or a ConfigMap. Flagger keeps it in memory, so a restarted loadtester silently closes every gate; here an
// approved rollout stays approved.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';

/** Gate keys are Flagger's: `<name>.<namespace>` and `rollback.<name>.<namespace>`. Closed unless opened. */
export interface GateStore {
  readonly kind: string;
  isOpen(key: string): Promise<boolean>;
  open(key: string): Promise<void>;
  close(key: string): Promise<void>;
}

export class MemoryGateStore implements GateStore {
  readonly kind = 'memory';
  private readonly gates = new Set<string>();
  async isOpen(key: string) {
    return this.gates.has(key);
  }
  async open(key: string) {
    this.gates.add(key);
  }
  async close(key: string) {
    this.gates.delete(key);
  }
}

/** One JSON object `{ "<key>": true }`; written to a temp file and renamed, so a crash never leaves half a file. */
export class FileGateStore implements GateStore {
  readonly kind = 'file';
  private readonly path: string;
  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
  }
  // Read on every call: the file is the truth, also when an operator edits it or a second replica shares it.
  private read(): Record<string, boolean> {
    if (!existsSync(this.path)) return {};
    const text = readFileSync(this.path, 'utf8');
    return text.trim() ? (JSON.parse(text) as Record<string, boolean>) : {};
  }
  private write(gates: Record<string, boolean>): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(gates, null, 2) + '\n');
    renameSync(tmp, this.path);
  }
  async isOpen(key: string) {
    return this.read()[key] === true;
  }
  async open(key: string) {
    this.write({ ...this.read(), [key]: true });
  }
  async close(key: string) {
    const gates = this.read();
    delete gates[key];
    this.write(gates);
  }
}

/**
 * Gates as keys of a ConfigMap (`data["<key>"] = "open"`). Opening and closing are JSON merge patches of one key,
 * so concurrent requests cannot overwrite each other's gates.
 */
export class ConfigMapGateStore implements GateStore {
  readonly kind = 'configmap';
  private readonly api: CoreV1Api;
  private readonly namespace: string;
  private readonly name: string;
  constructor(kube: KubeConfig, namespace: string, name: string) {
    this.api = kube.makeApiClient(CoreV1Api);
    this.namespace = namespace;
    this.name = name;
  }
  async isOpen(key: string) {
    try {
      const cm = await this.api.readNamespacedConfigMap({ namespace: this.namespace, name: this.name });
      return cm.data?.[key] === 'open';
    } catch (err) {
      if ((err as { code?: number }).code === 404) return false;
      throw err;
    }
  }
  async open(key: string) {
    await this.patch({ [key]: 'open' });
  }
  async close(key: string) {
    await this.patch({ [key]: null });
  }
  private async patch(data: Record<string, string | null>): Promise<void> {
    try {
      await this.api.patchNamespacedConfigMap(
        { namespace: this.namespace, name: this.name, body: { data } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      const initial = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== null)) as Record<string, string>;
      try {
        await this.api.createNamespacedConfigMap({
          namespace: this.namespace,
          body: {
            metadata: { name: this.name, labels: { 'app.kubernetes.io/managed-by': 'fledge-loadtester' } },
            data: initial,
          },
        });
      } catch (createErr) {
        // Another request created it first: our change still has to land, as a patch.
        if ((createErr as { code?: number }).code !== 409) throw createErr;
        await this.patch(data);
      }
    }
  }
}
