/** The register linearizability checker (src/linearizability.ts) on known-good and known-bad histories. */
import { expect } from 'chai';
import { checkRegister, type RegisterOp } from '../src/linearizability.js';

const w = (id: string, value: string, start: number, end?: number): RegisterOp => ({ id, kind: 'write', value, start, ...(end !== undefined ? { end } : {}) });
const r = (id: string, value: string | null, start: number, end: number): RegisterOp => ({ id, kind: 'read', value, start, end });

describe('register linearizability checker', () => {
  it('accepts a sequential history and reads of the initial value', () => {
    const res = checkRegister([r('r0', null, 0, 1), w('w1', 'a', 2, 3), r('r1', 'a', 4, 5), w('w2', 'b', 6, 7), r('r2', 'b', 8, 9)]);
    expect(res.ok).to.equal(true);
  });

  it('accepts overlapping operations in either order', () => {
    // w2 may take effect before w1 (they overlap): r1 sees b, then w1 lands, r2 sees a.
    expect(checkRegister([w('w1', 'a', 0, 10), w('w2', 'b', 5, 30), r('r1', 'b', 8, 12), r('r2', 'a', 11, 20)]).ok).to.equal(true);
    expect(checkRegister([w('w1', 'a', 0, 10), w('w2', 'b', 5, 30), r('r1', 'a', 8, 12), r('r2', 'b', 11, 20)]).ok).to.equal(true);
  });

  it('rejects a stale read: a write that finished before the read began is missing', () => {
    const res = checkRegister([w('w1', 'a', 0, 10), w('w2', 'b', 20, 30), r('r1', 'a', 40, 50)]);
    expect(res.ok).to.equal(false);
    if (!res.ok) expect(res.reason).to.contain('r1');
  });

  it('rejects a read of a value written only after the read ended', () => {
    expect(checkRegister([r('r1', 'a', 0, 10), w('w1', 'a', 20, 30)]).ok).to.equal(false);
  });

  it('rejects a read of a value nobody wrote', () => {
    expect(checkRegister([w('w1', 'a', 0, 10), r('r1', 'zzz', 20, 30)]).ok).to.equal(false);
  });

  it('rejects a value that comes back after a newer one was seen (no write brings it back)', () => {
    expect(checkRegister([w('w1', 'a', 0, 5), w('w2', 'b', 6, 50), r('r1', 'b', 10, 20), r('r2', 'a', 30, 40)]).ok).to.equal(false);
  });

  it('lets a write with an unknown outcome take effect late, or never', () => {
    // w2 timed out: seen by r1 (took effect), or not seen at all (never took effect): both fine.
    expect(checkRegister([w('w1', 'a', 0, 5), w('w2', 'b', 6), r('r1', 'b', 100, 110)]).ok).to.equal(true);
    expect(checkRegister([w('w1', 'a', 0, 5), w('w2', 'b', 6), r('r1', 'a', 100, 110)]).ok).to.equal(true);
    // ...but once seen, it cannot be unseen.
    expect(checkRegister([w('w1', 'a', 0, 5), w('w2', 'b', 6), r('r1', 'b', 10, 20), r('r2', 'a', 30, 40)]).ok).to.equal(false);
  });

  it('handles a few hundred operations', () => {
    const ops: RegisterOp[] = [];
    let t = 0;
    let value: string | null = null;
    for (let i = 0; i < 400; i++) {
      // Four clients, overlapping pairs; reads see the value as of their start (a valid history).
      const start = t;
      t += 3;
      if (i % 3 === 0) {
        value = `v${i}`;
        ops.push(w(`w${i}`, value, start, start + 2));
      } else {
        ops.push(r(`r${i}`, value, start, start + 2));
      }
    }
    expect(checkRegister(ops).ok).to.equal(true);
    // One read moved to a stale value deep in the history is found.
    const bad = ops.map((o) => (o.id === 'r301' ? { ...o, value: 'v3' } : o));
    expect(checkRegister(bad).ok).to.equal(false);
  });
});
