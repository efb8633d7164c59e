/**
 * `lambdastore worker drain|add` on a real cluster: a drained worker leaves every chain while it
 * keeps running (its successors take over, writes go on, nothing is lost), and `worker add` lets it
 * back in as a tail with a state transfer. Bad input gets a usage error or INVALID_ARGUMENT.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { shardOf } from '@lambdastore/proto';
import { eventually } from '@lambdastore/testkit';
import { startTestCluster, fixture, repoRoot, type TestCluster } from '../src/cluster.js';
import { watchHeartbeats, waitReplicated, expectIdenticalReplicas, type HeartbeatWatch } from '../src/replicas.js';

const cliMain = join(repoRoot, 'services', 'cli', 'dist', 'src', 'main.js');

function cli(t: TestCluster, args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [cliMain, ...args, '--nats', t.cluster.natsUrl, '--prefix', t.cluster.prefix, '--timeout-ms', '60000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((r) => child.once('exit', (code) => r({ code, out })));
}

describe('lambdastore worker drain|add', function () {
  this.timeout(240_000);
  let t: TestCluster;
  let hb: HeartbeatWatch;
  before(async () => {
    t = await startTestCluster({ coordinatorArgs: ['--heartbeat-timeout-ms', '1500'] });
    hb = await watchHeartbeats(t);
    await t.client.deployFile(fixture('testtypes.ts'));
  });
  after(async () => {
    await hb?.close();
    await t?.stop();
  });

  it('refuses bad input', async () => {
    const unknown = await cli(t, ['worker', 'drain', 'no-such-worker']);
    expect(unknown.code).to.equal(1);
    expect(unknown.out).to.match(/INVALID_ARGUMENT.*no-such-worker/);
    const bad = await cli(t, ['worker', 'frobnicate', 'worker-0']);
    expect(bad.code).to.equal(2);
  });

  it('drains the head of a shard while writes go on, then lets it back in as a tail', async () => {
    await t.client.create('Counter', 'drained');
    let cfg = await waitReplicated(t, hb, 3, 60_000);
    const victim = cfg.shards.find((s) => s.shard === shardOf('Counter', 'drained', cfg.numShards))!.chain![0]!;
    let n = 0;
    for (let i = 0; i < 5; i++) n = (await t.client.invoke('Counter', 'drained', 'add', [1])) as number;

    const drained = await cli(t, ['worker', 'drain', victim]);
    expect(drained.code, drained.out).to.equal(0);
    expect(drained.out).to.match(new RegExp(`worker ${victim} drained`));
    cfg = await t.client.config();
    expect(cfg.shards.every((s) => !(s.chain ?? []).includes(victim) && (s.chain ?? []).length === 2)).to.equal(true);
    expect(cfg.workers.find((w) => w.id === victim)?.alive).to.equal(true);
    for (let i = 0; i < 5; i++) n = (await t.client.invoke('Counter', 'drained', 'add', [1], { timeoutMs: 30_000 })) as number;
    expect(n).to.equal(10);
    // It serves nothing now, though it runs.
    await eventually(() => (hb.latest.get(victim)?.shards.length ?? -1) === 0, 30_000, `${victim} to serve no shard`);

    const added = await cli(t, ['worker', 'add', victim]);
    expect(added.code, added.out).to.equal(0);
    cfg = await waitReplicated(t, hb, 3, 90_000);
    expect(cfg.shards.every((s) => (s.chain ?? []).includes(victim))).to.equal(true);
    expect(await t.client.invoke('Counter', 'drained', 'add', [1])).to.equal(11);
    await expectIdenticalReplicas(t, await waitReplicated(t, hb, 3, 60_000));
  });
});
