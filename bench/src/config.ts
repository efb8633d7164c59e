/**
 * What one `npm run bench` run measures and for how long, from the command line:
 *   npm run bench [-- --quick] [--objects N] [--duration-s S] [--warmup-s S] [--concurrency C]
 *                 [--repeats R] [--systems a,b] [--out FILE]
 * `--quick` is the development run (under 5 minutes on 2 cores); without it the full run: every
 * system and workload, 10,000 objects, 3 interleaved rounds of 1 s warm-up + 5 s measured (about
 * 30 minutes on 2 cores with 10 systems; `--duration-s 10 --warmup-s 2` doubles the measured part).
 */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface BenchConfig {
  quick: boolean;
  /** Micro objects per system (the paper: 10,000). */
  objects: number;
  /** Measured time of one run of one workload on one system. */
  durationMs: number;
  /** Unmeasured calls before each run (same load), so caches and connections are warm. */
  warmupMs: number;
  /** Calls in flight (closed loop). */
  concurrency: number;
  /** Interleaved repetitions: every system runs a workload once per round, rounds repeat. */
  repeats: number;
  /** Duration of each one-call-at-a-time latency run. */
  lowLoadMs: number;
  /** Only these systems (ids), all when empty. */
  systems: string[];
  /** Where the report goes; charts go to `<dir of out>/bench/`. */
  out: string;
  /** Write a CPU profile of the LambdaStore workers during a read-only run. */
  profile: boolean;
}

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

/** Bad command-line input: main prints the message and the usage, and exits 2 (no stack trace). */
export class UsageError extends Error {}

/** The usage text; `systemIds` are the ids `--systems` accepts (main knows them). */
export function usage(systemIds: readonly string[]): string {
  return `usage: npm run bench [-- [--quick] [--objects N] [--duration-s S] [--warmup-s S] [--concurrency C]
                      [--repeats R] [--systems a,b] [--no-profile] [--out FILE]]
  --quick         the development run: 200 objects, 1 round of 1 s runs (under 5 minutes)
  --objects N     micro objects per system (full run: 10,000)
  --duration-s S  measured seconds per run (full: 5)      --warmup-s S  warm-up seconds (full: 1)
  --concurrency C calls in flight (64)                    --repeats R   interleaved rounds (full: 3)
  --systems a,b   only these systems, by id or by the part before a dash (lambdastore: all four
                  LambdaStore rows): ${systemIds.join(', ')}
  --no-profile    skip the CPU profile of the workers
  --out FILE      where the report goes (default docs/BENCHMARKS.md; charts in <dir>/bench/)`;
}

/** Whether `--systems` entry `wanted` picks the system `id`: its id, or a prefix of it up to a dash. */
export const picks = (wanted: string, id: string): boolean => id === wanted || id.startsWith(`${wanted}-`);

export function parseConfig(argv: string[], systemIds: readonly string[]): BenchConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      quick: { type: 'boolean', default: false },
      objects: { type: 'string' },
      'duration-s': { type: 'string' },
      'warmup-s': { type: 'string' },
      concurrency: { type: 'string' },
      repeats: { type: 'string' },
      systems: { type: 'string' },
      'no-profile': { type: 'boolean', default: false },
      out: { type: 'string', default: join(repoRoot, 'docs', 'BENCHMARKS.md') },
    },
  });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) return 'help';
  const systems = values.systems ? values.systems.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const unknown = systems.filter((w) => !systemIds.some((id) => picks(w, id)));
  if (unknown.length) throw new UsageError(`--systems: no system ${unknown.map((w) => JSON.stringify(w)).join(', ')}`);
  const quick = values.quick!;
  return {
    quick,
    objects: Math.floor(positive('objects', values.objects, quick ? 200 : 10_000)),
    durationMs: 1000 * positive('duration-s', values['duration-s'], quick ? 1 : 5),
    warmupMs: 1000 * positive('warmup-s', values['warmup-s'], quick ? 0.3 : 1),
    concurrency: Math.floor(positive('concurrency', values.concurrency, 64)),
    repeats: Math.floor(positive('repeats', values.repeats, quick ? 1 : 3)),
    lowLoadMs: quick ? 1000 : 5000,
    systems,
    out: values.out!,
    profile: !values['no-profile'],
  };
}
