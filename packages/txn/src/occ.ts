/**
 * Optimistic concurrency control, as in the paper: a read records the version of what it read
 * (version before value); writes are buffered by the caller; at commit the write set is locked,
 * the read set validated (abort if a version moved or another transaction holds a lock), the
 * writes applied with new versions, and the locks released.
 *
 * Versions are per entry set (see entrysets.ts): a stamp names the object, the commit counter it
 * read at, and which entries it read; locks are per object.
 */
import { LockTable } from './locks.js';
import type { EntrySets, ReadSet } from './entrysets.js';

/** Something with a commit counter that commits bump, and optionally finer entry sets. */
export interface Versioned {
  version: number;
  sets?: EntrySets;
}

/** The commit counter a transaction read object `key` at, and the entries it read (default: all). */
export interface ReadStamp {
  readonly key: string;
  readonly version: number;
  readonly entries?: ReadSet;
}

/** True when nothing the stamp read has changed since. */
export function unchangedSince(obj: Versioned, stamp: { version: number; entries?: ReadSet }): boolean {
  if (obj.version <= stamp.version) return true;
  return obj.sets !== undefined && obj.sets.unchangedSince(stamp.version, obj.version, stamp.entries ?? 'all');
}

export type AbortReason = 'VERSION_CHANGED' | 'LOCKED' | 'MISSING';

export type Validation = { ok: true } | { ok: false; reason: AbortReason; key: string };

/** Checks a read set against current versions and locks held by others. */
export function validateReads(
  reads: readonly ReadStamp[],
  current: (key: string) => Versioned | undefined,
  locks: LockTable,
  owner: string,
): Validation {
  for (const r of reads) {
    const h = locks.holder(r.key);
    if (h !== undefined && h !== owner) return { ok: false, reason: 'LOCKED', key: r.key };
    const obj = current(r.key);
    if (!obj) return { ok: false, reason: 'MISSING', key: r.key };
    if (!unchangedSince(obj, r)) return { ok: false, reason: 'VERSION_CHANGED', key: r.key };
  }
  return { ok: true };
}

export interface CommitAttempt<T extends Versioned> {
  /** Transaction id, the lock owner. */
  owner: string;
  reads: readonly ReadStamp[];
  /** Objects this transaction writes, by key. */
  writes: ReadonlyMap<string, T>;
}

/**
 * Lock the write set, validate the read set, and on success call `apply(key, obj, newVersion)` for
 * every written object with its bumped commit counter, then unlock. Everything happens synchronously, so on
 * one event loop a commit is atomic with respect to every other commit and read.
 */
export function commitOcc<T extends Versioned>(
  attempt: CommitAttempt<T>,
  current: (key: string) => Versioned | undefined,
  locks: LockTable,
  apply: (key: string, obj: T, newVersion: number) => void,
): Validation {
  const keys = [...attempt.writes.keys()];
  if (!locks.tryLockAll(keys, attempt.owner)) {
    const busy = keys.find((k) => { const h = locks.holder(k); return h !== undefined && h !== attempt.owner; })!;
    return { ok: false, reason: 'LOCKED', key: busy };
  }
  try {
    const v = validateReads(attempt.reads, current, locks, attempt.owner);
    if (!v.ok) return v;
    for (const [k, obj] of attempt.writes) apply(k, obj, obj.version + 1);
    return { ok: true };
  } finally {
    locks.unlockAll(keys, attempt.owner);
  }
}

/** Backoff before re-executing an aborted transaction: exponential with full jitter, in ms. */
export function retryBackoffMs(attempt: number, baseMs = 1, capMs = 50, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return random() * ceiling;
}
