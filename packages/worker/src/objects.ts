/**
 * The worker's in-memory view of the objects it serves: loaded from LevelDB on first use, changed
 * only by commits (in memory first, then durably through the store's group commit), and evicted
 * least-recently-used past a byte budget. Every call reads from here, never from disk directly.
 *
 * An object's entries live packed in one SharedArrayBuffer (the form a task ships to a thread),
 * plus a small map of the changes since it was packed. Keeping a Map of one Uint8Array per entry
 * instead put hundreds of thousands of small objects on the heap for a few thousand cached objects,
 * and every major GC had to mark them all: the uniform workload spent most of its CPU there.
 */
import type { Store, ObjectKey } from '@lambdastore/storage';
import { EntrySets, EntrySetPolicy, type Granularity } from '@lambdastore/txn';
import { packEntries, PackedEntries, EMPTY_SNAPSHOT } from './snapshot.js';

export interface CachedObject {
  readonly ref: ObjectKey;
  readonly key: string;
  /** Commit counter: bumped by every commit that writes the object. */
  version: number;
  /** Its entry sets: versions per set (one set, or one per entry). */
  sets: EntrySets;
  /** When to split or merge the sets (adaptive granularity only). */
  policy: EntrySetPolicy | undefined;
  /**
   * Entries written by the latest commits, newest last (adaptive only): a writer that waited for
   * its turn checks whether it would have conflicted with the commits it waited behind.
   */
  recentWrites: Array<{ version: number; writes: ReadonlyArray<readonly [string, unknown]> }>;
  /** Writer calls of this object running now (fine mode: did writers overlap?). */
  writersRunning: number;
  createdAtMs: number;
  /** Bytes of keys and values of its live entries (what the cache budget counts). */
  bytes: number;
  /** The entries as of some commit, packed (what tasks ship as their base snapshot). */
  packed: SharedArrayBuffer;
  /** Reader of `packed`. */
  base: PackedEntries;
  /** Changes since `packed` was built (null = deleted), and their packed form (built lazily). */
  overlay: Map<string, Uint8Array | null>;
  overlayBytes: number;
  packedOverlay: SharedArrayBuffer | undefined;
  /** Resolves when the latest commit to this object is durable. */
  durable: Promise<void> | undefined;
}

/** Overlays below this size never force a repack, whatever the object's size. */
const OVERLAY_MIN_BYTES = 4096;

const EMPTY_BASE = new PackedEntries(EMPTY_SNAPSHOT);

function packing(packed: SharedArrayBuffer, base: PackedEntries): Pick<CachedObject, 'packed' | 'base' | 'overlay' | 'overlayBytes' | 'packedOverlay'> {
  return { packed, base, overlay: new Map(), overlayBytes: 0, packedOverlay: undefined };
}

/** An entry's current value: the overlay first, then the base (undefined when absent). */
export function entryOf(obj: CachedObject, key: string): Uint8Array | undefined {
  const changed = obj.overlay.get(key);
  if (changed !== undefined) return changed ?? undefined;
  return obj.base.get(key) ?? undefined;
}

/** The current keys, in no particular order. */
export function keysOf(obj: CachedObject): Set<string> {
  const keys = new Set<string>();
  for (const [k] of obj.base.keys()) keys.add(k);
  for (const [k, v] of obj.overlay) {
    if (v === null) keys.delete(k);
    else keys.add(k);
  }
  return keys;
}

/** Folds the overlay into a new packed base. */
function repack(obj: CachedObject): void {
  const merged = new Map<string, Uint8Array | null>();
  for (const [k] of obj.base.keys()) {
    const v = obj.overlay.has(k) ? obj.overlay.get(k)! : obj.base.get(k)!;
    if (v !== null) merged.set(k, v);
  }
  for (const [k, v] of obj.overlay) if (v !== null && !merged.has(k)) merged.set(k, v);
  const packed = packEntries(merged);
  Object.assign(obj, packing(packed, new PackedEntries(packed)));
}

/** A load from LevelDB in flight; `stale` once the object was dropped meanwhile. */
interface Load {
  readonly ref: ObjectKey;
  stale: boolean;
  p: Promise<CachedObject | undefined>;
}

export const objectCacheKey = (ref: ObjectKey): string => ref.type + '\u0000' + ref.id;

/** Commits an object remembers the entries of (adaptive granularity). */
const RECENT_WRITES = 64;

function entrySetsFields(granularity: Granularity, version: number): Pick<CachedObject, 'sets' | 'policy' | 'recentWrites' | 'writersRunning'> {
  return {
    sets: new EntrySets(version, granularity === 'fine'),
    policy: granularity === 'adaptive' ? new EntrySetPolicy() : undefined,
    recentWrites: [],
    writersRunning: 0,
  };
}

export class ObjectCache {
  private readonly objects = new Map<string, CachedObject>();
  private readonly loading = new Map<string, Load>();
  private totalBytes = 0;

  /**
   * `granularity`: how objects lay out their entry sets (worker option `entrySets`): one set each,
   * one per entry, or adaptive (start with one, split and merge as writers contend).
   */
  constructor(private readonly store: Store, private readonly maxBytes: number, readonly granularity: Granularity = 'adaptive') {}

  /** A new, empty object (a create), before its commit; `insert` it once created. */
  newObject(ref: ObjectKey): CachedObject {
    return { ref: { type: ref.type, id: ref.id }, key: objectCacheKey(ref), version: 0, ...entrySetsFields(this.granularity, 0), createdAtMs: Date.now(), bytes: 0, ...packing(EMPTY_SNAPSHOT, EMPTY_BASE), durable: undefined };
  }

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
    let l = this.loading.get(key);
    if (!l) {
      const load: Load = { ref, stale: false, p: undefined! };
      load.p = this.load(load, key).finally(() => { if (this.loading.get(key) === load) this.loading.delete(key); });
      this.loading.set(key, load);
      l = load;
    }
    return l.p;
  }

  peek(key: string): CachedObject | undefined {
    return this.objects.get(key);
  }

  private async load(l: Load, key: string): Promise<CachedObject | undefined> {
    const ref = l.ref;
    const stored = await this.store.loadObject(ref);
    // A create may have added it while we read.
    const raced = this.objects.get(key);
    if (raced) return raced;
    if (!stored) return undefined;
    let bytes = 0;
    for (const [k, v] of stored.entries) bytes += k.length + v.length;
    // Packed once here; the loaded Map (one buffer per entry) is garbage right away.
    const packed = packEntries(stored.entries);
    const obj: CachedObject = {
      ref: { type: ref.type, id: ref.id },
      key,
      version: stored.meta.version,
      ...entrySetsFields(this.granularity, stored.meta.version),
      createdAtMs: stored.meta.createdAtMs,
      bytes,
      ...packing(packed, new PackedEntries(packed)),
      durable: undefined,
    };
    // Dropped while being read: good for the calls that began before the drop, not for keeping.
    if (!l.stale) this.insert(obj);
    return obj;
  }

  /** A load in flight for `key` may have read the state before a drop: later calls load afresh. */
  private staleLoad(key: string): void {
    const l = this.loading.get(key);
    if (!l) return;
    l.stale = true;
    this.loading.delete(key);
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
      const old = entryOf(obj, k);
      if (old) delta -= k.length + old.length;
      if (v !== null) delta += k.length + v.length;
      // A deletion of a key the base lacks needs no mark; any other change goes in the overlay.
      if (v === null && obj.base.get(k) === undefined) obj.overlay.delete(k);
      else obj.overlay.set(k, v);
      obj.overlayBytes += k.length + (v ? v.length : 0);
    }
    obj.version = newVersion;
    obj.sets.noteWrites(writes, newVersion);
    if (obj.policy && !obj.sets.fine) {
      obj.recentWrites.push({ version: newVersion, writes });
      if (obj.recentWrites.length > RECENT_WRITES) obj.recentWrites.shift();
    }
    obj.bytes += delta;
    this.totalBytes += delta;
    obj.packedOverlay = undefined;
    // Keep the base and ship the changes beside it, until they outgrow a quarter of the object.
    if (obj.overlayBytes > OVERLAY_MIN_BYTES + obj.bytes / 4) repack(obj);
  }

  /** Packed state for a task: base and changes since; undefined when too large to ship. */
  snapshot(obj: CachedObject, shipMaxBytes: number): { base: SharedArrayBuffer; overlay: SharedArrayBuffer | undefined } | undefined {
    if (obj.bytes > shipMaxBytes) return undefined;
    if (obj.overlay.size > 0 && !obj.packedOverlay) obj.packedOverlay = packEntries(obj.overlay);
    return { base: obj.packed, overlay: obj.overlay.size > 0 ? obj.packedOverlay : undefined };
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

  /** Forgets the objects `drop` names (a shard whose state now changes elsewhere, or was replaced). */
  dropWhere(drop: (ref: ObjectKey) => boolean): void {
    for (const [key, l] of [...this.loading]) if (drop(l.ref)) this.staleLoad(key);
    for (const [key, obj] of this.objects) {
      if (!drop(obj.ref)) continue;
      this.objects.delete(key);
      this.totalBytes -= obj.bytes;
    }
  }

  /** Forgets these objects (their state on disk changed underneath: a chain record applied here). */
  invalidate(refs: Iterable<ObjectKey>): void {
    for (const ref of refs) {
      const key = objectCacheKey(ref);
      this.staleLoad(key);
      const obj = this.objects.get(key);
      if (!obj) continue;
      this.objects.delete(key);
      this.totalBytes -= obj.bytes;
    }
  }

  get size(): number {
    return this.objects.size;
  }
}
