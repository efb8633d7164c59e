/**
 * Chains across workers: two-phase commit keeps them all-or-nothing and exactly-once, with workers
 * killed (SIGKILL) in the middle and started again on their data.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { shardOf } from '@lambdastore/proto';
import { startTestCluster, fixture, type TestCluster } from '../src/cluster.js';

interface Logs { in: string[]; out: string[]; balance: number }

describe('two-phase commit across workers', function () {
  this.timeout(240_000);
  let t: TestCluster;
  const wallets: string[] = [];
  const INITIAL = 1000;
  // Transfer ids are unique over the whole suite; every outcome is kept for the audits.
  let seq = 0;
  const acked = new Set<string>();
  const unknown = new Set<string>();
  const sent = new Map<string, { from: string; to: string; amount: number }>();

  before(async () => {
    t = await startTestCluster();
    await t.client.deployFile(fixture('testtypes.ts'));
    const cfg = await t.client.config();
    const owner = (id: string) => cfg.shards.find((s) => s.shard === shardOf('Wallet', id, cfg.numShards))?.chain?.[0];
    // four wallets on each worker
    const perWorker = new Map<string, number>();
    for (let i = 0; wallets.length < 12; i++) {
      const id = `tp${i}`;
      const w = owner(id)!;
      if ((perWorker.get(w) ?? 0) >= 4) continue;
      perWorker.set(w, (perWorker.get(w) ?? 0) + 1);
      wallets.push(id);
    }
    for (const id of wallets) await t.client.create('Wallet', id, INITIAL);
  });
  after(async () => { await t?.stop(); });

  /** Runs transfers between random wallets until `until()`; returns acknowledged and unsettled ids. */
  async function transfers(until: () => boolean, concurrency = 12): Promise<number> {
    const before = acked.size;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (!until()) {
        const from = wallets[Math.floor(Math.random() * wallets.length)]!;
        const to = wallets[Math.floor(Math.random() * wallets.length)]!;
        if (from === to) continue;
        const id = `t${seq++}`;
        const amount = 1 + Math.floor(Math.random() * 5);
        sent.set(id, { from, to, amount });
        try {
          await t.client.invoke('Wallet', from, 'send', [to, amount, id], { idempotencyKey: `key-${id}`, timeoutMs: 20_000 });
          acked.add(id);
        } catch (err) {
          const code = (err as { code: string }).code;
          if (code !== 'INSUFFICIENT_FUNDS') unknown.add(id);
        }
      }
    }));
    return acked.size - before;
  }

  async function audit() {
    const logs = (await Promise.all(wallets.map((id) => t.client.invoke('Wallet', id, 'logs', [], { timeoutMs: 30_000 })))) as Logs[];
    const total = logs.reduce((a, l) => a + l.balance, 0);
    expect(total, 'money created or destroyed').to.equal(INITIAL * wallets.length);
    const outs = logs.flatMap((l) => l.out);
    const ins = logs.flatMap((l) => l.in);
    expect(new Set(outs).size, 'a transfer debited twice').to.equal(outs.length);
    expect(new Set(ins).size, 'a transfer credited twice').to.equal(ins.length);
    expect([...outs].sort(), 'debits and credits differ: a half-applied transfer').to.deep.equal([...ins].sort());
    for (const id of acked) expect(outs.includes(id), `acknowledged ${id} lost`).to.equal(true);
    for (const id of outs) expect(acked.has(id) || unknown.has(id), `${id} applied but reported as refused`).to.equal(true);
    for (const l of logs) expect(l.balance).to.be.at.least(0);
    return outs.length;
  }

  it('keeps concurrent transfers between all workers all-or-nothing and exactly-once; read-only chains see consistent totals', async () => {
    const end = Date.now() + 4000;
    const totals: number[] = [];
    let gaveUp = 0;
    const readers = Promise.all([0, 1].map(async (r) => {
      while (Date.now() <= end) {
        try {
          totals.push((await t.client.invoke('Wallet', wallets[r]!, 'sum', [wallets.filter((_, i) => i !== r)], { timeoutMs: 20_000 })) as number);
        } catch (err) {
          // an optimistic read of twelve wallets may lose to writers every time: allowed, never torn
          expect((err as { code: string }).code).to.equal('TXN_ABORTED');
          gaveUp++;
        }
      }
    }));
    // fewer writers than elsewhere: an optimistic read of all twelve wallets must get through
    expect(await transfers(() => Date.now() > end, 4)).to.be.greaterThan(50);
    await readers;
    totals.push((await t.client.invoke('Wallet', wallets[0]!, 'sum', [wallets.slice(1)])) as number);
    expect(totals.length, `read-only chains that completed (${gaveUp} gave up)`).to.be.greaterThan(1);
    for (const total of totals) expect(total, 'a read-only chain across workers saw a torn total').to.equal(INITIAL * wallets.length);
    await audit();
  });

  it('survives a participant or root killed with SIGKILL in the middle, and recovers prepared transactions', async () => {
    let recovered = 0;
    // A kill lands in the window only by chance (a few ms per transfer): try until one does.
    for (let round = 0; round < 25 && recovered === 0; round++) {
      let stop = false;
      const load = transfers(() => stop);
      await new Promise((r) => setTimeout(r, 700));
      const victim = round % t.cluster.workers.length;
      await t.cluster.killWorker(victim, 'SIGKILL');
      await t.cluster.restartWorker(victim);
      await new Promise((r) => setTimeout(r, 500));
      stop = true;
      await load;
      // With chain replication the shard's new head (the victim's successor) recovers the prepared
      // parts the victim held; a restarted victim rejoins as a tail.
      recovered = 0;
      for (const w of t.cluster.workers) recovered += ((await readFile(w.logFile, 'utf8')).match(/recovered prepared transaction/g) ?? []).length;
    }
    expect(recovered, 'no kill landed between PREPARE and DECIDE in 25 tries').to.be.greaterThan(0);
    // give recovered participants time to learn their decisions, then audit everything
    await new Promise((r) => setTimeout(r, 3000));
    const applied = await audit();
    expect(applied).to.be.greaterThan(0);
    // a retry with the same key gets the stored outcome and applies nothing more
    const snapshot = async () => JSON.stringify(await Promise.all(wallets.map((id) => t.client.invoke('Wallet', id, 'logs'))));
    const before = await snapshot();
    for (const id of [...acked].slice(-20)) {
      const { from, to, amount } = sent.get(id)!;
      await t.client.invoke('Wallet', from, 'send', [to, amount, id], { idempotencyKey: `key-${id}` });
    }
    expect(await snapshot()).to.equal(before);
  });

  it('bank: 1,000 accounts across all shards, concurrent transfers: total constant, none negative, each acknowledged transfer once', async () => {
    // 5 s here; LAMBDASTORE_LONG=1 runs the 20 s the issue asks for.
    const runMs = process.env.LAMBDASTORE_LONG === '1' ? 20_000 : 5_000;
    const many: string[] = Array.from({ length: 1000 }, (_, i) => `bank-${i}`);
    const { forEachLimited } = await import('@lambdastore/cli');
    await forEachLimited(many, 32, async (id) => { await t.client.create('Wallet', id, 100); });
    const bankAcked = new Set<string>();
    const bankUnknown = new Set<string>();
    let n = 0;
    const end = Date.now() + runMs;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (Date.now() < end) {
        const from = many[Math.floor(Math.random() * many.length)]!;
        let to = many[Math.floor(Math.random() * many.length)]!;
        while (to === from) to = many[Math.floor(Math.random() * many.length)]!;
        const id = `b${n++}`;
        try {
          await t.client.invoke('Wallet', from, 'send', [to, 1 + Math.floor(Math.random() * 50), id], { idempotencyKey: `bank-${id}`, timeoutMs: 20_000 });
          bankAcked.add(id);
        } catch (err) {
          if ((err as { code: string }).code !== 'INSUFFICIENT_FUNDS') bankUnknown.add(id);
        }
      }
    }));
    expect(bankAcked.size).to.be.greaterThan(100);
    const logs: Logs[] = [];
    await forEachLimited(many, 32, async (id) => { logs.push((await t.client.invoke('Wallet', id, 'logs')) as Logs); });
    expect(logs.reduce((a, l) => a + l.balance, 0), 'money created or destroyed').to.equal(100 * many.length);
    for (const l of logs) expect(l.balance).to.be.at.least(0);
    const outs = logs.flatMap((l) => l.out);
    const ins = logs.flatMap((l) => l.in);
    expect(new Set(outs).size).to.equal(outs.length);
    expect([...outs].sort()).to.deep.equal([...ins].sort());
    const applied = new Set(outs);
    for (const id of bankAcked) expect(applied.has(id), `acknowledged ${id} lost`).to.equal(true);
    for (const id of applied) expect(bankAcked.has(id) || bankUnknown.has(id), `${id} applied but refused`).to.equal(true);
  });
});
