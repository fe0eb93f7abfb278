// Metric analysis overhead: render and evaluate 1,000 MetricTemplates.
//   node bench/metrics.ts            in-process (render + evaluate, scripted readings)
//   node bench/metrics.ts --real     also through a real Prometheus (HTTP + PromQL) started by the test harness
import { performance } from 'node:perf_hooks';
import { checkOrder, evaluate, renderQuery, type Metric, type Reading } from '../activities/metrics/index.ts';
import { createCheckReader } from '../activities/metrics/checks.ts';
import type { CanaryFacts } from '../activities/metrics/kube.ts';
import { observerFor } from '../activities/metrics/observers/index.ts';
import type { MetricTemplateSpec } from '../api/metric-template.ts';

const N = 1000;
const facts: CanaryFacts = {
  ref: { namespace: 'test', name: 'podinfo' },
  target: 'podinfo',
  service: 'podinfo',
  ingress: 'podinfo',
  route: 'podinfo',
};
const ctx = { canary: facts.ref, target: facts.target, observer: 'kubernetes' };

function templateSource(i: number): string {
  return `
  sum(rate(http_request_duration_seconds_count{
      kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-.*",
      status!~"{{ variables.failing }}", bench="${i}"
  }[{{ interval }}]))
  / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}"}[{{ interval }}])) * 100`;
}

const metrics: Metric[] = Array.from({ length: N }, (_, i) => ({
  name: `m${i}`,
  templateRef: { name: `t${i}` },
  templateVariables: { failing: '5.*' },
  thresholdRange: { min: 0, max: 100 },
  interval: '1m',
}));

async function inProcess(): Promise<void> {
  const model = { ...facts, name: 'podinfo', namespace: 'test', interval: '1m', variables: { failing: '5.*' } };
  const t0 = performance.now();
  const out = await evaluate(ctx, checkOrder(metrics), async (c): Promise<Reading> => {
    const i = Number(c.metric.name.slice(1));
    renderQuery(templateSource(i), model, `t${i}.test`);
    return { value: 50 };
  });
  const ms = performance.now() - t0;
  if (!out.ok || out.results.length !== N) throw new Error('bench evaluation failed');
  console.log(
    `in-process: ${N} templates rendered + evaluated in ${ms.toFixed(1)} ms → ${(ms / N).toFixed(4)} ms/check`,
  );
}

async function realPrometheus(): Promise<void> {
  const { startPrometheus } = await import('../dev/prometheus.ts');
  const prom = await startPrometheus({
    counters: [
      {
        name: 'http_request_duration_seconds_count',
        labels: { kubernetes_namespace: 'test', kubernetes_pod_name: 'podinfo-1-a', status: '200', bench: '0' },
        perSecond: 10,
      },
    ],
  });
  try {
    const spec = (i: number): MetricTemplateSpec => ({
      provider: { type: 'prometheus', address: prom.url },
      query: templateSource(i),
    });
    const read = createCheckReader({
      facts,
      observer: observerFor('kubernetes'),
      kube: {
        canary: async () => facts,
        template: async (_ns, name) => spec(Number(name.slice(1))),
        secretData: async () => ({}),
      },
    });
    const t0 = performance.now();
    const out = await evaluate(ctx, checkOrder(metrics.map((m) => ({ ...m, noDataPolicy: 'skip' as const }))), read);
    const ms = performance.now() - t0;
    console.log(
      `real Prometheus: ${out.results.length} checks (render + HTTP + PromQL + evaluate) in ${ms.toFixed(0)} ms → ` +
        `${(ms / N).toFixed(3)} ms/check`,
    );
  } finally {
    await prom.stop();
  }
}

await inProcess();
if (process.argv.includes('--real')) await realPrometheus();
