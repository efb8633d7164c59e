import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@lambdastore/client';
import { tempDir } from '@lambdastore/testkit';
import { startDevCluster, type DevCluster } from '../src/dev-cluster.js';
import { usageBanner } from '../src/dev.js';

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startDevCluster', function () {
  this.timeout(90_000);
  let dir: { path: string; cleanup: () => Promise<void> };
  let cluster: DevCluster | undefined;

  before(async () => {
    dir = await tempDir('lambdastore-devcluster-');
  });
  after(async () => {
    await cluster?.stop();
    await dir.cleanup();
  });

  it('starts nats, coordinator and workers, survives a worker restart, and stops everything', async () => {
    cluster = await startDevCluster({ workers: 2, dataDir: dir.path, threads: 1, readyTimeoutMs: 30_000 });
    const info = JSON.parse(readFileSync(join(dir.path, 'cluster.json'), 'utf8'));
    expect(info).to.deep.equal({ natsUrl: cluster.natsUrl, prefix: 'lambdastore', pid: process.pid });
    expect(existsSync(join(dir.path, 'logs', 'worker-0.log'))).to.equal(true);
    // `lambdastore dev` prints where the coordinator serves the ops dashboard.
    expect(cluster.dashboardUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(usageBanner(cluster)).to.include(`Ops:     ${cluster.dashboardUrl}`);
    expect((await fetch(cluster.dashboardUrl!)).headers.get('content-type')).to.match(/^text\/html/);

    const cfg = await cluster.config();
    expect(cfg.workers.filter((w) => w.alive).map((w) => w.id).sort()).to.deep.equal(['worker-0', 'worker-1']);
    expect(cfg.shards.length).to.equal(cfg.numShards);

    // A second cluster on the same folder is refused while this one lives.
    let refused: unknown;
    try {
      await startDevCluster({ workers: 1, dataDir: dir.path });
    } catch (err) {
      refused = err;
    }
    expect(String(refused)).to.match(/already using/);

    const client = await connect({ servers: cluster.natsUrl });
    try {
      await client.deployFile(join(import.meta.dirname, '../../../../examples/bank/account.ts'));
      await client.create('Account', 'a1', 10);
      await client.invoke('Account', 'a1', 'deposit', [5]);

      const oldPid = cluster.workers[1]!.pid;
      await cluster.killWorker(1);
      expect(alive(oldPid)).to.equal(false);
      expect(cluster.workers[1]!.running).to.equal(false);
      await cluster.restartWorker(1);
      expect(cluster.workers[1]!.running).to.equal(true);
      expect(cluster.workers[1]!.pid).to.not.equal(oldPid);
      // Data survives on the same folder: a1 is reachable whichever worker holds it.
      expect(await client.invoke('Account', 'a1', 'balance', [], { timeoutMs: 20_000 })).to.equal(15);
    } finally {
      await client.close();
    }

    const pids = [cluster.nats.pid, cluster.coordinator.pid, ...cluster.workers.map((w) => w.pid)];
    await cluster.stop();
    await cluster.stop(); // idempotent
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).to.equal(false);
    expect(existsSync(join(dir.path, 'cluster.json'))).to.equal(false);
  });

  it('fails with the child output and leaves nothing running when a child cannot start', async () => {
    const d = await tempDir('lambdastore-devcluster-bad-');
    try {
      let err: unknown;
      try {
        await startDevCluster({ workers: 1, dataDir: d.path, coordinatorArgs: ['--no-such-option'], readyTimeoutMs: 10_000 });
      } catch (e) {
        err = e;
      }
      expect(String(err)).to.match(/coordinator/);
      expect(existsSync(join(d.path, 'cluster.json'))).to.equal(false);
    } finally {
      await d.cleanup();
    }
  });

  it('stops processes an earlier dev cluster on the same folder left behind (its parent was killed)', async () => {
    const d = await tempDir('lambdastore-devcluster-orphan-');
    const { spawn } = await import('node:child_process');
    const { realpathSync } = await import('node:fs');
    const dataDir = realpathSync(d.path);
    // stands in for a worker whose dev parent died with kill -9: same marker in its environment
    const orphan = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env: { ...process.env, LAMBDASTORE_DEV_DATA: dataDir }, stdio: 'ignore' });
    const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env: { ...process.env, LAMBDASTORE_DEV_DATA: dataDir + '-other' }, stdio: 'ignore' });
    const orphanExit = new Promise((r) => orphan.once('exit', r));
    let c: DevCluster | undefined;
    try {
      c = await startDevCluster({ workers: 1, dataDir, threads: 1 });
      await orphanExit;
      expect(orphan.signalCode).to.equal('SIGKILL');
      expect(bystander.exitCode === null && bystander.signalCode === null, 'another folder\'s process is left alone').to.equal(true);
    } finally {
      await c?.stop();
      orphan.kill('SIGKILL');
      bystander.kill('SIGKILL');
      await d.cleanup();
    }
  });
});
