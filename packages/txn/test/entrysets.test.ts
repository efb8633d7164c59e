import { expect } from 'chai';
import { EntrySets, EntrySetPolicy, POLICY_DEFAULTS, unchangedSince, type ReadSet } from '../src/index.js';

describe('EntrySets', () => {
  it('coarse: any commit after the stamp invalidates it', () => {
    const s = new EntrySets(5);
    expect(s.unchangedSince(5, 5, ['a'])).to.equal(true);
    s.noteWrites([['b', 1]], 6);
    expect(s.unchangedSince(5, 6, ['a'])).to.equal(false);
    expect(s.count).to.equal(1);
  });

  it('fine: writes of other entries leave a reader valid; its own entries, a scan or an insert of a key it missed do not', () => {
    const s = new EntrySets(5, true);
    s.noteWrites([['b', 1]], 6);
    expect(s.unchangedSince(5, 6, ['a', 'c'])).to.equal(true);
    expect(s.unchangedSince(5, 6, ['a', 'b'])).to.equal(false);
    expect(s.unchangedSince(5, 6, 'all')).to.equal(false);
    s.noteWrites([['missing', null]], 7); // a delete is a write too
    expect(s.unchangedSince(6, 7, ['missing'])).to.equal(false);
    expect(s.count).to.equal(3);
  });

  it('a layout change invalidates every stamp older than the latest commit and keeps newer ones', () => {
    const s = new EntrySets(5, true);
    s.noteWrites([['b', 1]], 6);
    s.relayout(true, 6); // same layout, fresh versions: still safe
    expect(s.unchangedSince(5, 6, ['a'])).to.equal(false);
    expect(s.unchangedSince(6, 6, ['a'])).to.equal(true);
    s.relayout(false, 6);
    s.relayout(true, 6);
    expect(s.unchangedSince(5, 6, ['z'])).to.equal(false);
  });

  it('never validates a stale read, over random histories of commits, splits and merges', () => {
    let seed = 42;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    let validatedAfterOtherWrites = 0;
    for (let run = 0; run < 200; run++) {
      const obj = { version: rand(3), sets: new EntrySets(0, rand(2) === 0) };
      obj.sets.relayout(obj.sets.fine, obj.version);
      const history: Array<{ version: number; keys: string[] }> = [];
      const stamps: Array<{ version: number; entries: ReadSet }> = [];
      for (let step = 0; step < 60; step++) {
        const r = rand(10);
        if (r < 4) {
          const written = keys.filter(() => rand(4) === 0);
          obj.version++;
          obj.sets.noteWrites(written.map((k) => [k, 1] as const), obj.version);
          history.push({ version: obj.version, keys: written });
        } else if (r < 5) {
          obj.sets.relayout(rand(2) === 0, obj.version);
        } else if (r < 8) {
          stamps.push({ version: obj.version, entries: rand(5) === 0 ? 'all' : keys.filter(() => rand(3) === 0) });
        } else {
          for (const st of stamps) {
            const changed = history.some((h) => h.version > st.version && (st.entries === 'all' ? h.keys.length > 0 : h.keys.some((k) => (st.entries as string[]).includes(k))));
            const ok = unchangedSince(obj, st);
            if (changed) expect(ok, `stale stamp @${st.version} validated at ${obj.version}`).to.equal(false);
            if (ok && st.version < obj.version) validatedAfterOtherWrites++;
          }
        }
      }
    }
    // Fine layouts do let readers of untouched entries through (else the check above proves little).
    expect(validatedAfterOtherWrites).to.be.greaterThan(100);
  });
});

describe('EntrySetPolicy', () => {
  const w = POLICY_DEFAULTS.window;

  it('splits when writers wait behind writers of other entries, and not when they share entries', () => {
    const p = new EntrySetPolicy();
    const decisions = Array.from({ length: w }, (_, i) => p.waitedForTurn(false, 1000 + i));
    expect(decisions.slice(0, -1).every((d) => d === undefined)).to.equal(true);
    expect(decisions.at(-1)).to.equal('split');
    const q = new EntrySetPolicy();
    expect(Array.from({ length: 3 * w }, (_, i) => q.waitedForTurn(true, 1000 + i))).to.not.include('split');
  });

  it('forgets waits that are far apart (not one contention episode)', () => {
    const p = new EntrySetPolicy();
    const decisions = Array.from({ length: 2 * w }, (_, i) => p.waitedForTurn(false, 1000 + i * POLICY_DEFAULTS.idleMergeMs));
    expect(decisions).to.not.include('split');
  });

  it('merges when split writers mostly abort on shared entries, or stop overlapping; stays split while they overlap cleanly or abort now and then', () => {
    const aborting = new EntrySetPolicy();
    expect(Array.from({ length: w }, (_, i) => aborting.attempted(true, i % 8 !== 0, 1000 + i)).at(-1)).to.equal('merge');
    const half = new EntrySetPolicy(); // fine still beats one writer at a time here (bench: 60 % aborts)
    expect(Array.from({ length: 3 * w }, (_, i) => half.attempted(true, i % 5 < 3, 1000 + i))).to.not.include('merge');
    const alone = new EntrySetPolicy();
    expect(Array.from({ length: w }, (_, i) => alone.attempted(false, false, 1000 + i)).at(-1)).to.equal('merge');
    const clean = new EntrySetPolicy();
    expect(Array.from({ length: 3 * w }, (_, i) => clean.attempted(true, i % 10 === 0, 1000 + i))).to.not.include('merge');
  });

  it('merges a split object after a quiet spell', () => {
    const p = new EntrySetPolicy();
    p.attempted(true, false, 1000);
    expect(p.starting(1000 + POLICY_DEFAULTS.idleMergeMs - 1)).to.equal(undefined);
    expect(p.starting(1000 + POLICY_DEFAULTS.idleMergeMs)).to.equal('merge');
    expect(new EntrySetPolicy().starting(99_999)).to.equal(undefined);
  });
});
