/**
 * The LambdaStore paper's micro-benchmark object: 100 entries of 1 KiB each (by default); a call
 * reads or writes 5 of them. `npm start` and the benchmarks create many of these and drive
 * read-only, mixed and write-only workloads.
 *
 * Entries are raw bytes (Uint8Array), keys `e000`, `e001`, ... An entry `meta` holds the shape so
 * `write` keeps every value the size it was created with.
 */
import { AppError, defineType, type Ctx } from '@lambdastore/sdk';

const MAX_ENTRIES = 100_000;
const MAX_VALUE_BYTES = 1 << 20;

interface Meta {
  entries: number;
  valueBytes: number;
}

function entryKey(i: number): string {
  return `e${String(i).padStart(3, '0')}`;
}

/** Cheap deterministic filler (xorshift32), so a value's bytes depend on the seed. */
function makeValue(size: number, seed: number): Uint8Array {
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

function checkKeys(keys: unknown, limit: number): number[] {
  if (!Array.isArray(keys) || keys.some((k) => !Number.isInteger(k) || k < 0 || k >= limit)) {
    throw new AppError('INVALID_KEYS', `keys must be an array of integers in [0, ${limit})`);
  }
  return keys as number[];
}

async function metaOf(ctx: Ctx): Promise<Meta> {
  const meta = await ctx.get<Meta>('meta');
  if (!meta) throw new AppError('NOT_INITIALIZED', 'this Micro object has no meta entry');
  return meta;
}

async function readEntries(ctx: Ctx, keys: number[]): Promise<number> {
  let total = 0;
  for (const k of keys) {
    const v = await ctx.get<Uint8Array>(entryKey(k));
    // isView, not instanceof: values may come from another realm than this module's.
    if (ArrayBuffer.isView(v)) total += v.byteLength;
  }
  return total;
}

async function writeEntries(ctx: Ctx, keys: number[], seed: number): Promise<number> {
  const meta = await metaOf(ctx);
  checkKeys(keys, meta.entries);
  let written = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    ctx.put(entryKey(k), makeValue(meta.valueBytes, (seed | 0) + i * 7919));
    written += meta.valueBytes;
  }
  return written;
}

export default defineType('Micro', {
  /** Writes `entries` entries of `valueBytes` bytes each. */
  async init(ctx: Ctx, entries: number = 100, valueBytes: number = 1024) {
    if (!Number.isInteger(entries) || entries < 0 || entries > MAX_ENTRIES) {
      throw new AppError('INVALID_ARGUMENT', `entries must be an integer in [0, ${MAX_ENTRIES}]`);
    }
    if (!Number.isInteger(valueBytes) || valueBytes < 0 || valueBytes > MAX_VALUE_BYTES) {
      throw new AppError('INVALID_ARGUMENT', `valueBytes must be an integer in [0, ${MAX_VALUE_BYTES}]`);
    }
    ctx.put('meta', { entries, valueBytes } satisfies Meta);
    for (let i = 0; i < entries; i++) ctx.put(entryKey(i), makeValue(valueBytes, i + 1));
  },

  /** Reads the given entries; returns the total number of bytes read. */
  read: {
    readonly: true,
    async run(ctx: Ctx, keys: number[]): Promise<number> {
      return readEntries(ctx, checkKeys(keys, MAX_ENTRIES));
    },
  },

  /** Overwrites the given entries with new values of the same size; returns bytes written. */
  async write(ctx: Ctx, keys: number[], seed: number = 0): Promise<number> {
    return writeEntries(ctx, keys, seed);
  },

  /**
   * Read-modify-write of the given entries (the writers of the entry-set experiment): each value's
   * first four bytes count the updates it received, so concurrent writers of one entry really
   * conflict and `updates` can audit that none was lost.
   */
  async update(ctx: Ctx, keys: number[]): Promise<number> {
    const meta = await metaOf(ctx);
    for (const k of checkKeys(keys, meta.entries)) {
      const v = await ctx.get<Uint8Array>(entryKey(k));
      if (!ArrayBuffer.isView(v) || v.byteLength < 4) throw new AppError('TOO_SMALL', `entry ${k} cannot hold an update counter`);
      const next = new Uint8Array(v);
      const view = new DataView(next.buffer);
      view.setUint32(0, view.getUint32(0) + 1);
      ctx.put(entryKey(k), next);
    }
    return keys.length;
  },

  /** Sum of the update counters of all entries, less their initial values (see `update`). */
  updates: {
    readonly: true,
    async run(ctx: Ctx): Promise<number> {
      const meta = await metaOf(ctx);
      let total = 0;
      for (let i = 0; i < meta.entries; i++) {
        const v = await ctx.get<Uint8Array>(entryKey(i));
        if (ArrayBuffer.isView(v) && v.byteLength >= 4) {
          const now = new DataView(v.buffer, v.byteOffset, 4).getUint32(0);
          const initial = new DataView(makeValue(meta.valueBytes, i + 1).buffer, 0, 4).getUint32(0);
          total += (now - initial) >>> 0;
        }
      }
      return total;
    },
  },

  /** One call of the paper's workload: read or write the given entries. */
  async ops(ctx: Ctx, keys: number[], writes: boolean, seed: number = 0): Promise<number> {
    return writes ? writeEntries(ctx, keys, seed) : readEntries(ctx, checkKeys(keys, MAX_ENTRIES));
  },
});
