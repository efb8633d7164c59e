/**
 * Entry sets: the unit of OCC versions (and of the write turns the dispatcher hands out) inside one
 * object. An object is either one set (coarse) or one set per entry (fine); the adaptive policy
 * below moves it between the two.
 *
 * Versions. Every commit to an object bumps the object's commit counter; a set's version is the
 * counter of the last commit that wrote it. A reader remembers the counter it read at (its stamp)
 * and the entries it read; it is still valid when no set it read has a version above its stamp.
 * A layout change (split or merge) gives every set the current counter as its version: a stamp
 * taken before the latest commit can then never validate, whatever the new layout, and a stamp
 * taken after it validates because nothing has changed since. No version is invented or bumped
 * for a layout change, so versions stay equal to commit counters (which are durable), and an
 * object loaded after a restart simply starts with every set at its stored counter.
 *
 * Why two levels rather than a tree of hashed sets: here the cost of validation is per entry read
 * whatever the layout, and per-set memory is one number per entry written since the last layout
 * change, so an intermediate granularity buys nothing. What coarse mode buys is the write turn:
 * writers of the object run one at a time and never waste a run on a conflict, which wins when
 * writers really touch the same entries.
 */

export type Granularity = 'coarse' | 'fine' | 'adaptive';
export const GRANULARITIES: readonly Granularity[] = ['coarse', 'fine', 'adaptive'];

/** What a reader read: entries by name, or the whole object (a scan, or unknown). */
export type ReadSet = readonly string[] | 'all';

export class EntrySets {
  /** One set per entry (true) or one set for the whole object (false). */
  private perEntry: boolean;
  /** Entries written since the last layout change: entry -> commit counter of the write. */
  private readonly written = new Map<string, number>();
  /** Version of every set not in `written`: the commit counter at the last layout change. */
  private base: number;

  constructor(version: number, fine = false) {
    this.base = version;
    this.perEntry = fine;
  }

  get fine(): boolean {
    return this.perEntry;
  }

  /** Number of sets: 1, or the entries written since the split plus one for all the others. */
  get count(): number {
    return this.perEntry ? this.written.size + 1 : 1;
  }

  /**
   * True when no set the reader read changed after it read at commit counter `seen`. `current` is
   * the object's commit counter now.
   */
  unchangedSince(seen: number, current: number, reads: ReadSet): boolean {
    if (current <= seen) return true;
    if (!this.perEntry || reads === 'all') return false;
    if (this.base > seen) return false;
    for (const k of reads) {
      const v = this.written.get(k);
      if (v !== undefined && v > seen) return false;
    }
    return true;
  }

  /** A commit with counter `version` wrote these entries. */
  noteWrites(writes: ReadonlyArray<readonly [string, unknown]>, version: number): void {
    if (!this.perEntry) return;
    for (const [k] of writes) this.written.set(k, version);
  }

  /** Changes the layout; every set's version becomes the current commit counter. */
  relayout(fine: boolean, current: number): void {
    this.perEntry = fine;
    this.base = current;
    this.written.clear();
  }
}

/** Tuning of the adaptive policy; defaults in POLICY_DEFAULTS. */
export interface PolicyOptions {
  /** Samples a decision looks at. */
  window: number;
  /** Coarse -> fine when at least this share of writers that waited for their turn touched no entry the writer before them wrote. */
  splitFalseShare: number;
  /** Fine -> coarse when at least this share of writer attempts aborted on an entry another one wrote. */
  mergeAbortShare: number;
  /** Fine -> coarse when fewer than this share of writers overlapped another writer of the object. */
  mergeOverlapShare: number;
  /** Fine -> coarse after this long without a writer. */
  idleMergeMs: number;
}

export const POLICY_DEFAULTS: PolicyOptions = {
  window: 32,
  splitFalseShare: 0.75,
  // High on purpose: writers on 2 method threads still beat one-at-a-time turns when 60 % of
  // their attempts abort (bench, entry sets at 50 % writes: 1.5 re-runs per write, fine 1,139 vs
  // coarse 962 calls/s); one hot entry wastes far more than three in four.
  mergeAbortShare: 0.75,
  mergeOverlapShare: 0.25,
  idleMergeMs: 2000,
};

export type LayoutDecision = 'split' | 'merge' | undefined;

/**
 * When to split or merge one object's entry sets, from what its writers experienced. Pure: the
 * executor reports samples and applies the decision.
 *
 * - Coarse: a writer that had to wait for the object's write turn reports whether it touched any
 *   entry the writer before it wrote. Waiting behind writers of other entries is false contention:
 *   split when it dominates the window.
 * - Fine: every writer attempt reports whether it overlapped another writer of the object and
 *   whether it aborted on an entry another transaction wrote. Merge when aborts dominate (true
 *   conflicts: coarse turns would have saved the wasted runs), when writers no longer overlap
 *   (contention faded), or after a quiet spell.
 */
export class EntrySetPolicy {
  private samples = 0;
  private hits = 0;
  private overlaps = 0;
  private lastSampleMs = 0;

  constructor(private readonly o: PolicyOptions = POLICY_DEFAULTS) {}

  /** Coarse mode: a writer waited for its turn; `sharedEntry` when it touched an entry the previous writer wrote. */
  waitedForTurn(sharedEntry: boolean, nowMs: number): LayoutDecision {
    this.sample(nowMs);
    if (!sharedEntry) this.hits++;
    if (this.samples < this.o.window) return undefined;
    const split = this.hits >= this.o.splitFalseShare * this.samples;
    this.reset();
    return split ? 'split' : undefined;
  }

  /** Fine mode: a writer attempt finished (committed or aborted). */
  attempted(overlapped: boolean, aborted: boolean, nowMs: number): LayoutDecision {
    this.sample(nowMs);
    if (aborted) this.hits++;
    if (overlapped) this.overlaps++;
    if (this.samples < this.o.window) return undefined;
    const merge = this.hits >= this.o.mergeAbortShare * this.samples || this.overlaps < this.o.mergeOverlapShare * this.samples;
    this.reset();
    return merge ? 'merge' : undefined;
  }

  /** Fine mode: a writer is about to start; merge first when the object was quiet for long. */
  starting(nowMs: number): LayoutDecision {
    if (this.lastSampleMs !== 0 && nowMs - this.lastSampleMs >= this.o.idleMergeMs) {
      this.reset();
      return 'merge';
    }
    return undefined;
  }

  /** Forget everything (after a layout change the old samples say nothing about the new one). */
  reset(): void {
    this.samples = 0;
    this.hits = 0;
    this.overlaps = 0;
    this.lastSampleMs = 0;
  }

  private sample(nowMs: number): void {
    // Samples far apart are not one contention episode.
    if (this.lastSampleMs !== 0 && nowMs - this.lastSampleMs >= this.o.idleMergeMs) this.reset();
    this.samples++;
    this.lastSampleMs = nowMs;
  }
}
