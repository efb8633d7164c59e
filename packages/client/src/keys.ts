/**
 * Idempotency keys: 128 random bits as 32 hex characters. One key per logical call; every retry of
 * that call reuses it, so the worker applies the call once.
 *
 * Random bytes come from a pooled buffer refilled with one `randomFillSync` per 256 keys: the
 * per-call cost is a slice to hex, not a syscall.
 */
import { randomFillSync } from 'node:crypto';

const KEY_BYTES = 16;
const POOL_KEYS = 256;
const pool = Buffer.allocUnsafe(KEY_BYTES * POOL_KEYS);
let offset = pool.length;

export function newIdempotencyKey(): string {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const key = pool.toString('hex', offset, offset + KEY_BYTES);
  offset += KEY_BYTES;
  return key;
}

/** Keys the client accepts from callers: non-empty, at most 256 characters. */
export function checkIdempotencyKey(key: string): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'idempotency key must be a non-empty string';
  if (key.length > 256) return 'idempotency key longer than 256 characters';
  return undefined;
}
