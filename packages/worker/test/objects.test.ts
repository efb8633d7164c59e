import { expect } from 'chai';
import { tempDir } from '@lambdastore/testkit';
import { Store, encodeJsonValue } from '@lambdastore/storage';
import { ObjectCache, entryOf, keysOf } from '../src/objects.js';
import { PackedEntries, copyBytes } from '../src/snapshot.js';

describe('object cache', function () {
  this.timeout(10_000);
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: Store;
  beforeEach(async () => { dir = await tempDir('ls-cache-'); store = await Store.open(dir.path); });
  afterEach(async () => { await store.close(); await dir.cleanup(); });

  const ref = { type: 'T', id: 'x' };
  const entries = (n: number) => Array.from({ length: n }, (_, i) => [`k${String(i).padStart(3, '0')}`, encodeJsonValue(JSON.stringify('v'.repeat(100)))] as [string, Uint8Array]);

  it('loads from the store, reports missing objects, and ships a shared snapshot', async () => {
    await store.commit({ changes: [{ object: ref, meta: { version: 3, createdAtMs: 1 }, writes: entries(10) }] });
    const cache = new ObjectCache(store, 1 << 20);
    expect(await cache.get({ type: 'T', id: 'nope' })).to.equal(undefined);
    const obj = (await cache.get(ref))!;
    expect(obj.version).to.equal(3);
    const s1 = cache.snapshot(obj, 1 << 20)!;
    expect(new PackedEntries(s1.base).count).to.equal(10);
    expect(cache.snapshot(obj, 1 << 20)!.base).to.equal(s1.base); // built once, shared
    expect(cache.snapshot(obj, 100)).to.equal(undefined); // too large to ship
  });

  it('ships small changes as an overlay and repacks once they outgrow the object', async () => {
    await store.commit({ changes: [{ object: ref, meta: { version: 1, createdAtMs: 1 }, writes: entries(100) }] });
    const cache = new ObjectCache(store, 1 << 24);
    const obj = (await cache.get(ref))!;
    const base = cache.snapshot(obj, 1 << 20)!.base;
    cache.apply(obj, [['k000', null], ['new', encodeJsonValue('1')]], 2);
    const s = cache.snapshot(obj, 1 << 20)!;
    expect(s.base).to.equal(base);
    const ov = new PackedEntries(s.overlay!);
    expect(ov.get('k000')).to.equal(null); // deletion
    expect(ov.get('new')).to.be.instanceOf(Uint8Array);
    // rewrite most of the object: the overlay outgrows a quarter of it, so the base is rebuilt
    cache.apply(obj, entries(90), 3);
    const s2 = cache.snapshot(obj, 1 << 20)!;
    expect(s2.base).to.not.equal(base);
    expect(s2.overlay).to.equal(undefined);
    const idx = new PackedEntries(s2.base);
    expect(idx.get('k000')).to.be.instanceOf(Uint8Array);
    expect(idx.get('new')).to.be.instanceOf(Uint8Array);
    expect(idx.count).to.equal(101);
  });

  it('reads entries through the overlay, counts live bytes, and forgets keys created and deleted since the base', async () => {
    await store.commit({ changes: [{ object: ref, meta: { version: 1, createdAtMs: 1 }, writes: entries(3) }] });
    const cache = new ObjectCache(store, 1 << 24);
    const obj = (await cache.get(ref))!;
    const before = obj.bytes;
    const one = encodeJsonValue('1');
    cache.apply(obj, [['k001', null], ['x', one]], 2);
    expect(entryOf(obj, 'k000')).to.be.instanceOf(Uint8Array); // from the base
    expect(entryOf(obj, 'k001')).to.equal(undefined); // deleted in the overlay
    expect(entryOf(obj, 'x')).to.deep.equal(one);
    expect([...keysOf(obj)].sort()).to.deep.equal(['k000', 'k002', 'x']);
    expect(obj.bytes).to.equal(before - (4 + entries(3)[1]![1].length) + 1 + one.length);
    cache.apply(obj, [['x', null]], 3);
    expect(obj.overlay.has('x')).to.equal(false); // never in the base: nothing to mark
    expect([...keysOf(obj)].sort()).to.deep.equal(['k000', 'k002']);
    // what ships to a thread says the same
    const s = cache.snapshot(obj, 1 << 20)!;
    expect(new PackedEntries(s.overlay!).get('k001')).to.equal(null);
  });

  it('evicts least recently used objects past its byte budget, never one still being written', async () => {
    for (const id of ['a', 'b', 'c']) await store.commit({ changes: [{ object: { type: 'T', id }, meta: { version: 1, createdAtMs: 1 }, writes: entries(10) }] });
    const cache = new ObjectCache(store, 2500);
    const a = (await cache.get({ type: 'T', id: 'a' }))!;
    a.durable = new Promise(() => {});
    await cache.get({ type: 'T', id: 'b' });
    await cache.get({ type: 'T', id: 'c' });
    expect(cache.peek(a.key)).to.equal(a);
    expect(cache.size).to.be.lessThan(3);
  });

  it('copyBytes copies only the viewed bytes of a Buffer (Buffer#slice would keep the whole read buffer)', () => {
    const read = Buffer.alloc(65536, 7);
    const view = read.subarray(100, 103);
    expect(view.slice().buffer.byteLength).to.equal(65536); // the trap copyBytes avoids
    const copy = copyBytes(view);
    expect(copy.buffer.byteLength).to.equal(3);
    expect([...copy]).to.deep.equal([7, 7, 7]);
  });
});
