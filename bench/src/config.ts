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
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseConfig(argv: string[]): BenchConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
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
  const quick = values.quick!;
  return {
    quick,
    objects: Math.floor(positive('objects', values.objects, quick ? 200 : 10_000)),
    durationMs: 1000 * positive('duration-s', values['duration-s'], quick ? 1 : 5),
    warmupMs: 1000 * positive('warmup-s', values['warmup-s'], quick ? 0.3 : 1),
    concurrency: Math.floor(positive('concurrency', values.concurrency, 64)),
    repeats: Math.floor(positive('repeats', values.repeats, quick ? 1 : 3)),
    lowLoadMs: quick ? 1000 : 5000,
    systems: values.systems ? values.systems.split(',').map((s) => s.trim()).filter(Boolean) : [],
    out: values.out!,
    profile: !values['no-profile'],
  };
}
