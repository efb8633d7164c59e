/**
 * An object's entries packed into one SharedArrayBuffer, shipped with the task so a method's
 * `ctx.get` costs no thread round trip. Built once per object version and shared, never copied:
 * it is immutable, and a new one is built after the object changes.
 *
 * Layout (little endian): u32 count, then per entry, in key order:
 *   u32 keyLen, key (UTF-8), u32 valueLen, value (tag byte + payload, as stored)
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

export function packEntries(entries: ReadonlyMap<string, Uint8Array>): SharedArrayBuffer {
  const keys: Uint8Array[] = [];
  let size = 4;
  for (const [k, v] of entries) {
    const kb = enc.encode(k);
    keys.push(kb);
    size += 8 + kb.length + v.length;
  }
  const sab = new SharedArrayBuffer(size);
  const view = new DataView(sab);
  const bytes = new Uint8Array(sab);
  view.setUint32(0, entries.size, true);
  let off = 4;
  let i = 0;
  for (const v of entries.values()) {
    const kb = keys[i++]!;
    view.setUint32(off, kb.length, true);
    bytes.set(kb, off + 4);
    off += 4 + kb.length;
    view.setUint32(off, v.length, true);
    bytes.set(v, off + 4);
    off += 4 + v.length;
  }
  return sab;
}

/** Index of a packed snapshot: key -> [offset, length] of the stored value. Keys in order. */
export function indexSnapshot(sab: SharedArrayBuffer): Map<string, readonly [number, number]> {
  const view = new DataView(sab);
  const bytes = new Uint8Array(sab);
  const count = view.getUint32(0, true);
  const index = new Map<string, readonly [number, number]>();
  let off = 4;
  for (let i = 0; i < count; i++) {
    const kl = view.getUint32(off, true);
    const key = dec.decode(bytes.subarray(off + 4, off + 4 + kl));
    off += 4 + kl;
    const vl = view.getUint32(off, true);
    index.set(key, [off + 4, vl]);
    off += 4 + vl;
  }
  return index;
}
