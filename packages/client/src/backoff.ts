/**
 * Retry delays. Pure functions, so the schedule is unit-tested without clocks.
 */

export interface BackoffOptions {
  /** Delay cap of the first retry in ms (default 10). */
  baseMs: number;
  /** Upper bound of any single delay in ms (default 1000). */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ baseMs: 10, maxMs: 1000 });

/**
 * Delay before retry number `retry` (1 = the first retry): exponential growth with "equal jitter",
 * i.e. uniformly in [cap/2, cap] where cap = min(maxMs, baseMs * 2^(retry-1)). Half of the delay is
 * guaranteed so the schedule keeps growing; the random half spreads clients that failed together.
 */
export function backoffDelayMs(retry: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(retry));
  // 2 ** 31 already exceeds any sane maxMs; clamping the exponent avoids Infinity.
  const cap = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(n - 1, 31));
  const half = cap / 2;
  return Math.round(half + random() * half);
}

/**
 * How long to wait before the next attempt, or undefined to give up: the backoff delay, at least
 * the server's `retryAfterMs` hint, and never past the deadline (a wait that would end after the
 * deadline leaves no time for an attempt, so we stop instead).
 */
export function nextDelayMs(retry: number, retryAfterMs: number, remainingMs: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number | undefined {
  const delay = Math.max(backoffDelayMs(retry, opts, random), retryAfterMs > 0 ? retryAfterMs : 0);
  return delay < remainingMs ? delay : undefined;
}
