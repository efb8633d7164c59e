/**
 * A worker killed with SIGKILL and started again on the same data folder loses no acknowledged
 * write: every call the client saw succeed is in the object afterwards, exactly once.
 */
import { expect } from 'chai';
import { startTestCluster, fixture, type TestCluster } from '../src/cluster.js';

describe('durability across SIGKILL', function () {
  this.timeout(180_000);
  let t: TestCluster;

  before(async () => {
    t = await startTestCluster();
    await t.client.deployFile(fixture('testtypes.ts'));
  });
  after(async () => { await t?.stop(); });

  it('keeps every acknowledged write of a worker killed mid-stream', async () => {
    const cfg = await t.client.config();
    const { shardOf } = await import('@lambdastore/proto');
    // objects that live on worker-0, the one we kill
    const victim = t.cluster.workers[0]!;
    const ids: string[] = [];
    for (let i = 0; ids.length < 8; i++) {
      const id = `d${i}`;
      const shard = shardOf('Counter', id, cfg.numShards);
      if (cfg.shards.find((s) => s.shard === shard)?.chain?.[0] === victim.id) ids.push(id);
    }
    for (const id of ids) await t.client.create('Counter', id);

    const acked = new Map<string, string[]>(ids.map((id) => [id, []]));
    let stop = false;
    let seq = 0;
    const writers = ids.map(async (id) => {
      while (!stop) {
        const token = `t${seq++}`;
        try {
          await t.client.invoke('Counter', id, 'append', [token], { timeoutMs: 30_000, idempotencyKey: `dur-${token}` });
          acked.get(id)!.push(token);
        } catch {
          // unacknowledged: may or may not be applied, and the check allows both
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    await t.cluster.killWorker(0, 'SIGKILL');
    const before = [...acked.values()].reduce((a, l) => a + l.length, 0);
    await t.cluster.restartWorker(0);
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(writers);

    expect(before).to.be.greaterThan(0);
    for (const id of ids) {
      // the restarted worker may still be rejoining: allow the read a failover's time
      const log = (await t.client.invoke('Counter', id, 'log', [], { timeoutMs: 30_000 })) as string[];
      const present = new Set(log);
      expect(present.size, `${id}: duplicates in log`).to.equal(log.length);
      for (const token of acked.get(id)!) expect(present.has(token), `${id}: acknowledged ${token} lost`).to.equal(true);
    }
  });
});
