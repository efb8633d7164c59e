import { expect } from 'chai';
import { LockTable, commitOcc, validateReads, retryBackoffMs, type ReadStamp } from '../src/index.js';

interface Obj { version: number; value: number }

describe('LockTable', () => {
  it('is a re-entrant try-lock that never waits', () => {
    const t = new LockTable();
    expect(t.tryLock('a', 'tx1')).to.equal(true);
    expect(t.tryLock('a', 'tx1')).to.equal(true);
    expect(t.tryLock('a', 'tx2')).to.equal(false);
    t.unlock('a', 'tx2'); // not the holder: no effect
    expect(t.holder('a')).to.equal('tx1');
    t.unlock('a', 'tx1');
    expect(t.tryLock('a', 'tx2')).to.equal(true);
  });

  it('tells waiters when a key is free again, or gives up after the bound', async () => {
    const t = new LockTable();
    expect(await t.whenFree('a', 10)).to.equal(true);
    t.tryLock('a', 'tx');
    const waiting = t.whenFree('a', 1000);
    t.unlock('a', 'tx');
    expect(await waiting).to.equal(true);
    t.tryLock('b', 'tx');
    expect(await t.whenFree('b', 5)).to.equal(false);
  });

  it('takes all locks or none', () => {
    const t = new LockTable();
    t.tryLock('b', 'other');
    expect(t.tryLockAll(['a', 'b', 'c'], 'tx')).to.equal(false);
    expect(t.holder('a')).to.equal(undefined);
    expect(t.holder('c')).to.equal(undefined);
    expect(t.size).to.equal(1);
  });
});

describe('OCC', () => {
  const store = new Map<string, Obj>();
  const current = (k: string) => store.get(k);
  beforeEach(() => { store.clear(); store.set('x', { version: 3, value: 10 }); });

  function increment(owner: string, read: ReadStamp, seen: number, locks: LockTable) {
    const obj = store.get('x')!;
    return commitOcc({ owner, reads: [read], writes: new Map([['x', obj]]) }, current, locks, (k, _o, v) => {
      store.set(k, { version: v, value: seen + 1 });
    });
  }

  it('rejects the second of two read-modify-writes from the same version (no lost update)', () => {
    const locks = new LockTable();
    const stamp = { key: 'x', version: 3 };
    const seen = store.get('x')!.value;
    expect(increment('t1', stamp, seen, locks)).to.deep.equal({ ok: true });
    expect(increment('t2', stamp, seen, locks)).to.deep.equal({ ok: false, reason: 'VERSION_CHANGED', key: 'x' });
    expect(store.get('x')).to.deep.equal({ version: 4, value: 11 });
    expect(locks.size).to.equal(0);
  });

  it('aborts a reader whose item is locked by another transaction', () => {
    const locks = new LockTable();
    locks.tryLock('x', 'prepared-tx');
    expect(validateReads([{ key: 'x', version: 3 }], current, locks, 'reader')).to.deep.equal({ ok: false, reason: 'LOCKED', key: 'x' });
    expect(increment('t1', { key: 'x', version: 3 }, 10, locks)).to.deep.include({ ok: false, reason: 'LOCKED' });
  });

  it('aborts on a read of an object that vanished', () => {
    expect(validateReads([{ key: 'gone', version: 1 }], current, new LockTable(), 't')).to.deep.equal({ ok: false, reason: 'MISSING', key: 'gone' });
  });

  it('serializes N concurrent increments with retries: the sum is exact', () => {
    const locks = new LockTable();
    // Interleave: every transaction reads, then commits in a shuffled order; losers retry.
    let pending = Array.from({ length: 50 }, (_, i) => `t${i}`);
    let rounds = 0;
    while (pending.length > 0 && rounds < 1000) {
      rounds++;
      const reads = pending.map((t) => ({ t, stamp: { key: 'x', version: store.get('x')!.version }, seen: store.get('x')!.value }));
      const next: string[] = [];
      for (const r of reads.reverse()) if (!increment(r.t, r.stamp, r.seen, locks).ok) next.push(r.t);
      pending = next;
    }
    expect(store.get('x')!.value).to.equal(60);
    expect(store.get('x')!.version).to.equal(53);
  });

  it('backs off exponentially within the cap', () => {
    expect(retryBackoffMs(1, 1, 50, () => 1)).to.equal(1);
    expect(retryBackoffMs(4, 1, 50, () => 1)).to.equal(8);
    expect(retryBackoffMs(20, 1, 50, () => 1)).to.equal(50);
    expect(retryBackoffMs(3, 1, 50, () => 0)).to.equal(0);
  });
});
