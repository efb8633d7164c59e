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
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { startDevCluster, runClosedLoop, forEachLimited, type DevCluster } from '@lambdastore/cli';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ENTRIES = 100;
const OPS = 5;

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
  /** (off - default) / off, from the medians, in percent. */
  overheadPct: number;
  markdown: string;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)] ?? NaN; };

function pick5(): number[] {
  const keys = new Set<number>();
  while (keys.size < OPS) keys.add(Math.floor(Math.random() * ENTRIES));
  return [...keys];
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
    const read = (client: LambdaStoreClient) => () => client.invoke('Micro', `m${Math.floor(Math.random() * o.objects)}`, 'read', [pick5()]);
    for (const c of clusters) await runClosedLoop({ concurrency: o.concurrency, durationMs: 1000, call: read(c.client) });
    const rates = new Map<string, number[]>(clusters.map((c) => [c.name, []]));
    for (let r = 0; r < o.repeats; r++) {
      // ABBA order: neither side always runs first.
      for (const c of r % 2 === 0 ? clusters : [...clusters].reverse()) {
        const res = await runClosedLoop({ concurrency: o.concurrency, durationMs: o.durationMs, call: read(c.client) });
        rates.get(c.name)!.push(res.callsPerSec);
        o.log(`  [${r + 1}/${o.repeats}] micro 0% writes, ${c.name}: ${Math.round(res.callsPerSec)} calls/s, p50 ${res.p50Ms.toFixed(2)} ms, errors ${res.errors}`);
      }
    }
    const off = rates.get(clusters[0]!.name)!;
    const on = rates.get(clusters[1]!.name)!;
    const overheadPct = ((median(off) - median(on)) / median(off)) * 100;
    const markdown = `## Cost of tracing (read-only micro workload, ${o.concurrency} in flight, ${o.durationMs / 1000} s per run, median of ${o.repeats})

Two identical clusters side by side, runs alternating: one with sampling off
(\`LAMBDASTORE_TRACE_SAMPLE_RATIO=0\`: no tracer provider, every span a no-op), one at the default
(parent-based, 1 root call in 100 traced end to end and shipped to the dashboard).

| sampling | calls/s (median) | runs |
|---|---|---|
| off | ${Math.round(median(off)).toLocaleString('en-US')} | ${off.map((v) => Math.round(v)).join(', ')} |
| default (1 in 100) | ${Math.round(median(on)).toLocaleString('en-US')} | ${on.map((v) => Math.round(v)).join(', ')} |

Overhead of default sampling: **${overheadPct.toFixed(1)} %** (the budget is 5 %; negative means within noise).
`;
    return { offCallsPerSec: off, defaultCallsPerSec: on, overheadPct, markdown };
  } finally {
    for (const c of clusters) {
      await c.client.close().catch(() => {});
      await c.cluster.stop();
    }
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const log = (s: string) => process.stdout.write(`${s}\n`);
  measureTracingCost({ objects: quick ? 200 : 1000, durationMs: quick ? 3000 : 10_000, concurrency: 64, repeats: quick ? 3 : 5, log }).then(
    (r) => log(`\n${r.markdown}`),
    (err) => { console.error(err instanceof Error ? err.stack : err); process.exit(1); },
  );
}
