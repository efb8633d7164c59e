/**
 * A small closed-loop load generator: `concurrency` callers, each issuing its next call as soon as
 * the previous one finished, for `durationMs`. Latencies go into a log-bucketed histogram (bounded
 * memory, < 1 % error), so runs of any length cost the same. Used by `lambdastore start` and the
 * benchmarks.
 */
import { performance } from 'node:perf_hooks';

/**
 * Latency histogram in microseconds. Values below 128 µs get a bucket each; above, every power of two
 * is split into 64 buckets (relative error below 1/64). Values up to ~2^40 µs (12 days) fit.
 */
export class LatencyHistogram {
  private static readonly LINEAR = 128;
  private static readonly SUB = 64;
  private readonly counts = new Float64Array(LatencyHistogram.LINEAR + 34 * LatencyHistogram.SUB);
  private n = 0;
  private sumUs = 0;
  private maxUs = 0;
  private minUs = Infinity;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const us = Math.max(0, ms * 1000);
    this.counts[this.indexOf(us)]! += 1;
    this.n++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
    if (us < this.minUs) this.minUs = us;
  }

  /** Adds another histogram's samples to this one. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.n += other.n;
    this.sumUs += other.sumUs;
    this.maxUs = Math.max(this.maxUs, other.maxUs);
    this.minUs = Math.min(this.minUs, other.minUs);
  }

  get count(): number {
    return this.n;
  }

  meanMs(): number {
    return this.n === 0 ? 0 : this.sumUs / this.n / 1000;
  }

  maxMs(): number {
    return this.maxUs / 1000;
  }

  minMs(): number {
    return this.n === 0 ? 0 : this.minUs / 1000;
  }

  /** The latency (ms) below which `p` percent of the samples fall (0 with no samples). */
  percentileMs(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.maxUs, Math.max(this.minUs, this.midpointOf(i))) / 1000;
    }
    return this.maxUs / 1000;
  }

  private indexOf(us: number): number {
    const { LINEAR, SUB } = LatencyHistogram;
    const v = Math.floor(us);
    if (v < LINEAR) return v;
    const msb = Math.floor(Math.log2(v)); // >= 7
    const shift = msb - 6; // v / 2^shift in [64, 128)
    const top = Math.floor(v / 2 ** shift);
    const idx = LINEAR + (msb - 7) * SUB + (top - SUB);
    return Math.min(idx, this.counts.length - 1);
  }

  private midpointOf(idx: number): number {
    const { LINEAR, SUB } = LatencyHistogram;
    if (idx < LINEAR) return idx + 0.5;
    const msb = Math.floor((idx - LINEAR) / SUB) + 7;
    const top = ((idx - LINEAR) % SUB) + SUB;
    const shift = msb - 6;
    return (top + 0.5) * 2 ** shift;
  }
}

export interface LoadOptions {
  /** Calls in flight at any time (>= 1). */
  concurrency: number;
  /** How long new calls are started, in ms. Calls in flight at the end are awaited. */
  durationMs: number;
  /**
   * One call. `worker` is the index of the caller loop (0..concurrency-1), `seq` a run-wide
   * sequence number. A call that throws counts as an error; its latency is not recorded.
   */
  call: (worker: number, seq: number) => Promise<unknown>;
  /** Stops starting new calls early. */
  signal?: AbortSignal;
  /** Called every `progressIntervalMs` (default 1000) with the running totals. */
  onProgress?: (p: LoadProgress) => void;
  progressIntervalMs?: number;
}

export interface LoadProgress {
  elapsedMs: number;
  calls: number;
  errors: number;
}

export interface LoadResult {
  /** Calls that completed without throwing. */
  calls: number;
  errors: number;
  /** Error counts by `code` (or error name). */
  errorCodes: Record<string, number>;
  /** A few error messages, for reports. */
  errorSamples: string[];
  /** Wall time from start until the last call finished (ms). */
  elapsedMs: number;
  callsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  histogram: LatencyHistogram;
}

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string' && name) return name;
  }
  return 'ERROR';
}

/** Runs a closed loop of `concurrency` callers for `durationMs`. Never throws for a failed call. */
export async function runClosedLoop(opts: LoadOptions): Promise<LoadResult> {
  const concurrency = Math.max(1, Math.floor(opts.concurrency));
  const histogram = new LatencyHistogram();
  const errorCodes: Record<string, number> = {};
  const errorSamples: string[] = [];
  let calls = 0;
  let errors = 0;
  let seq = 0;
  const start = performance.now();
  const endAt = start + Math.max(0, opts.durationMs);
  const stopped = () => performance.now() >= endAt || opts.signal?.aborted === true;

  const progressTimer = opts.onProgress
    ? setInterval(() => opts.onProgress!({ elapsedMs: performance.now() - start, calls, errors }), opts.progressIntervalMs ?? 1000)
    : undefined;
  progressTimer?.unref();

  const loop = async (worker: number): Promise<void> => {
    while (!stopped()) {
      const t0 = performance.now();
      try {
        await opts.call(worker, seq++);
        histogram.record(performance.now() - t0);
        calls++;
      } catch (err) {
        errors++;
        const code = errorCode(err);
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        if (errorSamples.length < 5) errorSamples.push(`${code}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
  } finally {
    if (progressTimer) clearInterval(progressTimer);
  }
  const elapsedMs = performance.now() - start;
  return {
    calls,
    errors,
    errorCodes,
    errorSamples,
    elapsedMs,
    callsPerSec: elapsedMs > 0 ? (calls * 1000) / elapsedMs : 0,
    p50Ms: histogram.percentileMs(50),
    p90Ms: histogram.percentileMs(90),
    p99Ms: histogram.percentileMs(99),
    meanMs: histogram.meanMs(),
    maxMs: histogram.maxMs(),
    histogram,
  };
}

/**
 * Runs `fn` over `items` with at most `concurrency` in flight; stops starting new items when
 * `signal` aborts. Rejects with the first error (after the ones in flight settle).
 */
export async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && signal?.aborted !== true) {
      const i = next++;
      if (i >= items.length) return;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failure) throw failure.err;
}
