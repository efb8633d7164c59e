import { expect } from 'chai';
import { tempDir } from '@lambdastore/testkit';
import { Store, encodeJsonValue, encodeBytesValue } from '../src/index.js';

const acct = { type: 'Account', id: 'alice' };
const other = { type: 'Account', id: 'alice2' };
const text = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString() : undefined);

describe('Store', function () {
  this.timeout(10_000);
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => { dir = await tempDir('ls-store-'); });
  afterEach(async () => { await dir.cleanup(); });

  it('reports a missing object as undefined', async () => {
    const s = await Store.open(dir.path);
    expect(await s.loadObject(acct)).to.equal(undefined);
    expect(await s.objectExists(acct)).to.equal(false);
    await s.close();
  });

  it('applies a commit record atomically and keeps it across a reopen', async () => {
    let s = await Store.open(dir.path);
    await s.commit({
      changes: [{ object: acct, meta: { version: 1, createdAtMs: 1000 }, writes: [['balance', encodeJsonValue('5')], ['blob', encodeBytesValue(new Uint8Array([1, 2, 3]))]] }],
      dedup: { object: acct, key: 'k1', record: { response: new Uint8Array([9, 9]), expiresAtMs: Date.now() + 60_000, fingerprint: new Uint8Array([7, 7, 7]) } },
    });
    await s.commit({ changes: [{ object: other, meta: { version: 1, createdAtMs: 1 }, writes: [['x', encodeJsonValue('1')]] }] });
    await s.close();

    s = await Store.open(dir.path);
    const o = await s.loadObject(acct);
    expect(o?.meta).to.deep.equal({ version: 1, createdAtMs: 1000 });
    expect([...o!.entries.keys()]).to.deep.equal(['balance', 'blob']);
    expect(text(o!.entries.get('balance'))).to.equal('\u00015');
    expect([...o!.entries.get('blob')!]).to.deep.equal([2, 1, 2, 3]);
    // a neighbour whose id extends this one's is not mixed in
    expect((await s.loadObject(other))!.entries.size).to.equal(1);
    expect([...(await s.getDedup(acct, 'k1'))!.response]).to.deep.equal([9, 9]);
    expect([...(await s.getDedup(acct, 'k1'))!.fingerprint]).to.deep.equal([7, 7, 7]);
    expect(await s.getDedup(other, 'k1')).to.equal(undefined);
    await s.close();
  });

  it('deletes entries and bumps the version', async () => {
    const s = await Store.open(dir.path);
    await s.commit({ changes: [{ object: acct, meta: { version: 1, createdAtMs: 1 }, writes: [['a', encodeJsonValue('1')], ['b', encodeJsonValue('2')]] }] });
    await s.commit({ changes: [{ object: acct, meta: { version: 2, createdAtMs: 1 }, writes: [['a', null]] }] });
    const o = await s.loadObject(acct);
    expect(o!.meta.version).to.equal(2);
    expect([...o!.entries.keys()]).to.deep.equal(['b']);
    await s.close();
  });

  it('treats an expired dedup record as absent', async () => {
    const s = await Store.open(dir.path);
    await s.commit({ changes: [{ object: acct, meta: { version: 1, createdAtMs: 1 }, writes: [] }], dedup: { object: acct, key: 'old', record: { response: new Uint8Array([1]), expiresAtMs: 5000, fingerprint: new Uint8Array(0) } } });
    expect(await s.getDedup(acct, 'old', 4999)).to.not.equal(undefined);
    expect(await s.getDedup(acct, 'old', 5000)).to.equal(undefined);
    await s.close();
  });

  it('sweeps expired dedup records, oldest first, keeping ones stored again later', async () => {
    const s = await Store.open(dir.path);
    const rec = (expiresAtMs: number, tag: number) => ({ response: new Uint8Array([tag]), expiresAtMs, fingerprint: new Uint8Array(0) });
    await s.commit({ changes: [{ object: acct, meta: { version: 1, createdAtMs: 1 }, writes: [] }], dedup: { object: acct, key: 'a', record: rec(1000, 1) } });
    await s.commit({ changes: [{ object: acct, meta: { version: 2, createdAtMs: 1 }, writes: [] }], dedup: { object: acct, key: 'b', record: rec(2000, 2) } });
    await s.commit({ changes: [{ object: acct, meta: { version: 3, createdAtMs: 1 }, writes: [] }], dedup: { object: acct, key: 'c', record: rec(9000, 3) } });
    // 'a' used again after it expired: a new record with a later expiry
    await s.commit({ changes: [{ object: acct, meta: { version: 4, createdAtMs: 1 }, writes: [] }], dedup: { object: acct, key: 'a', record: rec(8000, 4) } });
    expect(await s.sweepExpiredDedup(500)).to.equal(0);
    expect(await s.sweepExpiredDedup(2500)).to.equal(1); // 'b'; the stale index entry of 'a' goes, the record stays
    expect(await s.getDedup(acct, 'b', 0)).to.equal(undefined);
    expect([...(await s.getDedup(acct, 'a', 0))!.response]).to.deep.equal([4]);
    expect(await s.sweepExpiredDedup(2500)).to.equal(0);
    expect(await s.sweepExpiredDedup(10_000, 1)).to.equal(1); // bounded: one per call
    expect(await s.sweepExpiredDedup(10_000, 1)).to.equal(1);
    expect(await s.getDedup(acct, 'a', 0)).to.equal(undefined);
    expect(await s.getDedup(acct, 'c', 0)).to.equal(undefined);
    await s.close();
  });

  it('keeps two-phase-commit records with the same atomicity, and lists them after a reopen', async () => {
    let s = await Store.open(dir.path);
    await s.commit({ changes: [], txn: [{ kind: 'prepare', txnId: 't1', value: new Uint8Array([1]) }, { kind: 'prepare', txnId: 't2', value: new Uint8Array([2]) }] });
    await s.commit({ changes: [{ object: acct, meta: { version: 1, createdAtMs: 1 }, writes: [['x', encodeJsonValue('1')]] }], txn: [{ kind: 'prepare', txnId: 't1', value: null }, { kind: 'decision', txnId: 't3', value: new Uint8Array([3]) }] });
    await s.close();
    s = await Store.open(dir.path);
    expect((await s.loadTxnRecords('prepare')).map((r) => [r.txnId, [...r.value]])).to.deep.equal([['t2', [2]]]);
    expect((await s.loadTxnRecords('decision')).map((r) => r.txnId)).to.deep.equal(['t3']);
    expect(await s.getTxnRecord('prepare', 't1')).to.equal(undefined);
    expect((await s.loadObject(acct))!.meta.version).to.equal(1);
    await s.close();
  });

  it('groups concurrent commits into fewer durable batches, in order', async () => {
    const s = await Store.open(dir.path);
    const n = 200;
    await Promise.all(Array.from({ length: n }, (_, i) =>
      s.commit({ changes: [{ object: acct, meta: { version: i + 1, createdAtMs: 1 }, writes: [['n', encodeJsonValue(String(i))]] }] })));
    expect(s.commitsWritten).to.equal(n);
    expect(s.batchesWritten).to.be.lessThan(n);
    const o = await s.loadObject(acct);
    expect(o!.meta.version).to.equal(n);
    expect(text(o!.entries.get('n'))).to.equal('\u0001' + String(n - 1));
    await s.close();
  });

  it('resolves an empty commit once what was queued before it is durable', async () => {
    const s = await Store.open(dir.path);
    const order: string[] = [];
    const first = s.commit({ changes: [{ object: acct, meta: { version: 1, createdAtMs: 1 }, writes: [] }] }).then(() => order.push('first'));
    const empty = s.commit({ changes: [] }).then(() => order.push('empty'));
    await Promise.all([first, empty]);
    expect(order).to.deep.equal(['first', 'empty']);
    await s.commit({ changes: [] }); // alone: resolves too
    // and the store keeps working after it
    await s.commit({ changes: [{ object: acct, meta: { version: 2, createdAtMs: 1 }, writes: [] }] });
    expect((await s.loadObject(acct))!.meta.version).to.equal(2);
    await s.close();
  });

  it('finishes queued commits before closing', async () => {
    let s = await Store.open(dir.path);
    const p = s.commit({ changes: [{ object: acct, meta: { version: 7, createdAtMs: 1 }, writes: [] }] });
    await s.close();
    await p;
    s = await Store.open(dir.path);
    expect((await s.loadObject(acct))!.meta.version).to.equal(7);
    await s.close();
  });
});
