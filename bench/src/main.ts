/**
 * npm run bench [-- --quick] [--objects N] [--duration-s S] [--warmup-s S] [--concurrency C]
 *               [--repeats R] [--systems id,id] [--no-profile] [--out FILE]
 *
 * LambdaStore side by side with the systems people would pick instead, in one run on one machine:
 * every system is started here, driven in turn by the same load generator with the same workloads
 * (repetitions interleaved across systems), audited, and stopped. Writes docs/BENCHMARKS.md and a
 * chart per workload in docs/bench/. A system that cannot run here is reported as skipped, with why.
 */
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure, type Run } from './measure.js';
import { callOf, HOT_OBJECT, microId, throughputWorkloads } from './workloads.js';
import { bankRun, BANK_SIZES, type BankResult } from './bank.js';
import { topSelfTime, type ProfileSummary } from './profile-summary.js';
import { writeReport, type Outcome } from './report.js';
import { SkipError, type BenchSystem } from './systems/system.js';
import { LambdaStoreCluster, lambdaStoreClient, lambdaStoreNats } from './systems/lambdastore.js';
import { restate } from './systems/restate.js';
import { durableObjects } from './systems/durable-objects.js';
import { disaggregated } from './systems/disaggregated.js';
import { levelDbFloor, natsFloor } from './systems/floors.js';
import type { Section } from './sections/section.js';
import { bankAcrossShards } from './sections/bank-across-shards.js';
import { chainReplicationSection } from './sections/chain-replication.js';
import { entrySetBench } from './entrysets.js';
import { tracingCostSection } from './tracing-cost.js';
import { parseConfig, picks, repoRoot, usage, UsageError } from './config.js';

/** Extra report sections, run in this order after the comparison. Add yours here. */
const sections: Section[] = [
  bankAcrossShards,
  {
    title: 'Entry sets',
    run: ({ cfg, log }) => entrySetBench({ repoRoot, durationMs: cfg.durationMs, concurrency: cfg.concurrency, repeats: cfg.repeats, writeShares: [0, 0.5], log }),
  },
  tracingCostSection,
  chainReplicationSection,
];

const log = (s: string) => process.stdout.write(s + '\n');

async function main(): Promise<void> {
  // The systems are only described here; nothing is started or created before the command line
  // is known to be good (the profile folder is made below).
  const profileDir = join(tmpdir(), `ls-bench-prof-${process.pid}`);
  const chain1 = new LambdaStoreCluster(1, log, profileDir);
  const chain3 = new LambdaStoreCluster(3, log, profileDir);
  const all: BenchSystem[] = [
    lambdaStoreClient(chain1), lambdaStoreNats(chain1), lambdaStoreClient(chain3), lambdaStoreNats(chain3),
    restate(), durableObjects(), disaggregated('redis', log), disaggregated('postgres', log),
    natsFloor(), levelDbFloor(),
  ];
  const ids = all.map((s) => s.id);
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(process.argv.slice(2), ids);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}\n${usage(ids)}`);
    process.exit(2);
  }
  if (parsed === 'help') {
    log(usage(ids));
    return;
  }
  const cfg = parsed;
  const started = Date.now();
  await mkdir(profileDir, { recursive: true });
  const chosen = cfg.systems.length ? all.filter((s) => cfg.systems.some((w) => picks(w, s.id))) : all;
  log(`bench: ${cfg.quick ? 'quick' : 'full'} run, ${cfg.objects} objects, ${cfg.durationMs / 1000} s per run after ${cfg.warmupMs / 1000} s warm-up, ${cfg.concurrency} in flight, ${cfg.repeats} round(s), ${chosen.length} systems`);

  const outcome: Outcome = { cfg, systems: [], skipped: new Map(), throughput: new Map(), lowLoad: new Map(), bank: new Map(), sections: [], profile: undefined, elapsedMs: 0 };
  const running: BenchSystem[] = [];
  const objectIds = [...Array.from({ length: cfg.objects }, (_, i) => microId(i)), HOT_OBJECT];
  try {
    for (const sys of chosen) {
      const t0 = Date.now();
      log(`starting ${sys.label}...`);
      try {
        await sys.start();
        log(`  creating ${objectIds.length} objects...`);
        await sys.createMicro(objectIds);
        running.push(sys);
        log(`  ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${sys.description}`);
      } catch (err) {
        const why = err instanceof SkipError ? err.message : `failed to start: ${(err as Error).message.split('\n')[0]}`;
        outcome.skipped.set(sys.id, why);
        log(`  SKIPPED: ${why}`);
        await sys.stop().catch(() => {});
      }
    }
    outcome.systems = chosen;

    const workloads = throughputWorkloads(cfg.objects);
    for (let round = 0; round < cfg.repeats; round++) {
      for (const w of workloads) {
        for (const sys of running) {
          const run = await measure(sys, callOf(sys, w), cfg);
          const key = `${w.id}|${sys.id}`;
          (outcome.throughput.get(key) ?? outcome.throughput.set(key, []).get(key)!).push(run);
          const r = run.result;
          log(`  [${round + 1}/${cfg.repeats}] ${w.title} | ${sys.label}: ${Math.round(r.callsPerSec)} calls/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms${r.errors ? `, ERRORS ${r.errors} (${Object.keys(r.errorCodes).join(', ')}), first: ${r.errorSamples[0] ?? ''}` : ''}`);
        }
      }
    }

    log('low load, one call at a time:');
    const [readOnly, , writeOnly] = workloads;
    for (const sys of running) {
      const runs: Run[] = [];
      for (const w of [readOnly!, writeOnly!]) runs.push(await measure(sys, callOf(sys, w), { concurrency: 1, warmupMs: 200, durationMs: cfg.lowLoadMs }));
      outcome.lowLoad.set(sys.id, runs);
      log(`  ${sys.label}: read p50 ${runs[0]!.result.p50Ms.toFixed(3)} ms p99 ${runs[0]!.result.p99Ms.toFixed(3)} ms; write p50 ${runs[1]!.result.p50Ms.toFixed(3)} ms p99 ${runs[1]!.result.p99Ms.toFixed(3)} ms`);
    }

    log('bank transfers:');
    for (const sys of running.filter((s) => s.bank)) {
      const results: BankResult[] = [];
      for (const n of BANK_SIZES) {
        try {
          const r = await bankRun(sys, n, cfg);
          results.push(r);
          log(`  ${sys.label}, ${n} accounts: ${Math.round(r.summary.callsPerSec)} transfers/s, p50 ${r.summary.p50Ms.toFixed(2)} ms, errors ${r.summary.errors}; audit: ${r.audit.text}`);
        } catch (err) {
          log(`  ${sys.label}, ${n} accounts: FAILED ${(err as Error).message}`);
          outcome.skipped.set(`${sys.id}|bank${n}`, (err as Error).message.split('\n')[0]!);
        }
      }
      outcome.bank.set(sys.id, results);
    }

    if (cfg.profile && chain1.cluster && running.some((s) => s.id === 'lambdastore-c1')) {
      log('profiling the LambdaStore workers during read-only and 50 %-write micro runs...');
      const us = running.find((s) => s.id === 'lambdastore-c1')!;
      const profiles: Record<string, ProfileSummary> = {};
      for (const w of [workloads[0]!, workloads[1]!]) {
        const files = await chain1.profile(async () => { await measure(us, callOf(us, w), { ...cfg, warmupMs: 0, durationMs: Math.min(cfg.durationMs, 5000) }); });
        profiles[w.title] = await topSelfTime(files);
        for (const f of files) await rm(f, { force: true });
      }
      outcome.profile = profiles;
    }

    if (chain1.cluster) {
      for (const section of sections) {
        log(`section: ${section.title}`);
        try {
          outcome.sections.push(await section.run({ cfg, log, lambdaStore: chain1 }));
        } catch (err) {
          outcome.sections.push(`## ${section.title}\n\nFailed in this run: ${(err as Error).message.split('\n')[0]}\n`);
        }
      }
    }
  } finally {
    for (const sys of running) {
      await sys.stop().catch((err: unknown) => log(`  stopping ${sys.label}: ${(err as Error).message}`));
    }
    await rm(profileDir, { recursive: true, force: true });
  }
  outcome.elapsedMs = Date.now() - started;
  const files = await writeReport(outcome);
  log(`wrote ${files.join(', ')} (${(outcome.elapsedMs / 1000).toFixed(0)} s)`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});

