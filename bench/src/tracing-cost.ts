/**
 * What tracing costs: the read-only micro workload on two identical clusters, one with sampling
 * off (LAMBDASTORE_TRACE_SAMPLE_RATIO=0: no tracer provider at all, every span a no-op) and one at
 * the default (parent-based, 1 root in 100, sampled spans shipped to the dashboard). Runs alternate
 * between the two, so drift on a noisy machine hits both; the figure is the median throughput of
 * each and the overhead between them.
 *
 *   node bench/dist/src/tracing-cost.js [--quick]      (also part of `npm run bench`)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { context, trace, SpanKind } from '@opentelemetry/api';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { startOtel } from '@lambdastore/telemetry';
import { cpuMicros } from './proc.js';
import { ENTRIES, pickEntries } from './values.js';
import { repoRoot as repo } from './config.js';
import { startDevCluster, runClosedLoop, forEachLimited, type DevCluster } from '@lambdastore/cli';


export interface TracingCostOptions {
  objects: number;
  durationMs: number;
  concurrency: number;
  repeats: number;
  log: (line: string) => void;
}

export interface TracingCost {
  offCallsPerSec: number[];
  defaultCallsPerSec: number[];
  /** CPU (µs) the worker processes spent per call. */
  offCpuUs: number[];
  defaultCpuUs: number[];
  /** Extra worker CPU per call with default sampling, from the medians, in percent. */
  overheadPct: number;
  /** Throughput lost with default sampling, from the medians, in percent (noisier). */
  throughputLossPct: number;
  markdown: string;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)] ?? NaN; };


/**
 * CPU (µs) of the span work a worker does for one call that is not sampled, in this process: the
 * same calls as the worker's path (ingress span from headers-less parent, execute, the thread-span
 * check, ends), with the default provider installed; minus the same with no provider. Steady and
 * independent of other load, unlike the end-to-end comparison.
 */
export async function spanPathCostUs(iterations = 200_000): Promise<{ withProviderUs: number; noopUs: number }> {
  const tracer = trace.getTracer('bench');
  const path = () => {
    const parent = context.active();
    const entry = tracer.startSpan('lambdastore.shard', { kind: SpanKind.SERVER }, parent);
    entry.setAttributes({ 'lambdastore.type': 'Micro', 'lambdastore.method': 'read', 'lambdastore.object_id': 'm1' });
    const ctx = trace.setSpan(parent, entry);
    const execute = tracer.startSpan('lambdastore.execute', { attributes: { 'lambdastore.type': 'Micro', 'lambdastore.method': 'read', 'lambdastore.object_id': 'm1', 'lambdastore.attempt': 1 } }, ctx);
    if (execute.isRecording()) throw new Error('sampled at ratio 0: the bench is misconfigured');
    execute.end();
    entry.end();
  };
  const time = () => {
    for (let i = 0; i < 10_000; i++) path();
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) path();
    return ((performance.now() - t0) * 1000) / iterations;
  };
  const noopUs = time();
  // Ratio 0 for roots would install nothing; parent-based with roots never sampled gives the
  // default's unsampled path (the 1 % sampled calls are what the end-to-end runs add).
  const stop = await startOtel('bench', { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
  const withProviderUs = time();
  await stop();
  return { withProviderUs, noopUs };
}

export async function measureTracingCost(o: TracingCostOptions): Promise<TracingCost> {
  const dir = await mkdtemp(join(tmpdir(), 'ls-bench-tracing-'));
  const clusters: Array<{ name: string; cluster: DevCluster; client: LambdaStoreClient }> = [];
  try {
    for (const [name, ratio] of [['sampling off', '0'], ['default sampling (1 in 100)', '0.01']] as const) {
      const cluster = await startDevCluster({ workers: 3, dataDir: join(dir, ratio), env: { LAMBDASTORE_TRACE_SAMPLE_RATIO: ratio } });
      const client = await connect({ servers: cluster.natsUrl });
      clusters.push({ name, cluster, client });
      await client.deployFile(join(repo, 'examples', 'micro', 'micro.ts'));
      await forEachLimited(Array.from({ length: o.objects }, (_, i) => i), 32, async (i) => { await client.create('Micro', `m${i}`, ENTRIES, 1024); });
    }
    const read = (client: LambdaStoreClient) => () => client.invoke('Micro', `m${Math.floor(Math.random() * o.objects)}`, 'read', [pickEntries()]);
    // Warm-up long enough for the JIT and LevelDB's cache to settle: the first seconds of a fresh
    // cluster cost more CPU per call and would read as noise in the first rounds.
    for (const c of clusters) await runClosedLoop({ concurrency: o.concurrency, durationMs: 3000, call: read(c.client) });
    const rates = new Map<string, number[]>(clusters.map((c) => [c.name, []]));
    const cpu = new Map<string, number[]>(clusters.map((c) => [c.name, []]));
    for (let r = 0; r < o.repeats; r++) {
      // ABBA order: neither side always runs first.
      for (const c of r % 2 === 0 ? clusters : [...clusters].reverse()) {
        const workersCpu = () => c.cluster.workers.reduce((a, w) => a + (cpuMicros(w.pid) ?? NaN), 0);
        const before = workersCpu();
        const res = await runClosedLoop({ concurrency: o.concurrency, durationMs: o.durationMs, call: read(c.client) });
        const perCall = (workersCpu() - before) / Math.max(1, res.calls);
        rates.get(c.name)!.push(res.callsPerSec);
        cpu.get(c.name)!.push(perCall);
        o.log(`  [${r + 1}/${o.repeats}] micro 0% writes, ${c.name}: ${Math.round(res.callsPerSec)} calls/s, workers ${Math.round(perCall)} µs CPU/call, p50 ${res.p50Ms.toFixed(2)} ms, errors ${res.errors}`);
      }
    }
    const off = rates.get(clusters[0]!.name)!;
    const on = rates.get(clusters[1]!.name)!;
    const offCpu = cpu.get(clusters[0]!.name)!;
    const onCpu = cpu.get(clusters[1]!.name)!;
    // Paired: each round's two runs are back to back, so a change of load on the shared machine
    // moves both; the median of the per-round ratios is far steadier than a ratio of medians.
    const overheadPct = median(onCpu.map((v, i) => (v / offCpu[i]! - 1) * 100));
    const throughputLossPct = ((median(off) - median(on)) / median(off)) * 100;
    const path = await spanPathCostUs();
    const pathPct = ((path.withProviderUs - path.noopUs) / median(offCpu)) * 100;
    const markdown = `## Cost of tracing (read-only micro workload, ${o.concurrency} in flight, ${o.durationMs / 1000} s per run, median of ${o.repeats})

Two identical clusters side by side, runs alternating: one with sampling off
(\`LAMBDASTORE_TRACE_SAMPLE_RATIO=0\`: no tracer provider, every span a no-op), one at the default
(parent-based, 1 root call in 100 traced end to end and shipped to the dashboard).

The cost is read as the workers' CPU per call (tracing runs there; on a shared 2-core machine this
moves far less with other load than throughput does); throughput is shown too.

| sampling | worker CPU µs/call (median) | runs | calls/s (median) | runs |
|---|---|---|---|---|
| off | ${Math.round(median(offCpu))} | ${offCpu.map((v) => Math.round(v)).join(', ')} | ${Math.round(median(off)).toLocaleString('en-US')} | ${off.map((v) => Math.round(v)).join(', ')} |
| default (1 in 100) | ${Math.round(median(onCpu))} | ${onCpu.map((v) => Math.round(v)).join(', ')} | ${Math.round(median(on)).toLocaleString('en-US')} | ${on.map((v) => Math.round(v)).join(', ')} |

Cost of default sampling: **${overheadPct.toFixed(1)} %** more worker CPU per call (median over the rounds of
default ÷ off in the same round; budget 5 %; negative means within noise); throughput ${throughputLossPct >= 0 ? 'lower' : 'higher'} by ${Math.abs(throughputLossPct).toFixed(1)} %.

The same cost measured without the noise of a shared machine: the span work of one unsampled call
(ingress and execute spans, the thread-span check) takes ${path.withProviderUs.toFixed(2)} µs of CPU with the
default provider and ${path.noopUs.toFixed(2)} µs with none, so ${(path.withProviderUs - path.noopUs).toFixed(2)} µs more per call:
**${pathPct.toFixed(2)} %** of the ${Math.round(median(offCpu))} µs of worker CPU a call costs with sampling off. The 1 in 100
sampled calls add their recorded spans (about 10 per call, shipped once a second) on top.
`;
    return { offCallsPerSec: off, defaultCallsPerSec: on, offCpuUs: offCpu, defaultCpuUs: onCpu, overheadPct, throughputLossPct, markdown };
  } finally {
    for (const c of clusters) {
      await c.client.close().catch(() => {});
      await c.cluster.stop();
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * This module as a section of the bench report, shaped like the reworked harness's `Section`
 * (`{ title, run(ctx) -> markdown }`, bench/src/sections/section.ts on the issue 6 branch): once
 * that harness is on this branch, registering it is one line in its `sections` list. It starts its
 * own two clusters and needs only `ctx.cfg` and `ctx.log`.
 */
export const tracingCostSection = {
  title: 'Cost of tracing',
  async run({ cfg, log }: { cfg: { quick: boolean; objects: number; durationMs: number; concurrency: number; repeats: number }; log: (line: string) => void }): Promise<string> {
    // At most 1,000 objects: the comparison's 10,000 would double the set-up time for no gain here.
    const r = await measureTracingCost({ objects: Math.min(cfg.objects, 1000), durationMs: cfg.durationMs, concurrency: cfg.concurrency, repeats: cfg.quick ? 3 : 7, log });
    return r.markdown;
  },
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const log = (s: string) => process.stdout.write(`${s}\n`);
  measureTracingCost({ objects: quick ? 200 : 1000, durationMs: quick ? 3000 : 10_000, concurrency: 64, repeats: quick ? 5 : 7, log }).then(
    (r) => log(`\n${r.markdown}`),
    (err) => { console.error(err instanceof Error ? err.stack : err); process.exit(1); },
  );
}
