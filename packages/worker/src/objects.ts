/**
 * The worker's in-memory view of the objects it serves: loaded from LevelDB on first use, changed
 * only by commits (in memory first, then durably through the store's group commit), and evicted
 * least-recently-used past a byte budget. Every call reads from here, never from disk directly.
 */
import type { Store, ObjectKey } from '@lambdastore/storage';
import { packEntries } from './snapshot.js';

export interface CachedObject {
  readonly ref: ObjectKey;
  readonly key: string;
  /** Commit counter (the OCC version of the object's single entry set). */
  version: number;
  createdAtMs: number;
  entries: Map<string, Uint8Array>;
  bytes: number;
  /** Packed entries for shipping; rebuilt lazily after a change. */
  packed: SharedArrayBuffer | undefined;
  /** Resolves when the latest commit to this object is durable. */
  durable: Promise<void> | undefined;
}

export const objectCacheKey = (ref: ObjectKey): string => ref.type + '\u0000' + ref.id;

export class ObjectCache {
  private readonly objects = new Map<string, CachedObject>();
  private readonly loading = new Map<string, Promise<CachedObject | undefined>>();
  private totalBytes = 0;

  constructor(private readonly store: Store, private readonly maxBytes: number) {}

  /** The object, loading it if needed; undefined when it does not exist. */
  async get(ref: ObjectKey): Promise<CachedObject | undefined> {
    const key = objectCacheKey(ref);
    const hit = this.objects.get(key);
    if (hit) {
      // Map order is insertion order: re-insert to mark as most recently used.
      this.objects.delete(key);
      this.objects.set(key, hit);
      return hit;
    }
    let p = this.loading.get(key);
    if (!p) {
      p = this.load(ref, key).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  peek(key: string): CachedObject | undefined {
    return this.objects.get(key);
  }

  private async load(ref: ObjectKey, key: string): Promise<CachedObject | undefined> {
    const stored = await this.store.loadObject(ref);
    // A create may have added it while we read.
    const raced = this.objects.get(key);
    if (raced) return raced;
    if (!stored) return undefined;
    let bytes = 0;
    for (const [k, v] of stored.entries) bytes += k.length + v.length;
    const obj: CachedObject = {
      ref: { type: ref.type, id: ref.id },
      key,
      version: stored.meta.version,
      createdAtMs: stored.meta.createdAtMs,
      entries: stored.entries,
      bytes,
      packed: undefined,
      durable: undefined,
    };
    this.insert(obj);
    return obj;
  }

  /** Adds a newly created object (before its creation is durable). */
  insert(obj: CachedObject): void {
    this.objects.set(obj.key, obj);
    this.totalBytes += obj.bytes;
    this.evict();
  }

  /** Applies committed writes in memory. The caller makes them durable. */
  apply(obj: CachedObject, writes: ReadonlyArray<readonly [string, Uint8Array | null]>, newVersion: number): void {
    let delta = 0;
    for (const [k, v] of writes) {
      const old = obj.entries.get(k);
      if (old) delta -= k.length + old.length;
      if (v === null) obj.entries.delete(k);
      else {
        obj.entries.set(k, v);
        delta += k.length + v.length;
      }
    }
    obj.version = newVersion;
    obj.bytes += delta;
    this.totalBytes += delta;
    obj.packed = undefined;
  }

  /** Packed entries for a task, or undefined when the object is too large to ship. */
  snapshot(obj: CachedObject, shipMaxBytes: number): SharedArrayBuffer | undefined {
    if (obj.bytes > shipMaxBytes) return undefined;
    if (!obj.packed) obj.packed = packEntries(sortedEntries(obj.entries));
    return obj.packed;
  }

  private evict(): void {
    if (this.totalBytes <= this.maxBytes) return;
    for (const [key, obj] of this.objects) {
      if (this.totalBytes <= this.maxBytes) break;
      // An object with a commit still being written stays: its state is not on disk yet.
      if (obj.durable) continue;
      this.objects.delete(key);
      this.totalBytes -= obj.bytes;
    }
  }

  get size(): number {
    return this.objects.size;
  }
}

/** Entries in key order (LevelDB order), so scans over a snapshot come out sorted. */
function sortedEntries(entries: Map<string, Uint8Array>): Map<string, Uint8Array> {
  let prev: string | undefined;
  let sorted = true;
  for (const k of entries.keys()) {
    if (prev !== undefined && k < prev) { sorted = false; break; }
    prev = k;
  }
  if (sorted) return entries;
  const out = new Map([...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  entries.clear();
  for (const [k, v] of out) entries.set(k, v);
  return entries;
}
