/**
 * Chain replication on real processes: a write is acknowledged only once the tail has it, and
 * a bank workload survives its head, a middle and a tail worker being SIGKILLed (and restarted) in
 * turn with every acknowledged transfer present exactly once, the total unchanged, and every replica
 * of every shard byte-for-byte identical.
 */
import { expect } from 'chai';
import { shardOf } from '@lambdastore/proto';
import { eventually } from '@lambdastore/testkit';
import { startTestCluster, fixture, placeObjects, type TestCluster } from '../src/cluster.js';
import { watchHeartbeats, waitReplicated, expectIdenticalReplicas, type HeartbeatWatch } from '../src/replicas.js';
import { BankWorkload } from '../src/bank-workload.js';
import { ListAppendWorkload } from '../src/list-append-workload.js';

describe('chain replication', function () {
  this.timeout(600_000);
  // Workloads still running when a test failed: stopped before its cluster is.
  const running: Array<{ stop(): Promise<void> }> = [];
  const stopWorkloads = async () => { for (const w of running.splice(0)) await w.stop().catch(() => undefined); };

  describe('acknowledgement at the tail', () => {
    let t: TestCluster;
    let hb: HeartbeatWatch;
    before(async () => {
      // A long failure timeout: the paused tail must stay in its chain for this test.
      t = await startTestCluster({ coordinatorArgs: ['--heartbeat-timeout-ms', '60000'] });
      hb = await watchHeartbeats(t);
      await t.client.deployFile(fixture('testtypes.ts'));
    });
    after(async () => {
      await stopWorkloads();
      await hb?.close();
      await t?.stop();
    });

    it('holds the reply while the tail is paused and sends it once the tail has the record', async () => {
      await t.client.create('Counter', 'acked');
      const cfg = await waitReplicated(t, hb, 3, 60_000);
      const chain = cfg.shards.find((s) => s.shard === shardOf('Counter', 'acked', cfg.numShards))!.chain!;
      const head = chain[0]!;
      const tail = t.cluster.workers.findIndex((w) => w.id === chain[2]);
      t.cluster.signalWorker(tail, 'SIGSTOP');
      let done = false;
      const write = t.client.invoke('Counter', 'acked', 'add', [5], { timeoutMs: 60_000 }).finally(() => { done = true; });
      try {
        // The head has the record (durable there) and waits for the chain's acknowledgement.
        await eventually(() => (hb.latest.get(head)?.unackedRecords ?? 0) > 0, 30_000, 'the head to hold an unacknowledged record');
        expect(done, 'a write was acknowledged while the tail was paused').to.equal(false);
      } finally {
        t.cluster.signalWorker(tail, 'SIGCONT');
      }
      expect(await write).to.equal(5);
      expect(await t.client.invoke('Counter', 'acked', 'get')).to.equal(5);
    });
  });

  describe('bank transfers while a head, a middle and a tail are killed', () => {
    let t: TestCluster;
    let hb: HeartbeatWatch;
    before(async () => {
      t = await startTestCluster({ coordinatorArgs: ['--heartbeat-timeout-ms', '1500'] });
      hb = await watchHeartbeats(t);
      await t.client.deployFile(fixture('bank.ts'));
    });
    after(async () => {
      await stopWorkloads();
      await hb?.close();
      await t?.stop();
    });

    it('loses no acknowledged transfer, duplicates none, and leaves every replica identical', async () => {
      const bank = new BankWorkload(t);
      running.push(bank);
      await bank.setup();
      await waitReplicated(t, hb, 3, 60_000);
      await bank.start();
      const roles = ['head', 'middle', 'tail'] as const;
      for (let r = 0; r < roles.length; r++) {
        await bank.progress(20, 'transfers to go through');
        const cfg = await t.client.config();
        const victimId = cfg.shards.find((s) => s.shard === 0)!.chain![r]!;
        const victim = t.cluster.workers.findIndex((w) => w.id === victimId);
        await t.cluster.killWorker(victim, 'SIGKILL');
        // Failover: the coordinator takes it out of every chain, and transfers go on meanwhile.
        await eventually(async () => (await t.client.config()).shards.every((s) => !(s.chain ?? []).includes(victimId)), 30_000, `${victimId} (${roles[r]}) to leave every chain`);
        await bank.progress(20, `transfers to go on without ${victimId}`);
        await t.cluster.restartWorker(victim);
        await waitReplicated(t, hb, 3, 90_000, true);
      }
      await bank.stop();
      expect(bank.acked.size).to.be.greaterThan(100);
      await bank.audit();
      await expectIdenticalReplicas(t, await waitReplicated(t, hb, 3, 60_000));
    });
  });

  describe('a head paused past the failure timeout, then resumed', () => {
    let t: TestCluster;
    let hb: HeartbeatWatch;
    before(async () => {
      t = await startTestCluster({ coordinatorArgs: ['--heartbeat-timeout-ms', '1500'] });
      hb = await watchHeartbeats(t);
      await t.client.deployFile(fixture('txntypes.ts'));
    });
    after(async () => {
      await stopWorkloads();
      await hb?.close();
      await t?.stop();
    });

    it('acknowledges nothing in its old role: the list-append history stays serializable, every append exactly once', async () => {
      const cfg = await waitReplicated(t, hb, 3, 60_000);
      const lists = placeObjects(cfg, 'Reg', 6, 'across-workers', 'paused');
      for (const id of lists) await t.client.create('Reg', id);
      const victimId = cfg.shards.find((s) => s.shard === shardOf('Reg', lists[0]!, cfg.numShards))!.chain![0]!;
      const victim = t.cluster.workers.findIndex((w) => w.id === victimId);

      const appends = new ListAppendWorkload(t, lists);
      running.push(appends);
      await appends.start(8);
      await appends.progress(30, 'appends before the pause');
      t.cluster.signalWorker(victim, 'SIGSTOP');
      try {
        await eventually(async () => (await t.client.config()).shards.every((s) => s.chain?.[0] !== victimId), 30_000, `${victimId} to lose every head role`);
        await appends.progress(30, `appends while ${victimId} is paused`);
      } finally {
        t.cluster.signalWorker(victim, 'SIGCONT');
      }
      // Requests that queued up for it while it slept reach it now, in its old role, with its old map.
      await appends.progress(30, `appends after ${victimId} woke up`);
      await waitReplicated(t, hb, 3, 90_000, true);
      await appends.progress(10, `appends with ${victimId} back as tail`);
      await appends.stop();
      await appends.check();
    });
  });

  describe('the coordinator killed during the workload and restarted', () => {
    let t: TestCluster;
    let hb: HeartbeatWatch;
    before(async () => {
      t = await startTestCluster({ coordinatorArgs: ['--heartbeat-timeout-ms', '1500'] });
      hb = await watchHeartbeats(t);
      await t.client.deployFile(fixture('bank.ts'));
    });
    after(async () => {
      await stopWorkloads();
      await hb?.close();
      await t?.stop();
    });

    it('loses nothing, and a head killed afterwards still fails over', async () => {
      const bank = new BankWorkload(t);
      running.push(bank);
      await bank.setup();
      await waitReplicated(t, hb, 3, 60_000);
      await bank.start();
      await bank.progress(20, 'transfers to go through');
      await t.cluster.killCoordinator('SIGKILL');
      // Workers keep serving with the map they have.
      await bank.progress(20, 'transfers to go on without a coordinator');
      await t.cluster.restartCoordinator();
      await bank.progress(20, 'transfers after the coordinator restarted');

      const cfg = await t.client.config();
      const victimId = cfg.shards.find((s) => s.shard === 0)!.chain![0]!;
      const victim = t.cluster.workers.findIndex((w) => w.id === victimId);
      await t.cluster.killWorker(victim, 'SIGKILL');
      await eventually(async () => (await t.client.config()).shards.every((s) => !(s.chain ?? []).includes(victimId)), 30_000, `${victimId} to leave every chain`);
      await bank.progress(20, `transfers to go on without ${victimId}`);
      await t.cluster.restartWorker(victim);
      await waitReplicated(t, hb, 3, 90_000, true);
      await bank.stop();
      await bank.audit();
      await expectIdenticalReplicas(t, await waitReplicated(t, hb, 3, 60_000));
    });
  });
});
