/**
 * The worker process as others see it: command line, `worker <id> ready`, heartbeats on a real
 * nats-server, a stable id across restarts on one data folder, clean exit 0 on SIGTERM.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { lambdastore } from '@lambdastore/proto';
import { eventually, startNatsServer, tempDir, type NatsServer } from '@lambdastore/testkit';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');

function run(args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('LAMBDASTORE_')));
  const child: ChildProcess = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  let signal: string | null = null;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code, sig) => { signal = sig; resolve(code); }));
  return { child, output: () => out, exit, why: () => `signal ${signal}; output:\n${out.slice(-4000)}` };
}

describe('worker service (process)', function () {
  this.timeout(30_000);
  let server: NatsServer;
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => { server = await startNatsServer(); dir = await tempDir('ls-wsvc-'); });
  after(async () => { await server?.stop(); await dir?.cleanup(); });

  it('joins with heartbeats, keeps its id on the same data folder, exits 0 on SIGTERM', async () => {
    const nc = await connect({ servers: server.url });
    const seen: lambdastore.Heartbeat[] = [];
    nc.subscribe('lambdastore.hb', { callback: (_e, m) => { seen.push(lambdastore.Heartbeat.decode(m.data)); } });
    const data = join(dir.path, 'w');
    const ids: string[] = [];
    for (let round = 0; round < 2; round++) {
      const p = run(['--nats', server.url, '--data', data, '--heartbeat-interval-ms', '100']);
      const line = await eventually(() => /worker (\S+) ready/.exec(p.output()) ?? undefined, 15_000, 'ready line');
      ids.push(line[1]!);
      await eventually(() => seen.some((h) => h.workerId === line[1] && h.pid === p.child.pid), 5000, 'a heartbeat');
      p.child.kill('SIGTERM');
      expect(await p.exit, p.why()).to.equal(0);
    }
    expect(ids[0]).to.match(/^w-[0-9a-f]{8}$/);
    expect(ids[1]).to.equal(ids[0]);
    await nc.close();
  });

  it('exits 2 with a usage line when arguments are missing', async () => {
    const p = run(['--nats', server.url]);
    expect(await p.exit).to.equal(2);
    expect(p.output()).to.match(/usage: worker --nats <url> --data <dir>/);
  });

  it('exits 1 with a clear message when NATS is unreachable', async () => {
    const p = run(['--nats', 'nats://127.0.0.1:1', '--data', join(dir.path, 'x')]);
    expect(await p.exit).to.equal(1);
    expect(p.output()).to.match(/worker failed to start/);
  });
});
