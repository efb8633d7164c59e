/**
 * The shared load generator: for one system and one call, a warm-up at the same load, then a
 * measured closed loop of `concurrency` calls for a fixed time, with the CPU time every process of
 * the system used, per call. Runs of several repetitions are summarized by their median and spread.
 */
import { cpuMicros } from './proc.js';
import { runClosedLoop, type LoadResult } from '@lambdastore/cli';
import type { BenchSystem } from './systems/system.js';

export interface Run {
  result: LoadResult;
  /** µs of CPU per call by process role (NaN when unknown). */
  cpuPerCall: Record<string, number>;
}

function cpuByRole(sys: BenchSystem): Record<string, number> {
  return Object.fromEntries(Object.entries(sys.processes()).map(([role, pids]) => [role, pids.reduce((a: number, p) => a + (cpuMicros(p) ?? NaN), 0)]));
}

export async function measure(sys: BenchSystem, call: () => Promise<void>, opts: { concurrency: number; warmupMs: number; durationMs: number }): Promise<Run> {
  if (opts.warmupMs > 0) await runClosedLoop({ concurrency: opts.concurrency, durationMs: opts.warmupMs, call });
  const before = cpuByRole(sys);
  const result = await runClosedLoop({ concurrency: opts.concurrency, durationMs: opts.durationMs, call });
  const after = cpuByRole(sys);
  const cpuPerCall = Object.fromEntries(Object.keys(before).map((k) => [k, (after[k]! - before[k]!) / Math.max(1, result.calls)]));
  return { result, cpuPerCall };
}

export const median = (xs: number[]): number => {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

export interface Summary {
  callsPerSec: number;
  min: number;
  max: number;
  p50Ms: number;
  p99Ms: number;
  calls: number;
  errors: number;
  errorCodes: Record<string, number>;
  errorSamples: string[];
  cpuPerCall: Record<string, number>;
}

export function summarize(runs: Run[]): Summary {
  const cps = runs.map((r) => r.result.callsPerSec);
  const errorCodes: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.result.errorCodes)) errorCodes[k] = (errorCodes[k] ?? 0) + v;
  const roles = Object.keys(runs[0]?.cpuPerCall ?? {});
  return {
    callsPerSec: median(cps),
    min: Math.min(...cps),
    max: Math.max(...cps),
    p50Ms: median(runs.map((r) => r.result.p50Ms)),
    p99Ms: median(runs.map((r) => r.result.p99Ms)),
    calls: runs.reduce((a, r) => a + r.result.calls, 0),
    errors: runs.reduce((a, r) => a + r.result.errors, 0),
    errorCodes,
    errorSamples: runs.flatMap((r) => r.result.errorSamples).slice(0, 3),
    cpuPerCall: Object.fromEntries(roles.map((k) => [k, median(runs.map((r) => r.cpuPerCall[k]!))])),
  };
}
