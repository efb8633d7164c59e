/**
 * Hermitage (github.com/ept/hermitage) on a real cluster: one test per anomaly, each a workload of
 * concurrent ctx.invoke chains (one chain = one transaction) that would show the anomaly without
 * serializability, and assertions on what the calls returned and on the final state that it never
 * shows. Types: fixtures/txntypes.ts (`Reg`).
 *
 * Every test:
 * 1. CONTROL: the same workload with each chain cut into separate calls (the composite is no longer
 *    one transaction) runs on its own fresh objects until the anomaly shows (at most CONTROL_MS).
 *    It must show: that proves the loops create enough contention and the detector can see it. A
 *    control that never shows the anomaly fails the test (a test blind to the anomaly proves nothing).
 * 2. REAL: fresh objects, the chains as single transactions, RUN_MS of concurrent loops, direct
 *    assertions; where written values are unique tokens the history also goes through the
 *    serializability checker (src/checker).
 *
 * Outcomes: TXN_ABORTED (the worker and the client already retried), METHOD_TIMEOUT and the workload's own
 * application errors mean "not applied"; TIMEOUT means "unknown" (assertions allow either); any
 * other error fails the test. Contention comes from many loops on few objects, roots that differ (write turns are per root
 * object, so chains with different roots really run side by side and meet in OCC validation), and
 * a short busy-wait (`pauseMs`) between a chain's reads and its writes.
 *
 * Placement: each suite runs twice, with every object on one worker ('one-worker': one commit
 * record) and with objects round-robin over the workers ('across-workers': two-phase commit).
 * LAMBDASTORE_LONG=1 runs each workload for 10 s instead of 2 s.
 */
import { expect } from 'chai';
import type { ClusterConfig, LambdaStoreError } from '@lambdastore/client';
import { startTestCluster, fixture, placeObjects, type Spread, type TestCluster } from '../src/cluster.js';
import { checkHistory, formatReport, type Op, type Txn } from '../src/checker/index.js';
import type { Step } from '../fixtures/txntypes.js';


const SPREADS: Spread[] = ['one-worker', 'across-workers'];
const RUN_MS = process.env.LAMBDASTORE_LONG === '1' ? 10_000 : 2_000;
/**
 * A control stops as soon as its anomaly shows (usually within 200 ms), so its cap only matters on
 * a machine that stalls: it is generous so a few seconds of stall do not fail the test.
 */
const CONTROL_MS = 20_000;
const VERBOSE = process.env.LAMBDASTORE_TEST_VERBOSE === '1';
/**
 * Nothing was applied: the transaction gave up after the worker's retries (and the client's), or
 * a method of the chain ran past its time limit (a chain that waits for remote snapshots on a busy
 * machine can) and was aborted before it committed anything.
 */
const ABORTED: readonly string[] = ['TXN_ABORTED', 'METHOD_TIMEOUT'];


/** What Reg.readThenWrite returns. */
type ReadThenWrite = { reads: unknown[]; prev: unknown[] };

type Outcome<T> =
  | { status: 'committed'; value: T }
  | { status: 'aborted'; code: string }
  | { status: 'unknown'; code: string };

const pick = <X>(xs: readonly X[]): X => xs[Math.floor(Math.random() * xs.length)]!;
const others = <X>(xs: readonly X[], x: X): X[] => xs.filter((y) => y !== x);
const sum = (xs: readonly unknown[]) => xs.reduce<number>((a, b) => a + Number(b ?? 0), 0);
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** How much longer than its `ms` a workload may run to reach `enough` (a slow, busy machine). */
const ENOUGH_GRACE_MS = 30_000;

/**
 * Runs `n` concurrent loops of `body` until `ms` passed or `done()` holds; past `ms` it goes on
 * (up to ENOUGH_GRACE_MS more) while `enough()` does not hold yet, so a busy machine makes the test
 * slower rather than too thin to mean anything. A body that throws stops every loop; its error is
 * rethrown once all have stopped, so no loop outlives its test.
 */
async function loops(n: number, ms: number, body: (loop: number) => Promise<void>, done: () => boolean = () => false, enough: () => boolean = () => true): Promise<void> {
  const start = Date.now();
  const running = () => { const t = Date.now() - start; return t < ms || (t < ms + ENOUGH_GRACE_MS && !enough()); };
  let failure: { err: unknown } | undefined;
  await Promise.all(Array.from({ length: n }, async (_, loop) => {
    while (!failure && !done() && running()) {
      try {
        await body(loop);
      } catch (err) {
        failure ??= { err };
      }
    }
  }));
  if (failure) throw failure.err;
}

/** Fails with the first few entries and the count when `list` is not empty. */
function expectNone(list: readonly string[], what: string): void {
  expect(list.slice(0, 5), `${list.length} × ${what}`).to.deep.equal([]);
}

/**
 * Negative control: `run` drives the split (non-transactional) workload until the anomaly shows or
 * CONTROL_MS pass, and returns how often it showed. Zero fails the test with `ifNever`.
 */
async function control(ifNever: string, run: () => Promise<number>): Promise<void> {
  const t0 = Date.now();
  const before = { ...outcomes };
  const shown = await run();
  if (VERBOSE) console.log(`      control: anomaly shown ${shown}x after ${Date.now() - t0} ms`);
  // What the calls did meanwhile tells a workload too tame to show the anomaly from a stalled cluster.
  const during = Object.entries(outcomes).map(([k, n]) => `${k} ${n - (before[k] ?? 0)}`).filter((e) => !e.endsWith(' 0')).join(', ');
  expect(shown, `control: ${ifNever} within ${Date.now() - t0} ms (calls meanwhile: ${during || 'none finished'}): the workload is not contentious enough to prove anything`).to.be.greaterThan(0);
}

/** Every call's outcome so far, by status or error code (for the controls' failure messages). */
const outcomes: Record<string, number> = {};
const count = (what: string): void => { outcomes[what] = (outcomes[what] ?? 0) + 1; };

function expectSerializable(history: Txn[]): void {
  const res = checkHistory(history, { realtime: false, maxAnomaliesPerKind: 10 });
  expect(res.ok, formatReport(res)).to.equal(true);
  if (VERBOSE) console.log(`      checker: ${res.stats.txns} txns, ${res.stats.edges} edges`);
}

describe('Hermitage anomalies cannot happen (concurrent ctx.invoke chains)', function () {
  this.timeout(120_000);
  let t: TestCluster;
  let cfg: ClusterConfig;
  let seq = 0;
  /** A globally unique token (register values must be unique for the checker). */
  const token = (tag: string) => `${tag}-${++seq}`;

  before(async () => {
    t = await startTestCluster();
    await t.client.deployFile(fixture('txntypes.ts'));
    cfg = await t.client.config();
  });
  after(async () => { await t?.stop(); });

  /**
   * One call. TXN_ABORTED and `appCodes` are definite failures ('aborted'), TIMEOUT is 'unknown',
   * anything else fails the test.
   */
  async function call<T = unknown>(id: string, method: string, args: unknown[], appCodes: readonly string[] = []): Promise<Outcome<T>> {
    try {
      const value = (await t.client.invoke('Reg', id, method, args)) as T;
      count('committed');
      return { status: 'committed', value };
    } catch (err) {
      const code = (err as LambdaStoreError).code;
      count(code);
      if (ABORTED.includes(code) || appCodes.includes(code)) return { status: 'aborted', code };
      if (code === 'TIMEOUT') return { status: 'unknown', code };
      throw new Error(`Reg ${id}.${method}(${JSON.stringify(args).slice(0, 200)}) failed unexpectedly: ${code}: ${(err as Error).message}`);
    }
  }
  /** A call that must commit (set-up and final reads). */
  async function must<T = unknown>(id: string, method: string, args: unknown[] = []): Promise<T> {
    try {
      return (await t.client.invoke('Reg', id, method, args, { timeoutMs: 30_000 })) as T;
    } catch (err) {
      throw new Error(`Reg ${id}.${method}(${JSON.stringify(args).slice(0, 200)}), which must succeed, failed: ${(err as LambdaStoreError).code}: ${(err as Error).message}`);
    }
  }

  for (const spread of SPREADS) {
    describe(`objects ${spread}`, () => {
      const tagOf = (tag: string) => `${tag}${spread === 'one-worker' ? 'o' : 'x'}`;
      /** Fresh Reg objects placed `spread`, created with the given initial values (default null). */
      async function fresh(tag: string, n: number, init: (i: number) => unknown = () => null): Promise<string[]> {
        const ids = placeObjects(cfg, 'Reg', n, spread, tagOf(tag));
        await Promise.all(ids.map((id, i) => t.client.create('Reg', id, init(i))));
        return ids;
      }

      /** Register-token workloads: a committed writer records "read prev, write v" per key (rmw). */
      const rmwOps = (writes: Array<[string, string]>, prevs: unknown[]): Op[] =>
        writes.flatMap(([k, v], i) => [{ kind: 'read', key: k, value: str(prevs[i]) }, { kind: 'write', key: k, value: v }] as Op[]);
      const writeOps = (writes: Array<[string, string]>): Op[] => writes.map(([k, v]) => ({ kind: 'write', key: k, value: v }) as Op);
      const readOps = (ids: string[], values: unknown[]): Op[] => ids.map((k, i) => ({ kind: 'read', key: k, value: str(values[i]) }) as Op);
      function record(history: Txn[], o: Outcome<unknown>, committedOps: () => Op[], intendedOps: Op[]): void {
        const id = `T${history.length}`;
        if (o.status === 'committed') history.push({ id, ops: committedOps(), status: 'committed' });
        else history.push({ id, ops: intendedOps, status: o.status });
      }
      /** A committed read-only observation. */
      const recordRead = (history: Txn[], ids: string[], values: unknown[]) =>
        history.push({ id: `T${history.length}`, ops: readOps(ids, values), status: 'committed' });
      /** A readThenWrite reader: what it read, then "read prev, write v" of its sink register. */
      function recordReadThenWrite(history: Txn[], o: Outcome<ReadThenWrite>, readIds: string[], sink: string, v: string): void {
        const committedOps = () => (o.status === 'committed' ? [...readOps(readIds, o.value.reads), ...rmwOps([[sink, v]], o.value.prev)] : []);
        record(history, o, committedOps, writeOps([[sink, v]]));
      }
      async function finalRead(history: Txn[], ids: string[]): Promise<unknown[]> {
        const values = await must<unknown[]>(ids[0]!, 'readMany', [ids]);
        history.push({ id: 'final', ops: readOps(ids, values), status: 'committed' });
        return values;
      }

      it('G0 write cycles: chains writing x and y in opposite orders, from different roots, never interleave', async () => {
        // Control: each writer writes x and y in two calls; after a round of concurrent writers, x and y
        // come from different writers.
        await control('split writers never left x and y from different writers', async () => {
          const [x, y] = await fresh('g0c', 2);
          let torn = 0;
          const deadline = Date.now() + CONTROL_MS;
          while (torn === 0 && Date.now() < deadline) {
            await Promise.all(Array.from({ length: 6 }, async (_, w) => {
              const v = token('g0c');
              for (const k of w % 2 ? [x!, y!] : [y!, x!]) await call(k, 'write', [v]);
            }));
            const [vx, vy] = await must<unknown[]>(x!, 'readMany', [[x, y]]);
            if (vx !== vy) torn++;
          }
          return torn;
        });

        const [x, y, d0, d1] = await fresh('g0', 4);
        const history: Txn[] = [];
        const bad: string[] = [];
        let rounds = 0;
        let stopReaders = false;
        // Readers run throughout: every read-only chain sees x and y from the same writer.
        const readers = loops(3, RUN_MS + 30_000, async () => {
          const ids = Math.random() < 0.5 ? [x!, y!] : [y!, x!];
          const o = await call<unknown[]>(pick([x!, y!, d0!, d1!]), 'readMany', [ids, 1]);
          if (o.status !== 'committed') return;
          if (o.value[0] !== o.value[1]) bad.push(`read ${ids[0]}=${str(o.value[0])} ${ids[1]}=${str(o.value[1])}`);
          recordRead(history, ids, o.value);
        }, () => stopReaders);
        try {
          const deadline = Date.now() + RUN_MS;
          while (Date.now() < deadline) {
            // A round: 6 concurrent chains, each writing its own token to x and y (order and root random).
            const mine = new Set<string>();
            await Promise.all(Array.from({ length: 6 }, async () => {
              const v = token('g0');
              const writes: Array<[string, string]> = Math.random() < 0.5 ? [[x!, v], [y!, v]] : [[y!, v], [x!, v]];
              const o = await call<unknown[]>(pick([x!, y!, d0!, d1!]), 'writeMany', [writes, 1]);
              if (o.status !== 'aborted') mine.add(v);
              record(history, o, () => rmwOps(writes, o.status === 'committed' ? o.value : []), writeOps(writes));
            }));
            const [vx, vy] = await must<unknown[]>(x!, 'readMany', [[x, y]]);
            if (vx !== vy) bad.push(`after round ${rounds}: x=${str(vx)} y=${str(vy)}`);
            else if (mine.size > 0 && !mine.has(String(vx))) bad.push(`after round ${rounds}: x=y=${str(vx)}, not written in that round`);
            rounds++;
          }
        } finally {
          stopReaders = true;
          await readers;
        }
        const [fx, fy] = await finalRead(history, [x!, y!]);
        expectNone(bad, 'x and y from different transactions');
        expect(fx).to.equal(fy);
        expect(rounds).to.be.at.least(5);
        expect(history.filter((h) => h.status === 'committed').length).to.be.at.least(30);
        expectSerializable(history);
      });

      it('G1a aborted reads: writes of chains that fail (in the root or in a callee) are never seen', async () => {
        const readerBody = (x: string, y: string, sink: string, seen: (v: unknown, how: string) => void, history?: Txn[]) => async () => {
          const mode = pick(['x', 'y', 'chain', 'rw'] as const);
          if (mode === 'x' || mode === 'y') {
            const k = mode === 'x' ? x : y;
            const o = await call(k, 'read', []);
            if (o.status === 'committed') {
              seen(o.value, `read ${k}`);
              if (history) recordRead(history, [k], [o.value]);
            }
          } else if (mode === 'chain') {
            const o = await call<unknown[]>(pick([x, y, sink]), 'readMany', [[x, y]]);
            if (o.status === 'committed') {
              o.value.forEach((v) => seen(v, 'readMany'));
              if (history) recordRead(history, [x, y], o.value);
            }
          } else {
            const v = token('g1a-sink');
            const o = await call<ReadThenWrite>(pick([x, y, sink]), 'readThenWrite', [[x, y], [[sink, v]]]);
            if (o.status === 'committed') o.value.reads.forEach((r) => seen(r, 'readThenWrite'));
            if (history) recordReadThenWrite(history, o, [x, y], sink, v);
          }
        };

        // Control: the "abort" done by hand (write the token, then overwrite it): readers catch it.
        await control('readers never saw a short-lived value', async () => {
          const [x, y, sink] = await fresh('g1ac', 3);
          let caught = 0;
          const seen = (v: unknown) => { if (String(v).startsWith('g1ac-abort')) caught++; };
          await loops(6, CONTROL_MS, async (loop) => {
            if (loop < 2) {
              await call(x!, 'write', [token('g1ac-abort')]);
              await call(x!, 'write', [token('g1ac-ok')]);
            } else await readerBody(x!, y!, sink!, seen)();
          }, () => caught > 0);
          return caught;
        });

        const [x, y, d, sink] = await fresh('g1a', 4);
        const history: Txn[] = [];
        const bad: string[] = [];
        const stats = { aborted: 0, reads: 0 };
        const seen = (v: unknown, how: string) => {
          stats.reads++;
          if (String(v).includes('-abort-')) bad.push(`${how} saw ${str(v)}`);
        };
        await loops(10, RUN_MS, async (loop) => {
          if (loop < 3) {
            const v = token('g1a-abort');
            const writes: Array<[string, string]> = Math.random() < 0.5 ? [[x!, v], [y!, v]] : [[y!, v], [x!, v]];
            const failIn = pick(['root', 'callee'] as const);
            const o = await call(pick([x!, y!, d!]), 'writeManyThenFail', [writes, failIn, 'ABORT_ON_PURPOSE'], ['ABORT_ON_PURPOSE']);
            if (o.status === 'committed') bad.push(`a chain failing in its ${failIn} committed (returned ${JSON.stringify(o.value)})`);
            else if (o.status === 'aborted') stats.aborted++;
            history.push({ id: `T${history.length}`, ops: writeOps(writes), status: o.status });
          } else if (loop < 5) {
            const v = token('g1a-ok');
            const writes: Array<[string, string]> = [[x!, v], [y!, v]];
            const o = await call<unknown[]>(pick([x!, y!, d!]), 'writeMany', [writes]);
            record(history, o, () => rmwOps(writes, o.status === 'committed' ? o.value : []), writeOps(writes));
          } else {
            await readerBody(x!, y!, sink!, seen, history)();
          }
        }, undefined, () => stats.aborted >= 10 && stats.reads >= 50);
        const finals = await finalRead(history, [x!, y!]);
        finals.forEach((v) => seen(v, 'final read'));
        expectNone(bad, 'aborted write observed');
        expect(stats.aborted).to.be.at.least(10);
        expect(stats.reads).to.be.at.least(50);
        expectSerializable(history);
      });

      it('G1b intermediate reads: a value a chain overwrote later in the same chain is never seen', async () => {
        // Control: x=mid and x=fin in two calls: readers catch mid.
        await control('readers never saw the intermediate value', async () => {
          const [x, y] = await fresh('g1bc', 2);
          let caught = 0;
          await loops(6, CONTROL_MS, async (loop) => {
            if (loop < 2) {
              const v = token('g1bc');
              await call(x!, 'write', [`${v}-mid`]);
              await call(x!, 'write', [`${v}-fin`]);
            } else {
              const o = await call<unknown[]>(pick([x!, y!]), 'readMany', [[x, y]]);
              if (o.status === 'committed' && String(o.value[0]).endsWith('-mid')) caught++;
            }
          }, () => caught > 0);
          return caught;
        });

        const [x, y, d, sink] = await fresh('g1b', 4);
        const history: Txn[] = [];
        const bad: string[] = [];
        let reads = 0;
        const seen = (v: unknown, how: string) => { reads++; if (String(v).endsWith('-mid')) bad.push(`${how} saw ${str(v)}`); };
        await loops(10, RUN_MS, async (loop) => {
          if (loop < 4) {
            // x := mid, y := v, (pause), x := fin, all in one chain from a random root.
            const v = token('g1b');
            const steps: Step[] = [['write', x!, `${v}-mid`], ['write', y!, v], ['spin', 1], ['write', x!, `${v}-fin`]];
            const o = await call<unknown[]>(pick([x!, y!, d!]), 'txn', [steps]);
            if (o.status === 'committed' && o.value[3] !== `${v}-mid`) bad.push(`the chain's own second write of x replaced ${str(o.value[3])}, not its own ${v}-mid`);
            const intended: Op[] = writeOps([[x!, `${v}-mid`], [y!, v], [x!, `${v}-fin`]]);
            record(history, o, () => {
              const r = o.status === 'committed' ? o.value : [];
              return [...rmwOps([[x!, `${v}-mid`], [y!, v]], [r[0], r[1]]), ...rmwOps([[x!, `${v}-fin`]], [r[3]])];
            }, intended);
          } else if (loop < 7) {
            const ids = pick([[x!], [y!], [x!, y!], [y!, x!]]);
            const o = ids.length === 1 ? await call(ids[0]!, 'read', []) : await call<unknown[]>(pick([x!, y!, d!]), 'readMany', [ids, 1]);
            if (o.status !== 'committed') return;
            const values = ids.length === 1 ? [o.value] : (o.value as unknown[]);
            values.forEach((v) => seen(v, 'read'));
            recordRead(history, ids, values);
          } else {
            const v = token('g1b-sink');
            const o = await call<ReadThenWrite>(pick([x!, y!, sink!]), 'readThenWrite', [[x, y], [[sink, v]], 1]);
            if (o.status === 'committed') o.value.reads.forEach((r) => seen(r, 'readThenWrite'));
            recordReadThenWrite(history, o, [x!, y!], sink!, v);
          }
        }, undefined, () => reads >= 50);
        const finals = await finalRead(history, [x!, y!]);
        finals.forEach((v) => seen(v, 'final read'));
        expectNone(bad, 'intermediate value observed');
        expect(reads).to.be.at.least(50);
        expectSerializable(history);
      });

      it('G1c circular information flow: two chains never each see the other\'s write', async () => {
        // T_A writes x then reads y; T_B writes y then reads x. A 2-cycle: A read B's y and B read A's x.
        const cycles = (txns: Map<string, { read: string | null }>) => {
          const found: string[] = [];
          for (const [a, ta] of txns) {
            if (!a.includes('-A') || ta.read === null) continue;
            const tb = txns.get(ta.read);
            if (tb?.read === a) found.push(`${a} read y=${ta.read} and ${ta.read} read x=${a}`);
          }
          return found;
        };
        // Control: the write and the read in two calls.
        await control('split chains never formed a 2-cycle', async () => {
          const [x, y] = await fresh('g1cc', 2);
          const txns = new Map<string, { read: string | null }>();
          let shown = false;
          await loops(6, CONTROL_MS, async (loop) => {
            const a = loop % 2 === 0;
            const v = token(a ? 'g1cc-A' : 'g1cc-B');
            await call(a ? x! : y!, 'write', [v]);
            const o = await call(a ? y! : x!, 'read', []);
            if (o.status === 'committed') txns.set(v, { read: str(o.value) });
            if (txns.size % 16 === 0) shown = cycles(txns).length > 0;
          }, () => shown);
          return cycles(txns).length;
        });

        const [x, y, d0, d1] = await fresh('g1c', 4);
        const history: Txn[] = [];
        const txns = new Map<string, { read: string | null }>();
        await loops(8, RUN_MS, async (loop) => {
          const a = loop % 2 === 0;
          const v = token(a ? 'g1c-A' : 'g1c-B');
          const [w, r] = a ? [x!, y!] : [y!, x!];
          const o = await call<{ prev: unknown[]; reads: unknown[] }>(pick(a ? [x!, d0!] : [y!, d1!]), 'writeThenRead', [[[w, v]], [r], 1]);
          if (o.status === 'committed') txns.set(v, { read: str(o.value.reads[0]) });
          record(history, o, () => o.status === 'committed' ? [...rmwOps([[w, v]], o.value.prev), ...readOps([r], o.value.reads)] : [], writeOps([[w, v]]));
        }, undefined, () => txns.size >= 50);
        await finalRead(history, [x!, y!]);
        expectNone(cycles(txns), 'circular information flow');
        expect(txns.size).to.be.at.least(50);
        expectSerializable(history);
      });

      it('OTV observed transaction vanishes: a chain that saw one write of a transaction sees all of them', async () => {
        // Control: readers read x and y in separate calls.
        await control('split readers never saw two different writers', async () => {
          const [x, y] = await fresh('otvc', 2);
          let torn = 0;
          await loops(6, CONTROL_MS, async (loop) => {
            if (loop < 2) {
              const v = token('otvc');
              await call<unknown[]>(pick([x!, y!]), 'writeMany', [[[x, v], [y, v]]]);
            } else {
              const a = await call(x!, 'read', []);
              const b = await call(y!, 'read', []);
              if (a.status === 'committed' && b.status === 'committed' && a.value !== b.value) torn++;
            }
          }, () => torn > 0);
          return torn;
        });

        const [x, y, d0, d1, sink] = await fresh('otv', 5);
        const history: Txn[] = [];
        const bad: string[] = [];
        let reads = 0;
        await loops(10, RUN_MS, async (loop) => {
          if (loop < 4) {
            // Writers install the same token in x then y (a pause between them).
            const v = token('otv');
            const writes: Array<[string, string]> = [[x!, v], [y!, v]];
            const o = await call<unknown[]>(pick([x!, y!, d0!, d1!]), 'writeMany', [writes, 1]);
            record(history, o, () => rmwOps(writes, o.status === 'committed' ? o.value : []), writeOps(writes));
          } else if (loop < 8) {
            // Readers read x, y, x, y with pauses: all four from one writer.
            const ids = [x!, y!, x!, y!];
            const o = await call<unknown[]>(pick([x!, y!, d0!, d1!]), 'readMany', [ids, 1]);
            if (o.status !== 'committed') return;
            reads++;
            if (new Set(o.value).size !== 1) bad.push(`read x,y,x,y = ${o.value.map(str).join(',')}`);
            recordRead(history, ids.slice(0, 2), o.value);
          } else {
            // Read-write chains too (validated, not just re-read).
            const v = token('otv-sink');
            const o = await call<ReadThenWrite>(pick([x!, y!, sink!]), 'readThenWrite', [[x, y], [[sink, v]], 1]);
            if (o.status === 'committed') {
              reads++;
              if (o.value.reads[0] !== o.value.reads[1]) bad.push(`readThenWrite saw x=${str(o.value.reads[0])} y=${str(o.value.reads[1])}`);
            }
            recordReadThenWrite(history, o, [x!, y!], sink!, v);
          }
        }, undefined, () => reads >= 50);
        const [fx, fy] = await finalRead(history, [x!, y!]);
        expectNone(bad, 'a transaction half seen');
        expect(fx).to.equal(fy);
        expect(reads).to.be.at.least(50);
        expectSerializable(history);
      });

      it('PMP predicate-many-preceders: a predicate read (ctx.scan over item sets) agrees with the item counter and with itself', async () => {
        // Inserters add an item to a set and count it, removers remove a matching item and uncount it,
        // each in one chain; readers read the counter, then scan every set, then scan the first again.
        let key = 0;
        const insert = (sets: string[], c: string, roots: string[]) =>
          call(pick(roots), 'insertCounted', [pick(sets), `k${++key}`, key, c, 1], ['ITEM_EXISTS']);
        const remove = (sets: string[], c: string, roots: string[]) =>
          call<string>(pick(roots), 'removeCounted', [pick(sets), 1, c, 1], ['EMPTY']);
        // Control: the reader's counter and scans in separate calls.
        await control('split readers never saw the counter disagree with the sets', async () => {
          const [s0, s1, s2, c] = await fresh('pmpc', 4, (i) => (i === 3 ? 0 : null));
          const sets = [s0!, s1!, s2!];
          let torn = 0;
          await loops(8, CONTROL_MS, async (loop) => {
            if (loop < 4) await insert(sets, c!, sets);
            else if (loop < 6) await remove(sets, c!, sets);
            else {
              const n = await call<number>(c!, 'read', []);
              let total = 0;
              for (const s of sets) {
                const o = await call<unknown[]>(s, 'items', [1]);
                if (o.status === 'committed') total += o.value.length;
              }
              if (n.status === 'committed' && n.value !== total) torn++;
            }
          }, () => torn > 0);
          return torn;
        });

        const [s0, s1, s2, c, d0, d1] = await fresh('pmp', 6, (i) => (i === 3 ? 0 : null));
        const sets = [s0!, s1!, s2!];
        const bad: string[] = [];
        const n = { inserted: 0, removed: 0, unknown: 0, empty: 0, reads: 0 };
        await loops(10, RUN_MS, async (loop) => {
          if (loop < 4) {
            const o = await insert(sets, c!, [...sets, d0!, d1!]);
            if (o.status === 'committed') n.inserted++;
            else if (o.status === 'unknown') n.unknown++;
          } else if (loop < 6) {
            const o = await remove(sets, c!, [...sets, d0!, d1!]);
            if (o.status === 'committed') n.removed++;
            else if (o.status === 'unknown') n.unknown++;
            else if (o.code === 'EMPTY') n.empty++;
          } else {
            const o = await call<{ count: number; sizes: number[]; again: number }>(pick([c!, d0!, d1!, s0!]), 'countAll', [sets, c, 1, 1]);
            if (o.status !== 'committed') return;
            n.reads++;
            const { count, sizes, again } = o.value;
            if (count !== sum(sizes)) bad.push(`counter ${count}, sets hold ${sizes.join('+')}`);
            if (again !== sizes[0]) bad.push(`${s0} matched ${sizes[0]} items, then ${again} in the same chain`);
          }
        }, undefined, () => n.reads >= (spread === 'one-worker' ? 20 : 5) && n.inserted >= 20);
        const { count, sizes } = await must<{ count: number; sizes: number[] }>(c!, 'countAll', [sets, c, 1]);
        expectNone(bad, 'predicate read disagreeing');
        expect(count, `final counter vs items ${sizes.join('+')}`).to.equal(sum(sizes));
        expect(count).to.be.within(n.inserted - n.removed - n.unknown, n.inserted - n.removed + n.unknown);
        // Enough happened for the check to mean something. Optimistic predicate reads of four
        // objects on three workers make slow progress against writers: a lower floor there.
        expect(n.reads).to.be.at.least(spread === 'one-worker' ? 20 : 5);
        expect(n.inserted).to.be.at.least(20);
        if (VERBOSE) console.log('      pmp', n);
      });

      it('P4 lost update: concurrent read-modify-write chains lose no increment', async () => {
        // Control: read and write in separate calls: two writes replace the same value.
        await control('split increments never lost an update', async () => {
          const [c] = await fresh('p4c', 1, () => 0);
          const replaced = new Set<number>();
          let lost = 0;
          await loops(8, CONTROL_MS, async () => {
            const r = await call<number>(c!, 'read', []);
            if (r.status !== 'committed') return;
            const w = await call<number>(c!, 'write', [r.value + 1]);
            if (w.status !== 'committed') return;
            if (replaced.has(w.value)) lost++;
            replaced.add(w.value);
          }, () => lost > 0);
          return lost;
        });

        const [c, d0, d1, d2, d3] = await fresh('p4', 5, (i) => (i === 0 ? 0 : null));
        const acked: number[] = [];
        let unknown = 0;
        await loops(12, RUN_MS, async (loop) => {
          // Most chains read c and write c+1 in two nested calls from other roots; some increment c directly.
          const o = loop < 8
            ? await call<number>(pick([d0!, d1!, d2!, d3!]), 'incrementVia', [c, 1, 1])
            : await call<number>(c!, 'increment', [1]);
          if (o.status === 'committed') acked.push(o.value);
          else if (o.status === 'unknown') unknown++;
        }, undefined, () => acked.length >= 50);
        const final = await must<number>(c!, 'read');
        const distinct = new Set(acked);
        expect(distinct.size, 'two acknowledged increments produced the same value (one was lost)').to.equal(acked.length);
        expect(final).to.be.within(acked.length, acked.length + unknown);
        if (unknown === 0) expect([...acked].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: final }, (_, i) => i + 1));
        expect(acked.length).to.be.at.least(50);
      });

      it('G-single read skew: chains reading x and y while transfers move amounts between them see a constant total', async () => {
        // Control: readers read x and y in separate calls.
        await control('split readers never saw a skewed total', async () => {
          const [x, y] = await fresh('gsc', 2, () => 50);
          let torn = 0;
          await loops(6, CONTROL_MS, async (loop) => {
            if (loop < 3) {
              const [from, to] = loop % 2 ? [x!, y!] : [y!, x!];
              await call(from, 'transfer', [to, 1 + Math.floor(Math.random() * 10)]);
            } else {
              const a = await call<number>(x!, 'read', []);
              const b = await call<number>(y!, 'read', []);
              if (a.status === 'committed' && b.status === 'committed' && a.value + b.value !== 100) torn++;
            }
          }, () => torn > 0);
          return torn;
        });

        const [x, y, d0, d1, sink] = await fresh('gs', 5, (i) => (i < 2 ? 50 : null));
        const bad: string[] = [];
        let reads = 0;
        let moved = 0;
        await loops(12, RUN_MS, async (loop) => {
          if (loop < 6) {
            const [from, to] = loop % 2 ? [x!, y!] : [y!, x!];
            const o = await call(from, 'transfer', [to, 1 + Math.floor(Math.random() * 10), 1]);
            if (o.status === 'committed') moved++;
          } else if (loop < 10) {
            const ids = Math.random() < 0.5 ? [x!, y!] : [y!, x!];
            const o = await call<number[]>(pick([x!, y!, d0!, d1!]), 'readMany', [ids, 1]);
            if (o.status !== 'committed') return;
            reads++;
            if (sum(o.value) !== 100) bad.push(`readMany ${ids.join(',')} = ${o.value.join(',')}`);
          } else {
            const o = await call<{ reads: number[] }>(pick([x!, y!, sink!]), 'readThenWrite', [[x, y], [[sink, 'seen']], 1]);
            if (o.status !== 'committed') return;
            reads++;
            if (sum(o.value.reads) !== 100) bad.push(`readThenWrite x,y = ${o.value.reads.join(',')}`);
          }
        }, undefined, () => reads >= 50 && moved >= 20);
        const finals = await must<number[]>(x!, 'readMany', [[x, y]]);
        expectNone(bad, 'skewed total');
        expect(sum(finals)).to.equal(100);
        expect(reads).to.be.at.least(50);
        expect(moved).to.be.at.least(20);
      });

      it('G2-item write skew: withdrawals that check x+y >= 0 and write only their own register never break it', async () => {
        // Rounds: x = y = 5, then 6 concurrent withdrawals of 3, from x and from y, each reading both
        // and writing only its own register. Serially 3 succeed (10, 7, 4, 1) and the rest are refused;
        // under write skew (both read 10, write disjoint registers) the total goes below zero.
        const reset = (x: string, y: string) => Promise.all([must(x, 'write', [5]), must(y, 'write', [5])]);
        // Control: the check (one consistent read of both) and the withdrawal in separate calls.
        await control('split withdrawals never broke x+y >= 0', async () => {
          const [x, y] = await fresh('g2ic', 2, () => 5);
          let broken = 0;
          const deadline = Date.now() + CONTROL_MS;
          while (broken === 0 && Date.now() < deadline) {
            await reset(x!, y!);
            await Promise.all(Array.from({ length: 6 }, async (_, w) => {
              const [mine, other] = w % 2 ? [x!, y!] : [y!, x!];
              const r = await call<number[]>(mine, 'readMany', [[mine, other]]);
              if (r.status === 'committed' && sum(r.value) - 3 >= 0) await call(mine, 'withdraw', [[], 3, -1e9]);
            }));
            if (sum(await must<number[]>(x!, 'readMany', [[x, y]])) < 0) broken++;
          }
          return broken;
        });

        const [x, y, d] = await fresh('g2i', 3, (i) => (i < 2 ? 5 : null));
        const bad: string[] = [];
        const n = { rounds: 0, withdrawals: 0, refused: 0, reads: 0 };
        let stopReaders = false;
        const readers = loops(2, RUN_MS + 30_000, async () => {
          const o = await call<number[]>(pick([x!, y!, d!]), 'readMany', [[x, y]]);
          if (o.status !== 'committed') return;
          n.reads++;
          if (sum(o.value) < 0) bad.push(`a reader saw x,y = ${o.value.join(',')}`);
        }, () => stopReaders);
        try {
          const deadline = Date.now() + RUN_MS;
          while (Date.now() < deadline) {
            await reset(x!, y!);
            let ok = 0;
            let unknown = 0;
            await Promise.all(Array.from({ length: 6 }, async (_, w) => {
              const [mine, other] = w % 2 ? [x!, y!] : [y!, x!];
              const o = await call(mine, 'withdraw', [[other], 3, 0, 1], ['INSUFFICIENT_FUNDS']);
              if (o.status === 'committed') ok++;
              else if (o.status === 'unknown') unknown++;
              else if (o.code === 'INSUFFICIENT_FUNDS') n.refused++;
            }));
            const after = sum(await must<number[]>(x!, 'readMany', [[x, y]]));
            if (after < 0) bad.push(`round ${n.rounds}: x+y = ${after} after ${ok} withdrawals of 3`);
            else if (unknown === 0 && after !== 10 - 3 * ok) bad.push(`round ${n.rounds}: x+y = ${after} after ${ok} acknowledged withdrawals of 3 from 10`);
            n.withdrawals += ok;
            n.rounds++;
          }
        } finally {
          stopReaders = true;
          await readers;
        }
        expectNone(bad, 'x+y < 0 or a withdrawal lost');
        expect(n.rounds).to.be.at.least(5);
        expect(n.refused, 'the workload never reached the boundary').to.be.at.least(5);
        expect(n.withdrawals).to.be.at.least(10);
        if (VERBOSE) console.log('      g2-item', n);
      });

      it('G2 anti-dependency cycles (three parties): doctors leave only if another stays on call; never all leave', async () => {
        // Rounds: three registers at 1 (on call), then 6 concurrent leave chains (2 per doctor), each
        // reading the other two and writing only itself. Serially at most 2 leave; three leavers that
        // all read "3 on call" form an rw cycle a -> b -> c -> a and leave nobody.
        const reset = (docs: string[]) => Promise.all(docs.map((k) => must(k, 'write', [1])));
        // Control: the check and the leave in separate calls.
        await control('split leavers never left nobody on call', async () => {
          const docs = await fresh('g2c', 3, () => 1);
          let empty = 0;
          const deadline = Date.now() + CONTROL_MS;
          while (empty === 0 && Date.now() < deadline) {
            await reset(docs);
            await Promise.all(Array.from({ length: 6 }, async (_, w) => {
              const me = docs[w % 3]!;
              const r = await call<number[]>(me, 'readMany', [[me, ...others(docs, me)]]);
              if (r.status === 'committed' && r.value[0] === 1 && sum(r.value.slice(1)) >= 1) await call(me, 'write', [0]);
            }));
            if (sum(await must<number[]>(docs[0]!, 'readMany', [docs])) < 1) empty++;
          }
          return empty;
        });

        const docs = await fresh('g2', 4, (i) => (i < 3 ? 1 : null));
        const d = docs.pop()!;
        const bad: string[] = [];
        const n = { rounds: 0, left: 0, refused: 0, reads: 0 };
        let stopReaders = false;
        const readers = loops(2, RUN_MS + 30_000, async () => {
          const o = await call<number[]>(pick([...docs, d]), 'readMany', [docs]);
          if (o.status !== 'committed') return;
          n.reads++;
          if (sum(o.value) < 1) bad.push(`a reader saw on call: ${o.value.join(',')}`);
        }, () => stopReaders);
        try {
          const deadline = Date.now() + RUN_MS;
          while (Date.now() < deadline) {
            await reset(docs);
            let ok = 0;
            let unknown = 0;
            await Promise.all(Array.from({ length: 6 }, async (_, w) => {
              const me = docs[w % 3]!;
              const o = await call(me, 'leaveIfCovered', [others(docs, me), 1], ['NOT_ON_CALL', 'LAST_ON_CALL']);
              if (o.status === 'committed') ok++;
              else if (o.status === 'unknown') unknown++;
              else if (o.code === 'LAST_ON_CALL') n.refused++;
            }));
            const after = sum(await must<number[]>(docs[0]!, 'readMany', [docs]));
            if (after < 1) bad.push(`round ${n.rounds}: nobody on call after ${ok} left`);
            else if (unknown === 0 && after !== 3 - ok) bad.push(`round ${n.rounds}: ${after} on call after ${ok} acknowledged leaves`);
            n.left += ok;
            n.rounds++;
          }
        } finally {
          stopReaders = true;
          await readers;
        }
        expectNone(bad, 'nobody on call, or a leave lost');
        expect(n.rounds).to.be.at.least(5);
        expect(n.refused, 'the workload never reached the boundary').to.be.at.least(5);
        expect(n.left).to.be.at.least(10);
        if (VERBOSE) console.log('      g2', n);
      });
    });
  }
});
