/**
 * The coordinator process as other processes see it: command line, `coordinator ready`, serving
 * admin requests on a real nats-server, clean exit 0 on SIGTERM/SIGINT.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { lambdastore, subjects } from '@lambdastore/proto';
import { eventually, startNatsServer, type NatsServer } from '@lambdastore/testkit';
import { parseServiceArgs, otelRequested } from '../src/index.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('LAMBDASTORE_')));
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...clean, ...env } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

describe('coordinator service (process)', function () {
  this.timeout(20_000);
  let server: NatsServer;
  const procs: Proc[] = [];

  before(async () => {
    server = await startNatsServer();
  });
  afterEach(async function () {
    for (const p of procs.splice(0)) {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      if (this.currentTest?.state === 'failed') console.error(`--- stdout\n${p.stdout()}\n--- stderr\n${p.stderr()}`);
    }
  });
  after(async () => {
    await server?.stop();
  });

  function start(args: string[], env?: NodeJS.ProcessEnv): Proc {
    const p = run(args, env);
    procs.push(p);
    return p;
  }

  it('prints "coordinator ready", assigns shards to a heartbeating worker, exits 0 on SIGTERM', async () => {
    const prefix = `svc${process.pid}a`;
    const p = start(['--nats', server.url, '--prefix', prefix, '--shards', '8', '--min-workers', '1', '--heartbeat-timeout-ms', '1500']);
    await eventually(() => p.stdout().includes('coordinator ready\n'), 10_000, 'coordinator ready');
    expect(p.stdout()).to.equal('coordinator ready\n');

    const s = subjects(prefix);
    const nc = await connect({ servers: server.url });
    try {
      nc.publish(s.heartbeat, lambdastore.Heartbeat.encode({ workerId: 'w1', startedAtMs: Date.now(), pid: 1 }).finish());
      const cfg = await eventually(async () => {
        const m = await nc.request(s.adminConfig, lambdastore.ConfigRequest.encode({}).finish(), { timeout: 2000 });
        const c = lambdastore.ConfigResponse.decode(m.data).config;
        return c && c.shards?.length === 8 ? c : undefined;
      }, 5000, 'shards assigned');
      expect(cfg.numShards).to.equal(8);
    } finally {
      await nc.close();
    }

    p.child.kill('SIGTERM');
    expect(await p.exit).to.equal(0);
  });

  it('reads the NATS URL from LAMBDASTORE_NATS_URL and exits 0 on SIGINT', async () => {
    const p = start([], { LAMBDASTORE_NATS_URL: server.url, LAMBDASTORE_PREFIX: `svc${process.pid}b` });
    await eventually(() => p.stdout().includes('coordinator ready'), 10_000, 'coordinator ready');
    p.child.kill('SIGINT');
    expect(await p.exit).to.equal(0);
  });

  it('exports deploy spans when OTEL_TRACES_EXPORTER is set, and still exits 0', async () => {
    const prefix = `svc${process.pid}c`;
    // Sampling is parent-based, 1 root in 100 by default: a deploy without a traced caller is a root.
    const p = start(['--nats', server.url, '--prefix', prefix], { OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'always_on', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' });
    await eventually(() => p.stdout().includes('coordinator ready'), 10_000, 'coordinator ready');
    const nc = await connect({ servers: server.url });
    try {
      const m = await nc.request(subjects(prefix).adminDeploy, lambdastore.DeployRequest.encode({ source: 'syntax error (', filename: 'bad.js' }).finish(), { timeout: 10_000 });
      expect(lambdastore.DeployResponse.decode(m.data).error?.code).to.equal('DEPLOY_INVALID');
    } finally {
      await nc.close();
    }
    p.child.kill('SIGTERM');
    expect(await p.exit).to.equal(0);
    expect(p.stdout()).to.include('coordinator.deploy');
  });

  it('exits 2 with usage when --nats is missing, 1 when NATS is unreachable', async () => {
    const usage = start([]);
    expect(await usage.exit).to.equal(2);
    expect(usage.stderr()).to.match(/--nats <url> is required/);
    const badShards = start(['--nats', server.url, '--shards', '0']);
    expect(await badShards.exit).to.equal(2);
    expect(badShards.stderr()).to.match(/numShards must be an integer in 1\.\.4096/);
    const unreachable = start(['--nats', 'nats://127.0.0.1:1']);
    expect(await unreachable.exit).to.equal(1);
    expect(unreachable.stderr()).to.match(/could not start/);
  });

  it('parses flags over environment and turns OTel on only when asked', () => {
    const a = parseServiceArgs(['--nats', 'nats://x:1', '--shards', '4'], { LAMBDASTORE_SHARDS: '9', LAMBDASTORE_MIN_WORKERS: '2' });
    expect(a).to.deep.include({ natsUrl: 'nats://x:1', numShards: 4, minWorkers: 2, heartbeatTimeoutMs: undefined, prefix: undefined });
    expect(() => parseServiceArgs(['--nats', 'n', '--shards', 'many'], {})).to.throw(/--shards/);
    expect(() => parseServiceArgs(['--bogus'], {})).to.throw();
    expect(otelRequested({})).to.equal(false);
    expect(otelRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318' })).to.equal(true);
  });
});
