/**
 * An object's entries packed into one SharedArrayBuffer, shipped with the task so a method's
 * `ctx.get` costs no thread round trip. Built once per object version and shared, never copied:
 * it is immutable, and a new one is built after the object changes.
 *
 * Layout (little endian):
 *   u32 count, u32 offset[count]                     (offset of each record, records sorted by key bytes)
 *   record: u32 keyLen, key (UTF-8), u32 valueLen, value (tag byte + payload, as stored)
 * Lookups binary-search the offset table, so a task pays for the keys it reads, not for indexing
 * the whole object. A stored value always has its tag byte, so valueLen 0 marks a deleted entry
 * (used by overlays: the changes since the base snapshot, shipped beside it so that a write does
 * not repack the whole object).
 */

const enc = new TextEncoder();

/**
 * A copy of just these bytes. Decoded protobuf `bytes` fields are Node Buffers viewing the whole
 * NATS read buffer, and `Buffer#slice` makes another view, not a copy: kept, such a view pins the
 * read buffer; posted to a thread, structured clone copies all of it (up to 64 KiB per call).
 */
export function copyBytes(b: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(b);
}
const dec = new TextDecoder();

export function packEntries(entries: ReadonlyMap<string, Uint8Array | null>): SharedArrayBuffer {
  const records: Array<[Uint8Array, Uint8Array | null, string]> = [];
  let size = 4 + 4 * entries.size;
  let ascii = true;
  let sorted = true;
  for (const [k, v] of entries) {
    const kb = enc.encode(k);
    if (ascii && kb.length !== k.length) ascii = false;
    if (sorted && records.length > 0 && k < records[records.length - 1]![2]) sorted = false;
    records.push([kb, v, k]);
    size += 8 + kb.length + (v ? v.length : 0);
  }
  // Byte order is what lookups search by. For ASCII keys it equals string order, and entries
  // loaded from LevelDB arrive in it already, so the sort is usually skipped or cheap.
  if (!ascii) records.sort((a, b) => Buffer.compare(a[0], b[0]));
  else if (!sorted) records.sort((a, b) => (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
  const sab = new SharedArrayBuffer(size);
  const view = new DataView(sab);
  const bytes = new Uint8Array(sab);
  view.setUint32(0, records.length, true);
  let off = 4 + 4 * records.length;
  records.forEach(([kb, v], i) => {
    view.setUint32(4 + 4 * i, off, true);
    view.setUint32(off, kb.length, true);
    bytes.set(kb, off + 4);
    off += 4 + kb.length;
    const len = v ? v.length : 0;
    view.setUint32(off, len, true);
    if (v) bytes.set(v, off + 4);
    off += 4 + len;
  });
  return sab;
}

/** Read access to a packed snapshot. */
export class PackedEntries {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  readonly count: number;

  constructor(sab: SharedArrayBuffer) {
    this.view = new DataView(sab);
    this.bytes = new Uint8Array(sab);
    this.count = this.view.getUint32(0, true);
  }

  /** The stored value (a view, not a copy); null for a deletion mark; undefined when absent. */
  get(key: string): Uint8Array | null | undefined {
    const want = enc.encode(key);
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const off = this.view.getUint32(4 + 4 * mid, true);
      const kl = this.view.getUint32(off, true);
      const c = Buffer.compare(this.bytes.subarray(off + 4, off + 4 + kl), want);
      if (c === 0) {
        const vOff = off + 4 + kl;
        const vl = this.view.getUint32(vOff, true);
        return vl === 0 ? null : this.bytes.subarray(vOff + 4, vOff + 4 + vl);
      }
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Every key with whether it is a deletion mark, in key-byte order. */
  *keys(): IterableIterator<[string, boolean]> {
    for (let i = 0; i < this.count; i++) {
      const off = this.view.getUint32(4 + 4 * i, true);
      const kl = this.view.getUint32(off, true);
      const key = dec.decode(this.bytes.subarray(off + 4, off + 4 + kl));
      yield [key, this.view.getUint32(off + 4 + kl, true) === 0];
    }
  }
}

/** The snapshot of an object with no entries (a new object, or one a chain is creating). */
export const EMPTY_SNAPSHOT: SharedArrayBuffer = packEntries(new Map());
