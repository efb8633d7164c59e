/**
 * Nested calls (ctx.invoke) between objects on one worker: a chain commits as one transaction.
 * Calls across workers commit by two-phase commit.
 */
import { expect } from 'chai';
import { shardOf } from '@lambdastore/proto';
import { connect } from '@lambdastore/client';
import { startTestCluster, fixture, rejection, type TestCluster } from '../src/cluster.js';

describe('nested calls (ctx.invoke)', function () {
  this.timeout(120_000);
  let t: TestCluster;
  let local: string[] = [];
  let remote = '';
  let remoteOwner = '';

  before(async () => {
    t = await startTestCluster();
    await t.client.deployFile(fixture('testtypes.ts'));
    const cfg = await t.client.config();
    const owner = (id: string) => cfg.shards.find((s) => s.shard === shardOf('Wallet', id, cfg.numShards))?.chain?.[0];
    const home = owner('w0');
    for (let i = 0; local.length < 6; i++) if (owner(`w${i}`) === home) local.push(`w${i}`);
    for (let i = 0; !remote; i++) if (owner(`x${i}`) !== home) remote = `x${i}`;
    remoteOwner = owner(remote)!;
    for (const id of [...local, remote]) await t.client.create('Wallet', id, 100);
  });
  after(async () => { await t?.stop(); });

  const balance = (id: string) => t.client.invoke('Wallet', id, 'balance') as Promise<number>;

  it('moves money between two objects as one transaction', async () => {
    const [a, b] = local as [string, string];
    expect(await t.client.invoke('Wallet', a, 'transfer', [b, 30])).to.equal(70);
    expect(await balance(a)).to.equal(70);
    expect(await balance(b)).to.equal(130);
    // back, so the concurrency test starts from 100 each
    await t.client.invoke('Wallet', b, 'transfer', [a, 30]);
  });

  it('applies nothing of a chain whose root throws after its callee wrote', async () => {
    const [a, b] = local as [string, string];
    expect((await rejection(t.client.invoke('Wallet', a, 'transferThenThrow', [b, 10]))).code).to.equal('METHOD_FAILED');
    expect([await balance(a), await balance(b)]).to.deep.equal([100, 100]);
  });

  it('fails the whole chain when a callee fails, even if the caller catches it', async () => {
    const [a, b] = local as [string, string];
    expect((await rejection(t.client.invoke('Wallet', a, 'swallowCalleeFailure', [b]))).code).to.equal('UNKNOWN_METHOD');
    expect(await balance(a)).to.equal(100);
  });

  it('fails a method that returns while a nested call it started is still running, and applies nothing', async () => {
    const [a, b] = local as [string, string];
    const err = await rejection(t.client.invoke('Wallet', a, 'forgetToAwait', [b]));
    expect(err.code).to.equal('METHOD_FAILED');
    expect(err.message).to.match(/await every ctx\.invoke/);
    expect([await balance(a), await balance(b)]).to.deep.equal([100, 100]);
  });

  it('a callee whose worker does not answer fails the chain with a retryable SHARD_UNAVAILABLE, not the caller\'s METHOD_TIMEOUT', async () => {
    const [a] = local as [string];
    const worker = t.cluster.workers.find((w) => w.id === remoteOwner)!;
    const once = await connect({ servers: t.cluster.natsUrl, prefix: t.cluster.prefix, maxAttempts: 1 });
    // Paused, not dead: its subscriptions stay, so a request to it gets no answer at all (as in
    // the moments after a worker dies, before the cluster notices).
    process.kill(worker.pid!, 'SIGSTOP');
    try {
      const err = await rejection(once.invoke('Wallet', a, 'transfer', [remote, 7]));
      expect(err.code, err.message).to.equal('SHARD_UNAVAILABLE');
      expect(err.retryable).to.equal(true);
    } finally {
      process.kill(worker.pid!, 'SIGCONT');
      await once.close();
    }
    expect([await balance(a), await balance(remote)]).to.deep.equal([100, 100]);
  });

  it('keeps read-only chains read-only', async () => {
    const [a, b] = local as [string, string];
    expect((await rejection(t.client.invoke('Wallet', a, 'sneakyChain', [b]))).code).to.equal('NOT_READONLY');
    expect(await balance(b)).to.equal(100);
  });

  it('commits a chain across workers as one transaction (two-phase commit)', async () => {
    const [a] = local as [string];
    expect(await t.client.invoke('Wallet', a, 'transfer', [remote, 5])).to.equal(95);
    expect([await balance(a), await balance(remote)]).to.deep.equal([95, 105]);
    expect(await t.client.invoke('Wallet', remote, 'transfer', [a, 5])).to.equal(100);
    expect([await balance(a), await balance(remote)]).to.deep.equal([100, 100]);
    // a failing chain across workers applies nothing anywhere
    expect((await rejection(t.client.invoke('Wallet', a, 'transferThenThrow', [remote, 10]))).code).to.equal('METHOD_FAILED');
    expect([await balance(a), await balance(remote)]).to.deep.equal([100, 100]);
    // a read-only chain across workers
    expect(await t.client.invoke('Wallet', a, 'sum', [[remote]])).to.equal(200);
  });

  it('creates objects inside a transaction (ctx.create), here and on other workers', async () => {
    const [a] = local as [string];
    const cfg = await t.client.config();
    const owner = (id: string) => cfg.shards.find((s) => s.shard === shardOf('Wallet', id, cfg.numShards))?.chain?.[0];
    const here = owner(a);
    let near = '';
    let far = '';
    for (let i = 0; !near || !far; i++) {
      const id = `new${i}`;
      if (!near && owner(id) === here) near = id;
      if (!far && owner(id) !== here) far = id;
    }
    for (const id of [near, far]) {
      expect(await t.client.invoke('Wallet', a, 'fund', [id, 10])).to.equal(90);
      expect(await balance(id)).to.equal(10);
      // again: the object exists now, and nothing of the second chain is applied
      expect((await rejection(t.client.invoke('Wallet', a, 'fund', [id, 10]))).code).to.equal('OBJECT_EXISTS');
      expect(await balance(a)).to.equal(90);
      await t.client.invoke('Wallet', id, 'transfer', [a, 10]);
      expect(await balance(a)).to.equal(100);
    }
    // a chain that creates and then fails leaves no object behind
    for (const id of [`${near}-x`, `${far}-x`]) {
      expect((await rejection(t.client.invoke('Wallet', a, 'fundThenThrow', [id]))).code).to.equal('METHOD_FAILED');
      expect((await rejection(balance(id))).code).to.equal('OBJECT_NOT_FOUND');
    }
  });

  it('concurrent transfers keep the total; read-only chains always see a consistent total', async () => {
    const total = 100 * local.length;
    let stop = false;
    const sums: number[] = [];
    const readers = (async () => {
      while (!stop) sums.push((await t.client.invoke('Wallet', local[0]!, 'sum', [local.slice(1)])) as number);
    })();
    // Writers run 4 s, and on until the readers have completed 20 chains among them (a loaded
    // machine may get fewer through in 4 s), but at most 60 s.
    const deadline = Date.now() + 4000;
    const giveUp = Date.now() + 60_000;
    const writing = () => Date.now() < giveUp && (Date.now() < deadline || sums.length < 20);
    let ok = 0;
    let refused = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (writing()) {
        const from = local[Math.floor(Math.random() * local.length)]!;
        const to = local[Math.floor(Math.random() * local.length)]!;
        if (from === to) continue;
        try {
          await t.client.invoke('Wallet', from, 'transfer', [to, 1 + Math.floor(Math.random() * 20)]);
          ok++;
        } catch (err) {
          expect((err as { code: string }).code).to.equal('INSUFFICIENT_FUNDS');
          refused++;
        }
      }
    }));
    stop = true;
    await readers;
    const balances = await Promise.all(local.map(balance));
    expect(balances.reduce((x, y) => x + y, 0)).to.equal(total);
    for (const b of balances) expect(b).to.be.at.least(0);
    expect(ok).to.be.greaterThan(50);
    expect(sums.length, 'read-only chains completed while transfers ran').to.be.at.least(20);
    for (const s of sums) expect(s, 'a read-only chain saw a torn total').to.equal(total);
    void refused;
  });
});
