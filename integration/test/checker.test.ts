/**
 * The serializability checker must reject every anomaly class (hand-written known-bad histories),
 * accept serializable ones, and hold up on random serial executions with and without injected faults.
 * Pure logic: no cluster.
 */
import { expect } from 'chai';
import { checkHistory, formatReport, type CheckOptions, type CheckResult, type Op, type Txn } from '../src/checker/index.js';

// ---- history builders -------------------------------------------------------------------------
const r = (key: string, value: string | null | string[]): Op => ({ kind: 'read', key, value });
const w = (key: string, value: string): Op => ({ kind: 'write', key, value });
const a = (key: string, value: string): Op => ({ kind: 'append', key, value });
const T = (id: string, ops: Op[], status: Txn['status'] = 'committed', start?: number, end?: number): Txn => ({
  id, ops, status, ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }),
});
const hint = (o: Record<string, string[]>) => new Map(Object.entries(o));
const kinds = (res: CheckResult) => res.anomalies.map((x) => x.kind);

function expectBad(history: Txn[], kind: string, opts: CheckOptions = {}): CheckResult {
  const res = checkHistory(history, opts);
  expect(res.ok, formatReport(res)).to.equal(false);
  expect(kinds(res), formatReport(res)).to.include(kind);
  for (const x of res.anomalies) expect(x.explanation).to.be.a('string').and.not.equal('');
  return res;
}

function expectGood(history: Txn[], opts: CheckOptions = {}): CheckResult {
  const res = checkHistory(history, opts);
  expect(res.ok, formatReport(res)).to.equal(true);
  expect(res.anomalies).to.deep.equal([]);
  return res;
}

// ---- deterministic randomness -----------------------------------------------------------------
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <X>(rand: () => number, xs: readonly X[]): X => xs[Math.floor(rand() * xs.length)]!;
function shuffle<X>(rand: () => number, xs: X[]): X[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

interface SerialOptions {
  txns: number;
  keys: number;
  /** Re-apply one committed append once more at a random point (an exactly-once violation). */
  duplicateAppend?: boolean;
  withStatuses?: boolean;
}

/**
 * A random SERIAL list-append execution against an in-memory store: txns run one at a time, reads
 * record the whole list (copied), aborted txns leave no trace, unknown txns either applied or not.
 * A final committed txn reads every key. Times are serial (start/end strictly ordered).
 */
function serialListHistory(rand: () => number, o: SerialOptions): { history: Txn[]; duplicated?: string } {
  const store = new Map<string, string[]>();
  const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`);
  const history: Txn[] = [];
  const applied: Array<{ key: string; value: string }> = [];
  const dupAt = o.duplicateAppend ? Math.floor(rand() * o.txns) : -1;
  let duplicated: string | undefined;
  let seq = 0;
  for (let i = 0; i < o.txns; i++) {
    const roll = rand();
    const status: Txn['status'] = !o.withStatuses ? 'committed' : roll < 0.1 ? 'aborted' : roll < 0.2 ? 'unknown' : 'committed';
    const apply = status === 'committed' || (status === 'unknown' && rand() < 0.5);
    const view = new Map<string, string[]>(); // the txn's own view: store + its appends
    const ops: Op[] = [];
    const nops = 1 + Math.floor(rand() * 4);
    for (let j = 0; j < nops; j++) {
      const key = pick(rand, keys);
      const cur = view.get(key) ?? [...(store.get(key) ?? [])];
      view.set(key, cur);
      if (rand() < 0.5) ops.push(r(key, [...cur]));
      else {
        const v = `v${seq++}`;
        cur.push(v);
        ops.push(a(key, v));
      }
    }
    if (apply) {
      for (const [k, list] of view) store.set(k, list);
      for (const op of ops) if (op.kind === 'append' && status === 'committed') applied.push({ key: op.key, value: op.value });
    }
    history.push(T(`T${i}`, ops, status, i * 10, i * 10 + 5));
    if (i >= dupAt && dupAt >= 0 && duplicated === undefined && applied.length) {
      const x = pick(rand, applied);
      store.get(x.key)!.push(x.value);
      duplicated = x.value;
    }
  }
  history.push(T('final', keys.map((k) => r(k, [...(store.get(k) ?? [])])), 'committed', o.txns * 10, o.txns * 10 + 5));
  return { history: shuffle(rand, history), ...(duplicated === undefined ? {} : { duplicated }) };
}

/** A random serial register execution; the write log becomes the version-order hint. */
function serialRegisterHistory(rand: () => number, n: number, nkeys: number): { history: Txn[]; order: Map<string, string[]> } {
  const store = new Map<string, string>();
  const log = new Map<string, string[]>();
  const keys = Array.from({ length: nkeys }, (_, i) => `r${i}`);
  const history: Txn[] = [];
  let seq = 0;
  for (let i = 0; i < n; i++) {
    const ops: Op[] = [];
    const mine = new Map<string, string>();
    for (let j = 1 + Math.floor(rand() * 4); j > 0; j--) {
      const key = pick(rand, keys);
      if (rand() < 0.5) ops.push(r(key, mine.get(key) ?? store.get(key) ?? null));
      else {
        const v = `w${seq++}`;
        mine.set(key, v);
        ops.push(w(key, v));
      }
    }
    const aborted = rand() < 0.1;
    if (!aborted) {
      for (const [k, v] of mine) {
        store.set(k, v);
        log.set(k, [...(log.get(k) ?? []), v]);
      }
    }
    history.push(T(`T${i}`, ops, aborted ? 'aborted' : 'committed', i * 10, i * 10 + 5));
  }
  return { history: shuffle(rand, history), order: log };
}

/**
 * A random CONCURRENT list-append execution: up to `concurrency` txns interleave op by op.
 * 'occ' validates the read set at commit (serializable, and strictly so: the commit point lies
 * between start and end); 'si' reads a start-time snapshot and only checks write-write conflicts
 * (first committer wins), which allows write skew (G2-item) and nothing worse.
 */
function concurrentListHistory(rand: () => number, mode: 'occ' | 'si', n: number, nkeys: number, concurrency: number): Txn[] {
  let store = new Map<string, readonly string[]>();
  const keyVersion = new Map<string, number>();
  const keys = Array.from({ length: nkeys }, (_, i) => `k${i}`);
  interface Live { id: string; ops: Op[]; snap: Map<string, readonly string[]>; seen: Map<string, number>; appends: Map<string, string[]>; start: number; left: number }
  const live: Live[] = [];
  const history: Txn[] = [];
  let clock = 0;
  let started = 0;
  let seq = 0;
  const version = (k: string) => keyVersion.get(k) ?? 0;
  while (started < n || live.length) {
    clock++;
    if (started < n && live.length < concurrency && (live.length === 0 || rand() < 0.4)) {
      live.push({ id: `T${started++}`, ops: [], snap: new Map(store), seen: new Map(keys.map((k) => [k, version(k)])), appends: new Map(), start: clock, left: 1 + Math.floor(rand() * 4) });
      continue;
    }
    const i = Math.floor(rand() * live.length);
    const t = live[i]!;
    if (t.left > 0) {
      t.left--;
      const key = pick(rand, keys);
      const own = t.appends.get(key) ?? [];
      if (rand() < 0.5) {
        // OCC reads the latest committed state and remembers its version; SI reads the snapshot.
        const base = mode === 'si' ? t.snap.get(key) ?? [] : store.get(key) ?? [];
        if (mode === 'occ' && !t.ops.some((o) => o.key === key && o.kind === 'read')) t.seen.set(key, version(key));
        t.ops.push(r(key, [...base, ...own]));
      } else {
        const v = `v${seq++}`;
        t.appends.set(key, [...own, v]);
        t.ops.push(a(key, v));
      }
      continue;
    }
    live.splice(i, 1);
    const checked = mode === 'si' ? [...t.appends.keys()] : [...new Set(t.ops.filter((o) => o.kind === 'read').map((o) => o.key))];
    const ok = checked.every((k) => version(k) === t.seen.get(k));
    if (ok) {
      store = new Map(store);
      for (const [k, vs] of t.appends) {
        store.set(k, [...(store.get(k) ?? []), ...vs]);
        keyVersion.set(k, version(k) + 1);
      }
    }
    // Now and then the client never learns the outcome.
    const status: Txn['status'] = rand() < 0.1 ? 'unknown' : ok ? 'committed' : 'aborted';
    history.push(T(t.id, t.ops, status, t.start, clock));
  }
  clock++;
  history.push(T('final', keys.map((k) => r(k, [...(store.get(k) ?? [])])), 'committed', clock, clock + 1));
  return history;
}

type ListRead = { txn: Txn; op: { kind: 'read'; key: string; value: string[] } };
function committedListReads(history: Txn[]): ListRead[] {
  const out: ListRead[] = [];
  for (const txn of history) {
    if (txn.status !== 'committed') continue;
    for (const op of txn.ops) if (op.kind === 'read' && Array.isArray(op.value)) out.push({ txn, op: op as ListRead['op'] });
  }
  return out;
}

/**
 * Faults that must always be caught. Each picks its target so that another committed read pins the
 * original content at the changed position, which is what makes detection certain.
 */
function injectFault(rand: () => number, history: Txn[], fault: 'drop' | 'swap'): boolean {
  const reads = committedListReads(history);
  const candidates: Array<{ read: ListRead; i: number }> = [];
  for (const rd of reads) {
    const list = rd.op.value;
    for (let i = 0; i + 1 < list.length; i++) {
      const pinned = reads.some((o) => o !== rd && o.op.key === rd.op.key && o.op.value.length > i);
      if (pinned) candidates.push({ read: rd, i });
    }
  }
  if (!candidates.length) return false;
  const { read, i } = pick(rand, candidates);
  const list = [...read.op.value];
  if (fault === 'drop') list.splice(i, 1);
  else [list[i], list[i + 1]] = [list[i + 1]!, list[i]!];
  (read.op as { value: string[] }).value = list;
  return true;
}

// ---- tests --------------------------------------------------------------------------------------
describe('serializability checker', () => {
  describe('rejects known-bad histories', () => {
    it('G0: write cycle (registers with a version order, and list-append)', () => {
      const reg = expectBad(
        [T('T1', [w('x', '1'), w('y', '1')]), T('T2', [w('x', '2'), w('y', '2')])],
        'G0',
        { versionOrder: hint({ x: ['1', '2'], y: ['2', '1'] }) },
      );
      expect(reg.anomalies[0]!.cycle!.map((s) => s.edge)).to.deep.equal(['ww', 'ww']);
      expectBad(
        [T('T1', [a('x', '1'), a('y', '1')]), T('T2', [a('x', '2'), a('y', '2')]), T('T3', [r('x', ['1', '2']), r('y', ['2', '1'])])],
        'G0',
      );
    });

    it('G1a: aborted read', () => {
      const res = expectBad([T('T1', [w('x', '1')], 'aborted'), T('T2', [r('x', '1')])], 'G1a');
      expect(res.anomalies[0]!.explanation).to.match(/T2 read x="1", written by T1, which aborted/);
      expectBad([T('T1', [a('x', '1')], 'aborted'), T('T2', [r('x', ['1'])])], 'G1a');
    });

    it('G1b: intermediate read', () => {
      expectBad([T('T1', [w('x', '1'), w('x', '2')]), T('T2', [r('x', '1')])], 'G1b');
      expectBad([T('T1', [a('x', '1'), a('x', '2')]), T('T2', [r('x', ['1'])])], 'G1b');
    });

    it('G1c: circular information flow', () => {
      const res = expectBad(
        [T('T1', [w('x', '1'), r('y', '2')]), T('T2', [w('y', '2'), r('x', '1')])],
        'G1c',
      );
      expect(res.anomalies.map((x) => x.kind)).to.deep.equal(['G1c']);
      expect(res.anomalies[0]!.cycle!.map((s) => s.edge)).to.deep.equal(['wr', 'wr']);
    });

    it('G-single: read skew', () => {
      const res = expectBad(
        [
          T('T0', [a('x', 'x0'), a('y', 'y0')]),
          T('T1', [r('x', ['x0']), r('y', ['y0', 'y2'])]),
          T('T2', [a('x', 'x2'), a('y', 'y2')]),
          T('T3', [r('x', ['x0', 'x2']), r('y', ['y0', 'y2'])]),
        ],
        'G-single',
      );
      const edges = res.anomalies.find((x) => x.kind === 'G-single')!.cycle!.map((s) => s.edge).sort();
      expect(edges).to.deep.equal(['rw', 'wr']);
      expect(res.anomalies[0]!.explanation).to.match(/T1 read x up to "x0" and T2 appended the next element "x2"/);
    });

    it('OTV: observed transaction vanishes (a G-single)', () => {
      expectBad(
        [
          T('T1', [w('x', 'x1'), w('y', 'y1')]),
          T('T2', [w('x', 'x2'), w('y', 'y2')]),
          T('T3', [r('x', 'x1'), r('y', 'y2')]),
        ],
        'G-single',
        { versionOrder: hint({ x: ['x1', 'x2'], y: ['y1', 'y2'] }) },
      );
    });

    it('G2-item: write skew', () => {
      const res = expectBad(
        [
          T('T1', [r('x', []), r('y', []), a('x', '1')]),
          T('T2', [r('x', []), r('y', []), a('y', '2')]),
          T('T3', [r('x', ['1']), r('y', ['2'])]),
        ],
        'G2-item',
      );
      expect(kinds(res)).to.not.include('lost-update');
      expect(res.anomalies[0]!.cycle!.map((s) => s.edge)).to.deep.equal(['rw', 'rw']);
      // the same with registers and a version-order hint
      expectBad(
        [T('T1', [r('x', null), r('y', null), w('x', '1')]), T('T2', [r('x', null), r('y', null), w('y', '2')])],
        'G2-item',
        { versionOrder: hint({ x: ['1'], y: ['2'] }) },
      );
    });

    it('G2: anti-dependency cycle over three txns (predicate-free registers)', () => {
      const res = expectBad(
        [
          T('T1', [r('x', null), w('y', 'y1')]),
          T('T2', [r('y', null), w('z', 'z2')]),
          T('T3', [r('z', null), w('x', 'x3')]),
        ],
        'G2-item',
        { versionOrder: hint({ x: ['x3'], y: ['y1'], z: ['z2'] }) },
      );
      const c = res.anomalies[0]!.cycle!;
      expect(c).to.have.length(3);
      expect(c.every((s) => s.edge === 'rw')).to.equal(true);
    });

    it('P4 lost update: without any version order, and with list-append', () => {
      expectBad(
        [T('T0', [w('x', '0')]), T('T1', [r('x', '0'), w('x', '1')]), T('T2', [r('x', '0'), w('x', '2')])],
        'lost-update',
      );
      const res = expectBad(
        [
          T('T1', [r('x', ['0']), a('x', '1')]),
          T('T2', [r('x', ['0']), a('x', '2')]),
          T('T0', [a('x', '0')]),
          T('T3', [r('x', ['0', '1', '2'])]),
        ],
        'lost-update',
      );
      expect(kinds(res)).to.include('G-single');
      expect(res.anomalies.find((x) => x.kind === 'lost-update')!.txns.sort()).to.deep.equal(['T1', 'T2']);
    });

    it('duplicate append: an element applied twice (exactly-once violation)', () => {
      const res = expectBad([T('T1', [a('x', 'e1')]), T('T2', [a('x', 'e2')]), T('T3', [r('x', ['e1', 'e2', 'e1'])])], 'duplicate-append');
      expect(res.anomalies[0]!.explanation).to.match(/twice/);
    });

    it('a read of a value nobody wrote', () => {
      expectBad([T('T1', [w('x', '1')]), T('T2', [r('x', 'ghost')])], 'garbage-read');
      expectBad([T('T1', [a('x', '1')]), T('T2', [r('x', ['1', 'ghost'])])], 'garbage-read');
    });

    it('inconsistent list prefixes', () => {
      expectBad(
        [T('T1', [a('x', '1')]), T('T2', [a('x', '2')]), T('T3', [r('x', ['1', '2'])]), T('T4', [r('x', ['2'])])],
        'inconsistent-prefix',
      );
      expectBad([T('T1', [a('x', '1')]), T('T2', [r('x', ['1'])])], 'inconsistent-prefix', { versionOrder: hint({ x: ['2', '1'] }) });
    });

    it('internal inconsistency: a txn does not see its own writes', () => {
      expectBad([T('T1', [w('x', '1'), r('x', null)])], 'internal');
      expectBad([T('T1', [a('x', '1'), r('x', [])])], 'internal');
      expectBad([T('T0', [a('x', '0')]), T('T1', [r('x', []), a('x', '1'), r('x', ['0', '1'])])], 'internal');
      expectBad([T('T0', [w('x', '0')]), T('T1', [r('x', null), r('x', '0')])], 'internal');
    });

    it('non-unique values and malformed histories', () => {
      expectBad([T('T1', [w('x', '1')]), T('T2', [w('x', '1')])], 'duplicate-write');
      expectBad([T('T1', [a('x', '1')]), T('T2', [a('x', '1')])], 'duplicate-write');
      expectBad([T('T1', [w('x', '1')]), T('T1', [r('x', '1')])], 'invalid-history');
      expectBad([T('T1', [w('x', '1'), a('x', '2')])], 'invalid-history');
      expectBad([T('T1', [w('x', '1')])], 'invalid-history', { versionOrder: hint({ x: ['1', 'nobody'] }) });
    });

    it('unknown txns count when observed, are dropped otherwise', () => {
      // T2's outcome is unknown, but T3 saw its write: it committed, and the cycle is real.
      const res = expectBad(
        [T('T1', [w('x', '1'), r('y', '2')]), T('T2', [w('y', '2'), r('x', '1')], 'unknown'), T('T3', [r('y', '2')])],
        'G1c',
      );
      expect(res.stats.promoted).to.equal(1);
      const ok = expectGood([T('T1', [w('x', '1')]), T('T2', [w('x', '2'), r('y', 'nope')], 'unknown'), T('T3', [r('x', '1')])]);
      expect(ok.stats).to.include({ dropped: 1, txns: 2 });
    });

    it('formatReport names the anomaly and walks the cycle', () => {
      const res = checkHistory([T('T1', [w('x', '1'), r('y', '2')]), T('T2', [w('y', '2'), r('x', '1')])]);
      const text = formatReport(res);
      expect(text).to.match(/\[G1c\] G1c cycle T\d -> T\d -> T\d/);
      expect(text).to.match(/T1 -wr\(x\)-> T2: T2 read x="1", written by T1/);
    });
  });

  describe('accepts serializable histories', () => {
    it('serial histories (registers, lists, aborted and read-only txns)', () => {
      expectGood([
        T('T1', [r('x', null), w('x', '1')]),
        T('T2', [r('x', '1'), w('x', '2'), r('x', '2')]),
        T('T3', [w('y', 'y'), r('x', '2')], 'aborted'),
        T('T4', [r('x', '2'), r('y', null)]),
      ]);
      expectGood(
        [T('T1', [a('x', '1'), r('x', ['1'])]), T('T2', [r('x', ['1']), a('x', '2'), r('x', ['1', '2'])]), T('T3', [r('x', ['1', '2'])])],
        { realtime: true },
      );
    });

    it('concurrent non-conflicting txns', () => {
      expectGood(
        [T('T1', [a('x', '1'), r('x', ['1'])], 'committed', 0, 100), T('T2', [a('y', '2'), r('y', ['2'])], 'committed', 10, 90), T('T3', [r('z', [])], 'committed', 5, 50)],
        { realtime: true },
      );
    });

    it('reads of a consistent (stale but valid) prefix', () => {
      expectGood([
        T('T1', [a('x', '1')]),
        T('T2', [a('x', '2')]),
        T('T3', [r('x', ['1'])]),
        T('T4', [r('x', [])]),
        T('T5', [r('x', ['1', '2']), a('x', '3')]),
        T('T6', [r('x', ['1', '2', '3'])]),
      ]);
    });

    it('a stale read after a completed write is serializable, but not strictly (realtime only)', () => {
      const history = [
        T('T1', [a('x', '1')], 'committed', 0, 10),
        T('T2', [r('x', [])], 'committed', 20, 30),
        T('T3', [r('x', ['1'])], 'committed', 40, 50),
      ];
      expectGood(history);
      const res = expectBad(history, 'G-single-realtime', { realtime: true });
      expect(res.anomalies[0]!.cycle!.map((s) => s.edge).sort()).to.deep.equal(['rt', 'rw']);
      // an unknown writer may have committed late: no real-time edge out of it
      expectGood([T('T1', [a('x', '1')], 'unknown', 0, 10), ...history.slice(1)], { realtime: true });
    });
  });

  describe('randomized', () => {
    it('random serial list-append executions always pass (also strictly)', () => {
      for (let seed = 1; seed <= 150; seed++) {
        const rand = rng(seed);
        const { history } = serialListHistory(rand, { txns: 20 + Math.floor(rand() * 60), keys: 1 + Math.floor(rand() * 5), withStatuses: true });
        const res = checkHistory(history, { realtime: true });
        expect(res.ok, `seed ${seed}\n${formatReport(res)}`).to.equal(true);
      }
    });

    it('random serial register executions with a version-order log always pass (also strictly)', () => {
      for (let seed = 1; seed <= 150; seed++) {
        const rand = rng(1000 + seed);
        const { history, order } = serialRegisterHistory(rand, 20 + Math.floor(rand() * 60), 1 + Math.floor(rand() * 5));
        for (const opts of [{ versionOrder: order, realtime: true }, {}]) {
          const res = checkHistory(history, opts);
          expect(res.ok, `seed ${seed}\n${formatReport(res)}`).to.equal(true);
        }
      }
    });

    it('random concurrent OCC executions pass, strictly', () => {
      for (let seed = 1; seed <= 100; seed++) {
        const rand = rng(2000 + seed);
        const history = concurrentListHistory(rand, 'occ', 40 + Math.floor(rand() * 80), 1 + Math.floor(rand() * 4), 2 + Math.floor(rand() * 6));
        const res = checkHistory(history, { realtime: true });
        expect(res.ok, `seed ${seed}\n${formatReport(res)}`).to.equal(true);
      }
    });

    it('random snapshot-isolation executions show write skew (G2-item) and nothing stronger', () => {
      let skewed = 0;
      for (let seed = 1; seed <= 100; seed++) {
        const rand = rng(3000 + seed);
        const history = concurrentListHistory(rand, 'si', 40 + Math.floor(rand() * 80), 2 + Math.floor(rand() * 3), 2 + Math.floor(rand() * 6));
        const res = checkHistory(history);
        expect([...new Set(kinds(res))].filter((k) => k !== 'G2-item'), `seed ${seed}\n${formatReport(res)}`).to.deep.equal([]);
        if (!res.ok) skewed++;
      }
      expect(skewed).to.be.greaterThan(10);
    });

    for (const fault of ['drop', 'swap'] as const) {
      it(`a ${fault === 'drop' ? 'dropped element' : 'swap of two elements'} in a read is always caught`, () => {
        let injected = 0;
        for (let seed = 1; seed <= 150; seed++) {
          const rand = rng(5000 + seed);
          const { history } = serialListHistory(rand, { txns: 20 + Math.floor(rand() * 40), keys: 1 + Math.floor(rand() * 4), withStatuses: true });
          if (!injectFault(rand, history, fault)) continue;
          injected++;
          const res = checkHistory(history);
          expect(res.ok, `seed ${seed}`).to.equal(false);
          expect(kinds(res), `seed ${seed}\n${formatReport(res)}`).to.include('inconsistent-prefix');
        }
        expect(injected).to.be.greaterThan(100);
      });
    }

    it('a duplicated append is always caught', () => {
      for (let seed = 1; seed <= 150; seed++) {
        const rand = rng(9000 + seed);
        const { history, duplicated } = serialListHistory(rand, { txns: 20 + Math.floor(rand() * 40), keys: 1 + Math.floor(rand() * 4), duplicateAppend: true });
        expect(duplicated).to.be.a('string');
        const res = checkHistory(history);
        expect(kinds(res), `seed ${seed}\n${formatReport(res)}`).to.include('duplicate-append');
      }
    });
  });

  describe('scale', () => {
    it('a 20,000-txn serial history checks in well under 10 s', function () {
      this.timeout(60_000);
      const { history } = serialListHistory(rng(42), { txns: 20_000, keys: 200, withStatuses: true });
      const t0 = performance.now();
      const res = checkHistory(history, { realtime: true });
      const ms = performance.now() - t0;
      expect(res.ok, formatReport(res)).to.equal(true);
      expect(res.stats.txns).to.be.greaterThan(16_000);
      expect(ms).to.be.lessThan(10_000);
    });

    it('a 30,000-txn wr cycle is found without blowing the stack', function () {
      this.timeout(60_000);
      const n = 30_000;
      const history = Array.from({ length: n }, (_, i) => T(`T${i}`, [r(`k${(i + n - 1) % n}`, `v${(i + n - 1) % n}`), w(`k${i}`, `v${i}`)]));
      const res = checkHistory(history);
      expect(kinds(res)).to.deep.equal(['G1c']);
      expect(res.anomalies[0]!.cycle).to.have.length(n);
    });
  });
});
