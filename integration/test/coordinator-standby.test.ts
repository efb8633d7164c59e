/**
 * A standby coordinator (`lambdastore-coordinator --standby`) waits while the active one holds its
 * lease in JetStream KV, takes over within seconds when the active one is SIGKILLed, and then runs
 * failover as before: a killed head leaves its chains, writes go on, the restarted worker rejoins.
 * A second coordinator started without --standby while one is active refuses to start.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '@lambdastore/testkit';
import { startTestCluster, fixture, repoRoot, type TestCluster } from '../src/cluster.js';
import { watchHeartbeats, waitReplicated, type HeartbeatWatch } from '../src/replicas.js';

const coordinatorMain = join(repoRoot, 'services', 'coordinator', 'dist', 'src', 'main.js');

interface Proc {
  child: ChildProcess;
  output(): string;
  exit: Promise<number | null>;
}

function startCoordinator(t: TestCluster, extra: string[]): Proc {
  const child = spawn(process.execPath, [coordinatorMain, '--nats', t.cluster.natsUrl, '--prefix', t.cluster.prefix, '--heartbeat-timeout-ms', '1500', '--dashboard', 'off', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  return { child, output: () => out, exit: new Promise((r) => child.once('exit', (code) => r(code))) };
}

describe('standby coordinator', function () {
  this.timeout(240_000);
  let t: TestCluster;
  let hb: HeartbeatWatch;
  let standby: Proc | undefined;
  before(async () => {
    t = await startTestCluster({ coordinatorArgs: ['--heartbeat-timeout-ms', '1500'] });
    hb = await watchHeartbeats(t);
    await t.client.deployFile(fixture('testtypes.ts'));
  });
  after(async () => {
    standby?.child.kill('SIGKILL');
    await hb?.close();
    await t?.stop();
  });

  it('refuses a second active coordinator without --standby', async () => {
    const second = startCoordinator(t, []);
    expect(await second.exit).to.equal(1);
    expect(second.output()).to.match(/another coordinator is active/);
  });

  it('takes over within seconds of the active one being SIGKILLed; failover works after', async () => {
    standby = startCoordinator(t, ['--standby']);
    const s = standby;
    await eventually(() => /standby: another coordinator holds the lease/.test(s.output()), 30_000, 'the standby to wait for the lease');
    await t.client.create('Counter', 'standby');
    expect(await t.client.invoke('Counter', 'standby', 'add', [1])).to.equal(1);
    expect(s.output()).to.not.match(/coordinator ready/);

    const killedAt = Date.now();
    await t.cluster.killCoordinator('SIGKILL');
    await eventually(() => /coordinator ready/.test(s.output()), 30_000, 'the standby to take over');
    const tookMs = Date.now() - killedAt;
    // The lease is 3 s: "within a few seconds", with room for a slow machine.
    expect(tookMs, s.output()).to.be.below(15_000);
    expect(s.output()).to.match(/took over the lease/);

    // The new coordinator serves the map, and detects a dead head.
    const cfg = await waitReplicated(t, hb, 3, 60_000);
    const victimId = cfg.shards[0]!.chain![0]!;
    const victim = t.cluster.workers.findIndex((w) => w.id === victimId);
    await t.cluster.killWorker(victim, 'SIGKILL');
    await eventually(async () => (await t.client.config()).shards.every((x) => !(x.chain ?? []).includes(victimId)), 30_000, `${victimId} to leave every chain`);
    expect(await t.client.invoke('Counter', 'standby', 'add', [1], { timeoutMs: 30_000 })).to.equal(2);
    await t.cluster.restartWorker(victim);
    await waitReplicated(t, hb, 3, 90_000);
    expect(await t.client.invoke('Counter', 'standby', 'get')).to.equal(2);
  });
});
