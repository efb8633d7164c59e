/**
 * `lambdastore dev` supervises its workers: one killed with SIGKILL comes back on its own data, and
 * Ctrl-C (SIGINT) still stops everything with exit 0.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { lambdastore } from '@lambdastore/proto';
import { eventually, tempDir } from '@lambdastore/testkit';
import { run } from '../src/cli.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');
/** services/cli/dist/test -> the repository's examples/bank/account.ts (the README tour's type). */
const ACCOUNT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'examples', 'bank', 'account.ts');

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
      await eventually(() => out.includes('[dev] worker-0 is back'), 30_000, 'the supervisor to report worker-0 back');
      // Printed once per restart (the supervisor and the cluster used to both print it).
      expect(out.match(/restarting worker-0/g)).to.have.length(1);
      await nc.close();
      child.kill('SIGINT');
      expect(await exit).to.equal(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await dir.cleanup();
    }
  });
});

/** Pids of the live children of `parent` whose command line contains `needle` (Linux /proc). */
function childrenOf(parent: number, needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('lambdastore dev supervision of the coordinator', function () {
  this.timeout(120_000);

  it('restarts a coordinator killed with SIGKILL; deploy and create work afterwards', async () => {
    const dir = await tempDir('ls-devcoord-');
    const data = join(dir.path, 'dev');
    const child = spawn(process.execPath, [MAIN, 'dev', '--workers', '2', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const cli = async (...argv: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await run([...argv, '--data', data], { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; } });
      return { code, stdout, stderr };
    };
    try {
      await eventually(() => out.includes('Press Ctrl-C to stop.'), 60_000, 'the dev cluster to come up');
      const [first] = await eventually(() => { const p = childrenOf(child.pid!, 'coordinator/dist'); return p.length === 1 && p; }, 10_000, 'the coordinator process');
      process.kill(first!, 'SIGKILL');
      await eventually(() => out.includes('[dev] coordinator is back'), 60_000, 'the supervisor to report the coordinator back');
      const [second] = childrenOf(child.pid!, 'coordinator/dist');
      expect(second).to.be.a('number').and.not.equal(first);
      // Printed once per restart (the supervisor and the cluster used to both print it).
      expect(out.match(/restarting coordinator/g)).to.have.length(1);

      const deployed = await cli('deploy', ACCOUNT);
      expect(deployed, deployed.stderr).to.include({ code: 0 });
      expect(deployed.stdout).to.match(/deployed Account v\d+/);
      const created = await cli('create', 'Account', 'carol', '7');
      expect(created, created.stderr).to.deep.include({ code: 0, stdout: 'created Account carol' });
      const dep = await cli('invoke', 'Account', 'carol', 'deposit', '5');
      expect(dep, dep.stderr).to.deep.include({ code: 0, stdout: '12' });

      child.kill('SIGINT');
      expect(await exit).to.equal(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await dir.cleanup();
    }
  });
});
