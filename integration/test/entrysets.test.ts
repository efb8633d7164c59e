/**
 * Entry sets (OCC granularity inside an object) on a real cluster: one Ledger object of 1,000
 * accounts, 32 client loops moving money between random pairs of its accounts while readers scan
 * every account. Run with each granularity (worker option --entry-sets): whatever the layout, every
 * acknowledged transfer is applied exactly once, no aborted one is applied, balances are exactly the
 * initial ones plus the applied transfers, and every read sees the same total. Adaptive also has to
 * split the object (its writers queue behind writers of other accounts, which they would not have
 * conflicted with) and merge it back when all writers hit one entry; the worker counts both and the
 * coordinator's status shows them.
 */
import { expect } from 'chai';
import { eventually } from '@lambdastore/testkit';
type Granularity = 'coarse' | 'fine' | 'adaptive';
import { startTestCluster, fixture, codeOf, type TestCluster } from '../src/cluster.js';

const ACCOUNTS = 1000;
const INITIAL = 1000;
const LOOPS = 32;
const RUN_MS = 2500;

async function forMs(ms: number, loops: number, body: (loop: number) => Promise<void>): Promise<void> {
  const until = Date.now() + ms;
  await Promise.all(Array.from({ length: loops }, async (_, loop) => {
    while (Date.now() < until) await body(loop);
  }));
}

async function counters(t: TestCluster): Promise<{ splits: number; merges: number }> {
  const cfg = await t.client.config();
  const w = cfg.workers ?? [];
  return { splits: w.reduce((s, x) => s + Number(x.entrySetSplits ?? 0), 0), merges: w.reduce((s, x) => s + Number(x.entrySetMerges ?? 0), 0) };
}

describe('entry sets: transfers inside one object of 1,000 accounts', function () {
  this.timeout(120_000);

  for (const granularity of ['coarse', 'fine', 'adaptive'] as Granularity[]) {
    describe(`--entry-sets ${granularity}`, () => {
      let t: TestCluster;
      before(async () => {
        t = await startTestCluster({ workers: 1, threads: 2, workerArgs: ['--entry-sets', granularity] });
        await t.client.deployFile(fixture('ledger.ts'));
        await t.client.create('Ledger', 'l', ACCOUNTS, INITIAL);
      });
      after(async () => t?.stop());

      it('applies every acknowledged transfer exactly once and no aborted one; every read sees the same total', async () => {
        const status = new Map<string, string>();
        const totals: number[] = [];
        let seq = 0;
        const writers = forMs(RUN_MS, LOOPS, async (loop) => {
          const id = `${loop}-${seq++}`;
          const from = Math.floor(Math.random() * ACCOUNTS);
          const to = (from + 1 + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS;
          status.set(id, await codeOf(t.client.invoke('Ledger', 'l', 'transfer', [from, to, 1 + Math.floor(Math.random() * 5), id])));
        });
        const readers = forMs(RUN_MS, 2, async () => {
          const b = (await t.client.invoke('Ledger', 'l', 'balances')) as Array<[number, number]>;
          totals.push(b.reduce((s, [, v]) => s + v, 0));
        });
        await Promise.all([writers, readers]);

        const codes = new Set(status.values());
        for (const c of codes) expect(['NO_ERROR', 'TXN_ABORTED']).to.include(c);
        const ok = [...status].filter(([, c]) => c === 'NO_ERROR').map(([id]) => id);
        expect(ok.length).to.be.greaterThan(100);
        expect(totals.length).to.be.greaterThan(10);
        expect(new Set(totals)).to.deep.equal(new Set([ACCOUNTS * INITIAL]));

        const applied = new Map((await t.client.invoke('Ledger', 'l', 'transfers')) as Array<[string, [number, number, number]]>);
        for (const id of ok) expect(applied.has(id), `acknowledged transfer ${id} is missing`).to.equal(true);
        for (const [id, c] of status) if (c === 'TXN_ABORTED') expect(applied.has(id), `aborted transfer ${id} was applied`).to.equal(false);
        expect([...applied.keys()].every((id) => status.has(id))).to.equal(true);
        // Balances are exactly the initial ones moved by the applied transfers: a lost update, or a
        // transfer applied twice, would show here.
        const expected = Array.from({ length: ACCOUNTS }, () => INITIAL);
        for (const [from, to, amount] of applied.values()) {
          expected[from]! -= amount;
          expected[to]! += amount;
        }
        const balances = (await t.client.invoke('Ledger', 'l', 'balances')) as Array<[number, number]>;
        expect(balances.map(([i, v]) => [i, v])).to.deep.equal(expected.map((v, i) => [i, v]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));

        const { splits } = await counters(t);
        if (granularity === 'adaptive') {
          // Writers of other accounts queued behind each other: the object was split.
          await eventually(async () => (await counters(t)).splits > 0, 5000, 'a split reported by the worker');
        } else {
          expect(splits).to.equal(0); // fixed layouts never change
        }
      });

      it('counts every acknowledged increment of one hot entry exactly once', async () => {
        let acknowledged = 0;
        await forMs(1500, LOOPS, async () => {
          const code = await codeOf(t.client.invoke('Ledger', 'l', 'bump'));
          expect(['NO_ERROR', 'TXN_ABORTED']).to.include(code);
          if (code === 'NO_ERROR') acknowledged++;
        });
        expect(acknowledged).to.be.greaterThan(50);
        expect(await t.client.invoke('Ledger', 'l', 'count')).to.equal(acknowledged);
        if (granularity === 'adaptive') {
          // Every writer now conflicts on the same entry: back to one set, where writers take turns.
          await eventually(async () => (await counters(t)).merges > 0, 5000, 'a merge reported by the worker');
        }
      });
    });
  }
});
