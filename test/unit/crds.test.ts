import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { checkCrds, generateCrds, structuralProblems } from '../../scripts/gen-crds.ts';
import { fixturePath } from '../../dev/fixtures.ts';

type Json = Record<string, unknown>;
const ROOT = join(import.meta.dirname, '..', '..');
// Flagger v1.44's own CRDs, from the Go module cache (pinned in scripts/fixtures/go.mod).
const FLAGGER_CRD = fixturePath('flagger', 'artifacts/flagger/crd.yaml');

function committed(file: string): Json {
  return parseYaml(readFileSync(join(ROOT, 'crds', file), 'utf8')) as Json;
}

function schemaOf(crd: Json): Json {
  const versions = (crd.spec as { versions: { schema: { openAPIV3Schema: Json } }[] }).versions;
  return versions[0]!.schema.openAPIV3Schema;
}

/** Follows `a.b[].c` through properties/items/additionalProperties. */
function at(schema: Json, path: string): Json | undefined {
  let node: Json | undefined = schema;
  for (const part of path.split('.')) {
    const [name, ...rest] = part.split('[]');
    node = (node?.properties as Json | undefined)?.[name!] as Json | undefined;
    for (let i = 0; i < rest.length; i++) node = node?.items as Json | undefined;
  }
  return node;
}

test('committed CRDs equal the generated ones (run `node scripts/gen-crds.ts` after changing api/)', () => {
  assert.deepEqual(checkCrds(), []);
  assert.deepEqual([...generateCrds().keys()].sort(), [
    'alertproviders.yaml',
    'canaries.yaml',
    'deliverypolicies.yaml',
    'metrictemplates.yaml',
    'releasegroups.yaml',
  ]);
});

test('every CRD is a structural schema the apiserver accepts', () => {
  for (const file of generateCrds().keys()) {
    const schema = schemaOf(committed(file));
    assert.deepEqual(structuralProblems(schema), [], file);
    assert.deepEqual(schema.properties && (schema.properties as Json).metadata, { type: 'object' }, file);
    const text = readFileSync(join(ROOT, 'crds', file), 'utf8');
    for (const key of ['$ref', '$defs', 'anyOf', 'oneOf', 'allOf', 'not', 'default', 'const', 'nullable'])
      assert.ok(!new RegExp(`^\\s*${key.replace('$', '\\$')}:`, 'm').test(text), `${file} has ${key}`);
    assert.ok(!text.includes('additionalProperties: false'), file);
  }
});

test('structuralProblems catches what the apiserver rejects', () => {
  assert.deepEqual(structuralProblems({ type: 'object', properties: { a: {} } }), ['.a: missing type']);
  assert.equal(
    structuralProblems({ type: 'object', properties: {}, additionalProperties: { type: 'string' } }).length,
    1,
  );
  assert.equal(structuralProblems({ type: 'string', anyOf: [{ type: 'string' }] }).length, 1);
  assert.equal(structuralProblems({ type: 'array' }).length, 1);
  assert.equal(structuralProblems({ type: 'object', required: ['x'], properties: {} }).length, 1);
});

test('Canary CRD: names, status subresource, Flagger printer columns, int-or-string ports, verbatim trafficPolicy', () => {
  const crd = committed('canaries.yaml');
  assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
  const spec = crd.spec as Json;
  assert.equal(spec.group, 'flagger.app');
  assert.equal(spec.scope, 'Namespaced');
  assert.deepEqual(spec.names, {
    kind: 'Canary',
    listKind: 'CanaryList',
    plural: 'canaries',
    singular: 'canary',
    categories: ['all'],
  });
  const [version] = spec.versions as Json[];
  assert.equal(version!.name, 'v1beta1');
  assert.equal(version!.served, true);
  assert.equal(version!.storage, true);
  assert.deepEqual(version!.subresources, { status: {} });
  const columns = version!.additionalPrinterColumns as { name: string; priority?: number }[];
  assert.deepEqual(
    columns.map((c) => `${c.name}${c.priority ? '(wide)' : ''}`),
    [
      'Status',
      'Weight',
      'Suspended(wide)',
      'FailedChecks(wide)',
      'Interval(wide)',
      'Mirror(wide)',
      'StepWeight(wide)',
      'StepWeights(wide)',
      'MaxWeight(wide)',
      'LastTransitionTime',
    ],
  );
  const schema = schemaOf(crd);
  assert.deepEqual(at(schema, 'spec.service.targetPort')?.['x-kubernetes-int-or-string'], true);
  assert.equal(at(schema, 'spec.service.port')?.type, 'integer');
  assert.equal(at(schema, 'spec.service.trafficPolicy')?.['x-kubernetes-preserve-unknown-fields'], true);
  assert.equal(at(schema, 'spec.analysis.match[].cookies')?.type, 'object');
  assert.equal(at(schema, 'spec.analysis.metrics[].noDataPolicy')?.type, 'string');
  assert.match(String(at(schema, 'spec.analysis.interval')?.pattern), /ms\|s\|m\|h/);
  assert.deepEqual(schema.required, ['spec']);
  assert.deepEqual((at(schema, 'spec') as Json).required, ['targetRef', 'analysis']);
  for (const field of ['workflowId', 'runId', 'step', 'metrics', 'phase', 'conditions', 'lastAppliedSpec'])
    assert.ok(at(schema, `status.${field}`), `status.${field}`);
});

test('MetricTemplate and AlertProvider CRDs', () => {
  const mt = committed('metrictemplates.yaml');
  assert.deepEqual((mt.spec as Json).names, {
    kind: 'MetricTemplate',
    listKind: 'MetricTemplateList',
    plural: 'metrictemplates',
    singular: 'metrictemplate',
    shortNames: ['mt'],
    categories: ['all'],
  });
  assert.deepEqual((at(schemaOf(mt), 'spec') as Json).required, ['provider', 'query']);
  const ap = committed('alertproviders.yaml');
  assert.equal(((ap.spec as Json).names as Json).plural, 'alertproviders');
  assert.deepEqual(at(schemaOf(ap), 'spec.type')?.enum, ['slack', 'msteams', 'discord', 'rocket', 'gchat']);
});

/** All property paths of a schema, `a.b[].c` style. */
function paths(node: Json, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, child] of Object.entries((node.properties as Json | undefined) ?? {})) {
    const p = prefix ? `${prefix}.${name}` : name;
    out.push(p, ...paths(child as Json, p));
    let items = (child as Json).items as Json | undefined;
    let q = p;
    while (items) {
      q += '[]';
      out.push(...paths(items, q));
      items = items.items as Json | undefined;
    }
  }
  return out;
}

test('every field of Flagger v1.44 CRDs exists in ours (drop-in compatibility)', () => {
  const theirs = parseAllDocuments(readFileSync(FLAGGER_CRD, 'utf8')).map((d) => d.toJSON() as Json);
  for (const crd of theirs) {
    const plural = ((crd.spec as Json).names as Json).plural as string;
    const ours = schemaOf(committed(`${plural}.yaml`));
    // Istio's match object, under service.match, is kept with our own shape: compare down to it.
    const missing = paths(schemaOf(crd)).filter((p) => !p.startsWith('metadata') && at(ours, p) === undefined);
    // trafficPolicy is kept verbatim (preserve-unknown-fields), so its inner fields need no declaration.
    const relevant = missing.filter((p) => !p.startsWith('spec.service.trafficPolicy.'));
    assert.ok(paths(schemaOf(crd)).length > (plural === 'canaries' ? 200 : 5), 'compared something');
    assert.deepEqual(relevant, [], `${plural}: fields Flagger has and we do not`);
  }
});
