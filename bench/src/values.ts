/**
 * The micro workload's shape and values, shared by every system so each one stores and moves the
 * same bytes: objects of ENTRIES entries x VALUE_BYTES, OPS entries per call.
 */
export const ENTRIES = 100;
export const VALUE_BYTES = 1024;
export const OPS = 5;
/** What a correct read or write call of OPS entries reports (bytes). */
export const CALL_BYTES = OPS * VALUE_BYTES;

export function entryKey(i: number): string {
  return `e${String(i).padStart(3, '0')}`;
}

/**
 * The same deterministic filler (xorshift32) as `examples/micro`, so a function that computes a
 * value here does the work a LambdaStore method does.
 */
export function fillValue(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed | 0) || 0x9e3779b9;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
    if (i + 1 < size) out[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < size) out[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < size) out[i + 3] = (x >>> 24) & 0xff;
  }
  return out;
}

/** OPS distinct random entry indexes. */
export function pickEntries(): number[] {
  const keys = new Set<number>();
  while (keys.size < OPS) keys.add(Math.floor(Math.random() * ENTRIES));
  return [...keys];
}

/** Zipf(s) over ranks 0..n-1 by inverse CDF (binary search): rank 0 is the hottest. */
export function zipfSampler(n: number, s: number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return () => {
    const u = Math.random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
