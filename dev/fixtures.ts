// Third-party data files (CRDs, kwok stages, Flagger's kustomize fixtures) at pinned versions, read from the Go
// module cache. The versions and their checksums live in scripts/fixtures/go.mod and go.sum; `go mod download
// -json <module>` (run in that folder) downloads a module once, verifies it against go.sum, and prints its folder.
// Nothing outside the repository and the module cache is ever read.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { REPO_ROOT, binary } from './proc.ts';

/** The wrapper module that pins every fixture module. */
export const FIXTURES_MODULE_DIR = join(REPO_ROOT, 'scripts', 'fixtures');

/** Modules pinned in scripts/fixtures/go.mod, by the name the code uses. */
export const FIXTURE_MODULES = {
  flagger: 'github.com/fluxcd/flagger',
  gatewayApi: 'sigs.k8s.io/gateway-api',
  kwok: 'sigs.k8s.io/kwok',
  istioApi: 'istio.io/api',
  contour: 'github.com/projectcontour/contour',
  traefik: 'github.com/traefik/traefik/v3',
  keda: 'github.com/kedacore/keda/v2',
  knative: 'knative.dev/serving',
} as const;

export type FixtureModule = keyof typeof FIXTURE_MODULES;

const dirs = new Map<string, string>();

/**
 * The folder of a pinned module in the Go module cache, downloading it on first use.
 * @throws Error naming the module and go's own message when `go` is missing, the proxy cannot be reached, or the
 *   module's checksum does not match scripts/fixtures/go.sum.
 */
export function moduleDir(name: FixtureModule): string {
  const module = FIXTURE_MODULES[name];
  const known = dirs.get(module);
  if (known) return known;
  let out: string;
  try {
    out = execFileSync('go', ['mod', 'download', '-json', module], {
      cwd: FIXTURES_MODULE_DIR,
      encoding: 'utf8',
      // -mod=mod: the wrapper module lists no packages, so go must not insist on a tidy go.mod.
      env: { ...process.env, GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `cannot fetch fixture module ${module} (scripts/fixtures/go.mod): ${e.stdout || e.stderr || e.message}`,
      {
        cause: err,
      },
    );
  }
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir || info.Error) throw new Error(`cannot fetch fixture module ${module}: ${info.Error ?? 'no Dir'}`);
  dirs.set(module, info.Dir);
  return info.Dir;
}

/**
 * Absolute path of a file or folder inside a pinned module, e.g. `fixturePath('flagger', 'artifacts/flagger/crd.yaml')`.
 * @throws Error when the module cannot be fetched or the path does not exist in it.
 */
export function fixturePath(name: FixtureModule, inside: string): string {
  const path = join(moduleDir(name), inside);
  if (!existsSync(path)) throw new Error(`${FIXTURE_MODULES[name]} has no ${inside}`);
  return path;
}

/** The text of a file inside a pinned module. */
export function readFixture(name: FixtureModule, inside: string): string {
  return readFileSync(fixturePath(name, inside), 'utf8');
}

/** The `.yaml`/`.yml` files of a folder inside a pinned module, sorted by name. */
export function fixtureYamlFiles(name: FixtureModule, folder: string): string[] {
  const dir = fixturePath(name, folder);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
}

/** Gateway API v1.6.1 standard-channel CRDs (without the safe-upgrades admission policy, which is not a CRD). */
export function gatewayApiCrdFiles(channel: 'standard' | 'experimental' = 'standard'): string[] {
  return fixtureYamlFiles('gatewayApi', `config/crd/${channel}`).filter((f) => !f.includes('vap_safeupgrades'));
}

/** Istio v1.30.3's CRDs (networking, security, telemetry, extensions) in one file, for `startCluster({ crds })`. */
export function istioCrdFile(): string {
  return fixturePath('istioApi', 'kubernetes/customresourcedefinitions.gen.yaml');
}

/** Flagger's podinfo kustomize fixture (Deployment + HPA), as used by its tutorials. */
export function podinfoFixtureDir(): string {
  return fixturePath('flagger', 'kustomize/podinfo');
}

/**
 * kwok v0.8.0's default Stage configs, concatenated into one multi-document YAML for `kwok --config`. With
 * `readyByKwok: false` the pod-ready Stage still makes a pod Running with its IPs, but leaves its `Ready` and
 * `ContainersReady` conditions False: something else (the pod runner, dev/pod-runner.ts) turns them True once
 * the pod's process listens. Throws if the pinned Stage does not have the expected shape.
 */
export function kwokStagesYaml({ readyByKwok = true }: { readyByKwok?: boolean } = {}): string {
  const stages = [
    'node/fast/node-initialize.yaml',
    'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
    'pod/fast/pod-ready.yaml',
    'pod/fast/pod-complete.yaml',
    'pod/fast/pod-delete.yaml',
  ];
  return stages
    .map((s) => {
      const text = readFixture('kwok', `kustomize/stage/${s}`).trim();
      return readyByKwok || s !== 'pod/fast/pod-ready.yaml' ? text : notReady(text);
    })
    .join('\n---\n');
}

function notReady(stage: string): string {
  let out = stage;
  for (const type of ['Ready', 'ContainersReady']) {
    const from = new RegExp(`status: "True"(\\n\\s+type: ${type}\\n)`);
    if (!from.test(out)) throw new Error(`kwok pod-ready stage: no ${type} condition to turn False`);
    out = out.replace(from, 'status: "False"$1');
  }
  return out;
}

/**
 * API groups whose upstream CRDs the Go module proxy does not serve (App Mesh's controller, Linkerd's SMI
 * extension), by the Flagger v1.44 packages that hold their Go types: Flagger's own copies of the upstream types,
 * the very shapes its routers write.
 */
export const FLAGGER_API_PACKAGES = {
  /** apisix.apache.org ApisixRoute v2 (the APISIX ingress controller's module is not on the Go proxy). */
  apisix: ['pkg/apis/apisix/v2'],
  appmesh: ['pkg/apis/appmesh/v1beta2', 'pkg/apis/appmesh/v1beta1'],
  /**
   * The legacy App Mesh controller's CRDs: v1beta1 alone, served and stored. Next to v1beta2 storage (no
   * conversion webhook) the apiserver would prune every v1beta1-only field (meshName, routes).
   */
  appmeshLegacy: ['pkg/apis/appmesh/v1beta1'],
  smi: ['pkg/apis/smi/v1alpha1', 'pkg/apis/smi/v1alpha2', 'pkg/apis/smi/v1alpha3'],
  /** Kuma's TrafficRoute (kuma.io/v1alpha1), cluster-scoped (see CLUSTER_SCOPED_CRDS). */
  kuma: ['pkg/apis/kuma/v1alpha1'],
  /** Gloo Edge's Upstream (gloo.solo.io/v1) and RouteTable (gateway.solo.io/v1). */
  gloo: ['pkg/apis/gloo/v1', 'pkg/apis/gloogateway/v1'],
} as const;

/**
 * Kubebuilder markers added to fields of a package before generating it (from a patched copy), where Flagger's Go
 * types alone would give a schema unlike upstream's CRD: fields controller-gen cannot describe, fields without
 * `omitempty` that upstream does not require.
 */
const FIELD_MARKERS: Record<string, { field: RegExp; markers: string[] }[]> = {
  'pkg/apis/apisix/v2': [
    // ApisixRoutePlugin.Config, a plugin's free-form configuration (a map[string]interface{}).
    {
      field: /^(\s*)Config\s+ApisixRoutePluginConfig\b/m,
      markers: ['validation:Schemaless', 'pruning:PreserveUnknownFields', 'validation:Type=object'],
    },
    // ApisixRouteHTTP.Websocket and ApisixRouteHTTPBackend.Weight: optional in APISIX's CRD (the tutorial omits them).
    { field: /^(\s*)Websocket\s+bool\b/m, markers: ['validation:Optional'] },
    { field: /^(\s*)Weight\s+\*int\b/m, markers: ['validation:Optional'] },
  ],
};

/**
 * Where controller-gen reads a Flagger package: the package itself (from the fixtures module), or a patched copy
 * (see FIELD_MARKERS) in a throwaway module under `work` that requires the pinned Flagger, so the fixtures
 * module's go.mod is never touched.
 */
function generatorSource(pkg: string, work: string, i: number): { cwd: string; path: string } {
  const patches = FIELD_MARKERS[pkg];
  if (!patches) return { cwd: FIXTURES_MODULE_DIR, path: `${FIXTURE_MODULES.flagger}/${pkg}` };
  const mod = join(work, `module-${i}`);
  mkdirSync(join(mod, 'types'), { recursive: true });
  const fixturesMod = readFileSync(join(FIXTURES_MODULE_DIR, 'go.mod'), 'utf8');
  const flagger = new RegExp(`${FIXTURE_MODULES.flagger} (v\\S+)`).exec(fixturesMod)?.[1];
  writeFileSync(
    join(mod, 'go.mod'),
    `module fledge.local/crdgen\n\ngo 1.26.0\n\nrequire ${FIXTURE_MODULES.flagger} ${flagger}\n`,
  );
  writeFileSync(
    join(mod, 'go.sum'),
    readFileSync(join(FIXTURES_MODULE_DIR, 'go.sum'), 'utf8') +
      readFileSync(join(moduleDir('flagger'), 'go.sum'), 'utf8'),
  );
  const source = join(moduleDir('flagger'), pkg);
  for (const file of readdirSync(source).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'))) {
    let text = readFileSync(join(source, file), 'utf8');
    for (const { field, markers } of patches)
      text = text.replace(
        field,
        (line, indent: string) => markers.map((m) => `${indent}// +kubebuilder:${m}\n`).join('') + line,
      );
    writeFileSync(join(mod, 'types', file), text);
  }
  return { cwd: mod, path: './types' };
}

/**
 * CRDs whose Go types are cluster-scoped by a client-gen marker (`+genclient:nonNamespaced`) that controller-gen
 * does not read: their generated CRDs get `scope: Cluster`, as upstream's.
 */
const CLUSTER_SCOPED_CRDS: readonly string[] = ['trafficroutes.kuma.io'];

type CrdDoc = {
  metadata: { name: string };
  spec: { scope?: string; versions: { name: string; served: boolean; storage: boolean }[] };
};

/**
 * CRDs (apiextensions.k8s.io/v1 YAML files, one per resource) generated by controller-gen (built by
 * scripts/build-binaries.sh) from the Go types of the pinned Flagger module, for groups with no CRD on the proxy:
 * `appmesh` (appmesh.k8s.aws VirtualNode, VirtualRouter, VirtualService, Mesh; v1beta2 stored, v1beta1 served),
 * `smi` (split.smi-spec.io TrafficSplit v1alpha1 stored, v1alpha2 and v1alpha3 served), `apisix`
 * (apisix.apache.org ApisixRoute v2, with the FIELD_MARKERS patches), `kuma` (kuma.io TrafficRoute v1alpha1,
 * cluster-scoped) and `gloo` (gloo.solo.io Upstream, gateway.solo.io RouteTable). Each package is generated on its
 * own (controller-gen wants one storage version per run) and the versions of a resource are merged, the first
 * package's version stored. Cached under .fledge/cache/crds, keyed by the Flagger and controller-gen builds.
 * @returns absolute paths, sorted.
 * @throws Error with controller-gen's output when generation fails.
 */
export function flaggerApiCrdFiles(group: keyof typeof FLAGGER_API_PACKAGES): string[] {
  const controllerGen = binary('controller-gen');
  const key = `${basename(moduleDir('flagger'))}-${basename(join(controllerGen, '..'))}`;
  const dir = join(REPO_ROOT, '.fledge', 'cache', 'crds', key, group);
  if (!existsSync(dir)) generateCrds(controllerGen, group, dir);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
}

function generateCrds(controllerGen: string, group: keyof typeof FLAGGER_API_PACKAGES, dir: string): void {
  mkdirSync(join(dir, '..'), { recursive: true });
  const work = mkdtempSync(join(dir, '..', `.${group}-`));
  try {
    const merged = new Map<string, CrdDoc>();
    FLAGGER_API_PACKAGES[group].forEach((pkg, i) => {
      const out = join(work, String(i));
      const source = generatorSource(pkg, work, i);
      try {
        execFileSync(
          controllerGen,
          // allowDangerousTypes: Gloo's Upstream has float fields (slowStartConfig), as upstream's CRD has.
          ['crd:allowDangerousTypes=true', `paths=${source.path}`, `output:crd:dir=${out}`],
          // -mod=mod: the fixtures module lists no packages; go fills go.sum for the types' imports itself.
          { cwd: source.cwd, env: { ...process.env, GOFLAGS: '-mod=mod' }, stdio: ['ignore', 'pipe', 'pipe'] },
        );
      } catch (err) {
        const e = err as { stdout?: Buffer; stderr?: Buffer; message: string };
        throw new Error(
          `controller-gen failed for ${FIXTURE_MODULES.flagger}/${pkg}: ${String(e.stderr ?? e.message)}`,
          {
            cause: err,
          },
        );
      }
      for (const file of readdirSync(out).sort()) {
        const crd = parseYaml(readFileSync(join(out, file), 'utf8')) as CrdDoc;
        const known = merged.get(crd.metadata.name);
        const versions = crd.spec.versions.map((v) => ({ ...v, served: true, storage: known === undefined }));
        if (known) known.spec.versions.push(...versions);
        else {
          const scope = CLUSTER_SCOPED_CRDS.includes(crd.metadata.name) ? 'Cluster' : crd.spec.scope;
          merged.set(crd.metadata.name, { ...crd, spec: { ...crd.spec, ...(scope ? { scope } : {}), versions } });
        }
      }
    });
    const files = join(work, 'crds');
    mkdirSync(files);
    for (const [name, crd] of merged) writeFileSync(join(files, `${name}.yaml`), stringifyYaml(crd));
    try {
      renameSync(files, dir);
    } catch (err) {
      // Another process generated the same files first.
      if (!existsSync(dir)) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Contour v1.33.6's CRDs (HTTPProxy and the others of `examples/contour/01-crds.yaml`), one multi-document file. */
export function contourCrdFiles(): string[] {
  return [fixturePath('contour', 'examples/contour/01-crds.yaml')];
}

/** KEDA v2.21.0's ScaledObject CRD (`keda.sh/v1alpha1`), the only KEDA kind fledge reads and writes. */
export function kedaCrdFiles(): string[] {
  return [fixturePath('keda', 'config/crd/bases/keda.sh_scaledobjects.yaml')];
}

/**
 * Knative Serving v0.49.1's Service and Revision CRDs (`serving.knative.dev/v1`, full schemas, status subresource):
 * what the knative provider reads and writes. Knative's own controller is not part of them.
 */
export function knativeCrdFiles(): string[] {
  return ['service.yaml', 'revision.yaml'].map((f) => fixturePath('knative', `config/core/300-resources/${f}`));
}

/** Traefik v3.6.12's CRDs (TraefikService, IngressRoute and the others of traefik.io), one multi-document file. */
export function traefikCrdFiles(): string[] {
  return [fixturePath('traefik', 'docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml')];
}
