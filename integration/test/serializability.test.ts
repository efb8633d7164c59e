/**
 * Randomized list-append workload (Elle style) on a real cluster, checked for serializability by
 * src/checker, plus an exactly-once check of every append.
 *
 * Six lists (Reg objects, one entry per element) on several shards; 16 client loops for DURATION_MS
 * (4 s; 30 s with LAMBDASTORE_LONG=1). Each call is one chain (`Reg.txn`, rooted at a random list)
 * that, in random order, reads 1-3 lists and appends a globally unique element to 1-2 lists, every
 * step through ctx.invoke; one call in five is a read-only chain (`Reg.readLists`). An append returns
 * the list before it, recorded as a read of the same transaction (which lets the checker see lost
 * updates). One writing call in twenty fails on purpose (AppError) after some of its steps. Status
 * per call: committed (a reply), aborted (a definite error: the intended AppError, TXN_ABORTED or METHOD_TIMEOUT
 * after the worker's and the client's retries), unknown (TIMEOUT); any other error fails the test.
 *
 * A control test runs first: the same chains cut into separate calls (each chain still recorded as
 * one transaction) for 1 s; the checker must flag an anomaly that needs concurrency (a dependency
 * cycle or a lost update). That proves workload and checker can see a non-serializable execution
 * at this level of contention.
 *
 * Placement: runs twice, lists on one worker ('one-worker') and round-robin over the workers
 * ('across-workers', two-phase commit).
 */
import { expect } from 'chai';
import { shardOf } from '@lambdastore/proto';
import type { ClusterConfig, LambdaStoreError } from '@lambdastore/client';
import { startTestCluster, fixture, placeObjects, type Spread, type TestCluster } from '../src/cluster.js';
import { checkHistory, formatReport, type Op, type Txn } from '../src/checker/index.js';
import { watchHeartbeats, waitReplicated } from '../src/replicas.js';
import type { Step } from '../fixtures/txntypes.js';


const SPREADS: Spread[] = ['one-worker', 'across-workers'];
const DURATION_MS = process.env.LAMBDASTORE_LONG === '1' ? 30_000 : 4_000;
const LISTS = 6;
const CLIENTS = 16;
/** Committed calls a run needs to mean anything. */
const MIN_COMMITTED = 200;
const VERBOSE = process.env.LAMBDASTORE_TEST_VERBOSE === '1';
/**
 * Nothing was applied: the transaction gave up after the worker's retries (and the client's), or
 * a method of the chain ran past its time limit (a chain that waits for remote snapshots on a busy
 * machine can) and was aborted before it committed anything.
 */
const ABORTED: readonly string[] = ['TXN_ABORTED', 'METHOD_TIMEOUT'];


const pick = <X>(xs: readonly X[]): X => xs[Math.floor(Math.random() * xs.length)]!;
function sample<X>(xs: readonly X[], k: number): X[] {
  const copy = [...xs];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, k);
}
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

interface Run {
  history: Txn[];
  /** Every element a call tried to append: the list it went to and the call's status. */
  appended: Map<string, { key: string; status: Txn['status'] }>;
  codes: Map<string, number>;
  /** The lists at the end, read by one committed read-only chain (also the history's last txn). */
  finals: string[][];
}

describe('serializability: randomized list-append chains (checked by src/checker)', function () {
  this.timeout(DURATION_MS + 120_000);
  let t: TestCluster;
  let cfg: ClusterConfig;
  let seq = 0;

  before(async () => {
    t = await startTestCluster();
    await t.client.deployFile(fixture('txntypes.ts'));
    // Every replica caught up (initial state transfers done) before the workload: the map it returns
    // names the chains the checks below use.
    const hb = await watchHeartbeats(t);
    try {
      cfg = await waitReplicated(t, hb, 3, 60_000);
    } finally {
      await hb.close();
    }
  });
  after(async () => { await t?.stop(); });

  /** Fresh lists placed `spread`, over at least two shards. */
  async function freshLists(spread: Spread, tag: string): Promise<string[]> {
    const lists = placeObjects(cfg, 'Reg', LISTS, spread, `${tag}${spread === 'one-worker' ? 'o' : 'x'}`);
    const shards = new Set(lists.map((id) => shardOf('Reg', id, cfg.numShards)));
    expect(shards.size, 'the lists should span several shards').to.be.at.least(2);
    for (const id of lists) await t.client.create('Reg', id);
    return lists;
  }

  /**
   * CLIENTS loops of random chains over `lists` for `ms`. `split` (the control) runs every step as a
   * call of its own, but records the chain as one transaction, as if it had been one.
   */
  async function workload(lists: string[], ms: number, split: boolean): Promise<Run> {
    const history: Txn[] = [];
    const appended: Run['appended'] = new Map();
    const codes = new Map<string, number>();
    let failure: Error | undefined;
    const deadline = Date.now() + ms;
    // A busy machine makes the run longer (up to 30 s more), never too thin to mean anything.
    let committedSoFar = 0;
    const enough = () => split || committedSoFar >= MIN_COMMITTED;
    const running = () => Date.now() < deadline || (!enough() && Date.now() < deadline + 30_000);

    /** One chain: through `txn` / `readLists` (one transaction), or step by step (split). */
    async function execute(root: string, steps: Step[], readOnly: boolean): Promise<string[][]> {
      if (!split) {
        return (await t.client.invoke('Reg', root, readOnly ? 'readLists' : 'txn', [readOnly ? steps.map((s) => s[1] as string) : steps])) as string[][];
      }
      const out: string[][] = [];
      for (const s of steps) {
        if (s[0] === 'fail') throw Object.assign(new Error('failed on purpose'), { code: s[1] });
        if (s[0] === 'append') out.push((await t.client.invoke('Reg', s[1], 'append', [s[2]])) as string[]);
        else if (s[0] === 'readList') out.push((await t.client.invoke('Reg', s[1], 'readList')) as string[]);
        else throw new Error(`unexpected step ${JSON.stringify(s)}`);
      }
      return out;
    }

    await Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
      while (!failure && running()) {
        const id = `c${client}-${seq++}`;
        const start = Date.now();
        const readOnly = Math.random() < 0.2;
        // Steps: 1-3 reads and (unless read-only) 1-2 appends of globally unique elements, shuffled.
        let steps: Step[] = sample(lists, between(1, 3)).map((k): Step => ['readList', k]);
        if (!readOnly) steps.push(...sample(lists, between(1, 2)).map((k, j): Step => ['append', k, `${id}.${j}`]));
        steps = sample(steps, steps.length);
        // One writing call in twenty fails on purpose after some of its steps: none of it may show.
        const failing = !readOnly && Math.random() < 0.05;
        if (failing) steps.splice(between(1, steps.length), 0, ['fail', 'ABORT_ON_PURPOSE']);
        const root = pick(lists);
        try {
          const res = await execute(root, steps, readOnly);
          if (failing) throw new Error(`a chain that fails on purpose committed: ${JSON.stringify(steps)}`);
          const ops: Op[] = [];
          steps.forEach((s, i) => {
            // An append returned the list before it: a read of this transaction, then the append.
            ops.push({ kind: 'read', key: s[1] as string, value: res[i]! });
            if (s[0] === 'append') ops.push({ kind: 'append', key: s[1], value: s[2] });
          });
          history.push({ id, ops, status: 'committed', start, end: Date.now() });
          committedSoFar++;
          for (const s of steps) if (s[0] === 'append') appended.set(s[2], { key: s[1], status: 'committed' });
        } catch (err) {
          const code = (err as LambdaStoreError).code;
          if (code === undefined) { failure ??= err as Error; continue; }
          codes.set(code, (codes.get(code) ?? 0) + 1);
          const status: Txn['status'] | undefined = ABORTED.includes(code) || (failing && code === 'ABORT_ON_PURPOSE') ? 'aborted' : code === 'TIMEOUT' ? 'unknown' : undefined;
          if (!status) {
            failure ??= new Error(`Reg ${root} chain ${JSON.stringify(steps)} failed unexpectedly: ${code}: ${(err as Error).message}`);
            continue;
          }
          const ops: Op[] = steps.filter((s) => s[0] === 'append').map((s) => ({ kind: 'append', key: s[1] as string, value: s[2] as string }));
          history.push({ id, ops, status, start });
          for (const s of steps) if (s[0] === 'append') appended.set(s[2], { key: s[1], status });
        }
      }
    }));
    if (failure) throw failure;

    // One final committed read of every list closes the history.
    const finals = (await t.client.invoke('Reg', lists[0]!, 'readLists', [lists], { timeoutMs: 30_000 }).catch((err: LambdaStoreError) => {
      throw new Error(`the final read of every list, which must succeed, failed: ${err.code}: ${err.message}`);
    })) as string[][];
    history.push({ id: 'final', ops: lists.map((k, i) => ({ kind: 'read', key: k, value: finals[i]! })), status: 'committed' });
    return { history, appended, codes, finals };
  }

  for (const spread of SPREADS) {
    it(`lists ${spread}, control: the same chains cut into separate calls are flagged by the checker`, async () => {
      // Proof that workload + checker see non-serializable executions at this contention: the split
      // run must show an anomaly that needs concurrent chains (a dependency cycle or a lost update),
      // not just the G1a / internal-read findings a split chain produces even when run alone.
      const concurrent = new Set(['G0', 'G1c', 'G-single', 'G2-item', 'lost-update']);
      const flagged = new Set<string>();
      for (let round = 0; round < 4 && ![...flagged].some((k) => concurrent.has(k)); round++) {
        const run = await workload(await freshLists(spread, `ctl${round}-`), 1_000, true);
        for (const a of checkHistory(run.history, { realtime: false }).anomalies) flagged.add(a.kind);
      }
      if (VERBOSE) console.log(`      control flagged: ${[...flagged].join(', ')}`);
      expect([...flagged].filter((k) => concurrent.has(k)), 'split chains never showed a concurrency anomaly: the workload or the checker is blind').to.not.deep.equal([]);
    });

    it(`lists ${spread}: the history is serializable and every acknowledged append is applied exactly once`, async () => {
      const lists = await freshLists(spread, 'list');
      const { history, appended, codes, finals } = await workload(lists, DURATION_MS, false);

      const result = checkHistory(history, { realtime: false, maxAnomaliesPerKind: 10 });
      const committed = history.filter((h) => h.status === 'committed').length;
      if (VERBOSE) {
        console.log(`      ${history.length} calls, ${committed} committed, errors ${JSON.stringify(Object.fromEntries(codes))}, ` +
          `list lengths ${finals.map((l) => l.length).join('/')}, checker: ${result.stats.txns} txns, ${result.stats.edges} edges`);
      }
      expect(result.ok, formatReport(result)).to.equal(true);

      // Exactly once: acknowledged appends once, in the list they were appended to; failed ones never;
      // unknown ones at most once; nothing that was never appended.
      const where = new Map<string, string[]>();
      finals.forEach((l, i) => { for (const e of l) where.set(e, [...(where.get(e) ?? []), lists[i]!]); });
      const wrong: string[] = [];
      for (const [e, a] of appended) {
        const found = where.get(e) ?? [];
        if (a.status === 'committed' && (found.length !== 1 || found[0] !== a.key)) wrong.push(`acknowledged append ${e} to ${a.key} found in [${found.join(', ')}]`);
        if (a.status === 'aborted' && found.length > 0) wrong.push(`failed append ${e} found in [${found.join(', ')}]`);
        if (a.status === 'unknown' && (found.length > 1 || (found.length === 1 && found[0] !== a.key))) wrong.push(`unknown append ${e} to ${a.key} found in [${found.join(', ')}]`);
      }
      for (const e of where.keys()) if (!appended.has(e)) wrong.push(`element ${e} was never appended`);
      expect(wrong.slice(0, 5), `${wrong.length} exactly-once violations`).to.deep.equal([]);

      expect(committed, 'too few committed calls to mean anything').to.be.at.least(MIN_COMMITTED);
      expect(result.stats.txns).to.be.at.least(committed);
    });
  }
});
