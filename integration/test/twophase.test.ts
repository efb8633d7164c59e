/**
 * Chains across workers: two-phase commit keeps them all-or-nothing and exactly-once, with workers
 * killed (SIGKILL) in the middle and started again on their data.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { shardOf } from '@lambdastore/proto';
import { startTestCluster, fixture, type TestCluster } from '../src/cluster.js';

interface Logs { in: string[]; out: string[]; balance: number }

const INITIAL = 1000;

/**
 * Twelve wallets, four on each worker, and every transfer sent to them with its outcome, for the
 * audits. Transfer ids are unique over the ledger.
 */
class Ledger {
  readonly wallets: string[] = [];
  readonly acked = new Set<string>();
  readonly unknown = new Set<string>();
  readonly sent = new Map<string, { from: string; to: string; amount: number }>();
  private seq = 0;
  constructor(private readonly t: TestCluster, private readonly prefix: string) {}

  async open(): Promise<void> {
    await this.t.client.deployFile(fixture('testtypes.ts'));
    const cfg = await this.t.client.config();
    const owner = (id: string) => cfg.shards.find((s) => s.shard === shardOf('Wallet', id, cfg.numShards))?.chain?.[0];
    const perWorker = new Map<string, number>();
    for (let i = 0; this.wallets.length < 12; i++) {
      const id = `${this.prefix}${i}`;
      const w = owner(id)!;
      if ((perWorker.get(w) ?? 0) >= 4) continue;
      perWorker.set(w, (perWorker.get(w) ?? 0) + 1);
      this.wallets.push(id);
    }
    for (const id of this.wallets) await this.t.client.create('Wallet', id, INITIAL);
  }

  /** Runs transfers between random wallets until `until()`; returns how many were acknowledged. */
  async transfers(until: () => boolean, concurrency = 12): Promise<number> {
    const before = this.acked.size;
    const { wallets } = this;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (!until()) {
        const from = wallets[Math.floor(Math.random() * wallets.length)]!;
        const to = wallets[Math.floor(Math.random() * wallets.length)]!;
        if (from === to) continue;
        const id = `t${this.seq++}`;
        const amount = 1 + Math.floor(Math.random() * 5);
        this.sent.set(id, { from, to, amount });
        try {
          await this.t.client.invoke('Wallet', from, 'send', [to, amount, id], { idempotencyKey: `key-${this.prefix}-${id}`, timeoutMs: 20_000 });
          this.acked.add(id);
        } catch (err) {
          const code = (err as { code: string }).code;
          if (code !== 'INSUFFICIENT_FUNDS') this.unknown.add(id);
        }
      }
    }));
    return this.acked.size - before;
  }

  /** Money kept, each transfer all-or-nothing and once, every acknowledged one applied. */
  async audit(): Promise<number> {
    const logs = (await Promise.all(this.wallets.map((id) => this.t.client.invoke('Wallet', id, 'logs', [], { timeoutMs: 30_000 })))) as Logs[];
    const total = logs.reduce((a, l) => a + l.balance, 0);
    expect(total, 'money created or destroyed').to.equal(INITIAL * this.wallets.length);
    const outs = logs.flatMap((l) => l.out);
    const ins = logs.flatMap((l) => l.in);
    expect(new Set(outs).size, 'a transfer debited twice').to.equal(outs.length);
    expect(new Set(ins).size, 'a transfer credited twice').to.equal(ins.length);
    expect([...outs].sort(), 'debits and credits differ: a half-applied transfer').to.deep.equal([...ins].sort());
    for (const id of this.acked) expect(outs.includes(id), `acknowledged ${id} lost`).to.equal(true);
    for (const id of outs) expect(this.acked.has(id) || this.unknown.has(id), `${id} applied but reported as refused`).to.equal(true);
    for (const l of logs) expect(l.balance).to.be.at.least(0);
    return outs.length;
  }
}


describe('two-phase commit across workers', function () {
  this.timeout(240_000);
  let t: TestCluster;
  let ledger: Ledger;

  before(async () => {
    t = await startTestCluster();
    ledger = new Ledger(t, 'tp');
    await ledger.open();
  });
  after(async () => { await t?.stop(); });

  it('keeps concurrent transfers between all workers all-or-nothing and exactly-once; read-only chains see consistent totals', async () => {
    const end = Date.now() + 4000;
    const totals: number[] = [];
    let gaveUp = 0;
    const { wallets } = ledger;
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
    expect(await ledger.transfers(() => Date.now() > end, 4)).to.be.greaterThan(50);
    await readers;
    totals.push((await t.client.invoke('Wallet', wallets[0]!, 'sum', [wallets.slice(1)])) as number);
    expect(totals.length, `read-only chains that completed (${gaveUp} gave up)`).to.be.greaterThan(1);
    for (const total of totals) expect(total, 'a read-only chain across workers saw a torn total').to.equal(INITIAL * wallets.length);
    await ledger.audit();
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

describe('two-phase commit across workers, killed between PREPARE and DECIDE', function () {
  this.timeout(240_000);
  let t: TestCluster;
  let ledger: Ledger;

  before(async () => {
    // Each participant holds its YES vote 250 ms after its prepare record is durable, so a SIGKILL
    // during the load leaves prepared parts behind every time (a real kill, in a wide window).
    t = await startTestCluster({ env: { LAMBDASTORE_FAILPOINTS: 'prepared.hold=250' } });
    ledger = new Ledger(t, 'kp');
    await ledger.open();
  });
  after(async () => { await t?.stop(); });

  it('survives a participant or root killed with SIGKILL in the middle, and recovers prepared transactions', async () => {
    const recoveries = async () => {
      let n = 0;
      for (const w of t.cluster.workers) n += ((await readFile(w.logFile, 'utf8')).match(/recovered prepared transaction/g) ?? []).length;
      return n;
    };
    let recovered = 0;
    // Each worker in turn: one kill is expected to be enough; three rounds rule out bad luck.
    for (let round = 0; round < 3 && recovered === 0; round++) {
      let stop = false;
      const load = ledger.transfers(() => stop);
      await new Promise((r) => setTimeout(r, 1000));
      const victim = round % t.cluster.workers.length;
      await t.cluster.killWorker(victim, 'SIGKILL');
      await t.cluster.restartWorker(victim);
      await new Promise((r) => setTimeout(r, 500));
      stop = true;
      await load;
      // With chain replication the shard's new head (the victim's successor) recovers the prepared
      // parts the victim held once the coordinator has promoted it; a restarted victim rejoins as
      // a tail. Give the promotion time to happen before trying another kill.
      const deadline = Date.now() + 10_000;
      while ((recovered = await recoveries()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    }
    expect(recovered, 'no worker recovered a prepared transaction after 3 kills').to.be.greaterThan(0);
    // give recovered participants time to learn their decisions, then audit everything
    await new Promise((r) => setTimeout(r, 3000));
    const applied = await ledger.audit();
    expect(applied).to.be.greaterThan(0);
    // a retry with the same key gets the stored outcome and applies nothing more
    const snapshot = async () => JSON.stringify(await Promise.all(ledger.wallets.map((id) => t.client.invoke('Wallet', id, 'logs'))));
    const before = await snapshot();
    for (const id of [...ledger.acked].slice(-20)) {
      const { from, to, amount } = ledger.sent.get(id)!;
      await t.client.invoke('Wallet', from, 'send', [to, amount, id], { idempotencyKey: `key-kp-${id}` });
    }
    expect(await snapshot()).to.equal(before);
  });
});
