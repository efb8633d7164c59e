/**
 * `lambdastore dev` supervises its workers: one killed with SIGKILL comes back on its own data, and
 * Ctrl-C (SIGINT) still stops everything with exit 0.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { lambdastore } from '@lambdastore/proto';
import { eventually, tempDir } from '@lambdastore/testkit';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');

describe('lambdastore dev supervision', function () {
  this.timeout(90_000);

  it('restarts a worker killed with SIGKILL, then stops cleanly on SIGINT', async () => {
    const dir = await tempDir('ls-devsup-');
    const child = spawn(process.execPath, [MAIN, 'dev', '--workers', '2', '--data', join(dir.path, 'dev')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    try {
      await eventually(() => out.includes('Press Ctrl-C to stop.'), 60_000, 'the dev cluster to come up');
      const info = JSON.parse(await readFile(join(dir.path, 'dev', 'cluster.json'), 'utf8')) as { natsUrl: string };
      const nc = await connect({ servers: info.natsUrl });
      const pids = new Map<string, number>();
      nc.subscribe('lambdastore.hb', { callback: (_e, m) => { const hb = lambdastore.Heartbeat.decode(m.data); pids.set(hb.workerId, hb.pid); } });
      const first = await eventually(() => pids.get('worker-0'), 10_000, 'a heartbeat of worker-0');
      process.kill(first, 'SIGKILL');
      const second = await eventually(() => { const p = pids.get('worker-0'); return p !== first && p; }, 30_000, 'worker-0 back with a new pid');
      expect(second).to.not.equal(first);
      expect(out).to.match(/restarting worker-0/);
      await nc.close();
      child.kill('SIGINT');
      expect(await exit).to.equal(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await dir.cleanup();
    }
  });
});
