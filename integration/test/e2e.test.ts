/**
 * The walking skeleton end to end on a real cluster: nats-server + coordinator + 3 worker
 * processes. Types are deployed, objects created and invoked through the client, through plain
 * NATS (JSON and protobuf, without the client package) and through the CLI.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { connect as natsConnect, headers, type NatsConnection } from '@nats-io/transport-node';
import { lambdastore, encodeArgs, decodeResult, subjects } from '@lambdastore/proto';
import { startTestCluster, fixture, example, repoRoot, rejection, type TestCluster } from '../src/cluster.js';
import type { Counter as CounterDef } from '../fixtures/testtypes.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'services', 'cli', 'dist', 'src', 'main.js');

describe('walking skeleton, end to end', function () {
  this.timeout(120_000);
  let t: TestCluster;
  let nc: NatsConnection;

  before(async () => {
    t = await startTestCluster();
    nc = await natsConnect({ servers: t.cluster.natsUrl });
    const types = await t.client.deployFile(fixture('testtypes.ts'));
    expect(types.map((x) => x.name).sort()).to.deep.equal(['Counter', 'Relay', 'Wallet']);
    await t.client.deployFile(example('bank/account.ts'));
  });
  after(async () => {
    await nc?.close();
    await t?.stop();
  });

  it('spreads 16 shards over the 3 workers', async () => {
    const cfg = await t.client.config();
    expect(cfg.numShards).to.equal(16);
    const heads = new Set(cfg.shards.map((s) => s.chain?.[0]));
    expect(heads.size).to.equal(3);
    expect(cfg.types.map((x) => x.name).sort()).to.deep.equal(['Account', 'Counter', 'Relay', 'Wallet']);
  });

  it('creates objects and invokes methods through the client', async () => {
    expect(await t.client.create('Counter', 'c1', 10)).to.equal(undefined);
    expect(await t.client.invoke('Counter', 'c1', 'add', [5])).to.equal(15);
    expect(await t.client.invoke('Counter', 'c1', 'get')).to.equal(15);
    expect(await t.client.invoke('Counter', 'c1', 'echo', [1, 'two', { three: [3] }, null])).to.deep.equal([1, 'two', { three: [3] }, null]);
    const raw = await t.client.invoke('Counter', 'c1', 'bytes', [new Uint8Array([0, 1, 255])]);
    expect([...(raw as Uint8Array)]).to.deep.equal([0, 1, 255]);
  });

  it('offers a typed proxy', async () => {
    await t.client.create('Counter', 'typed');
    const c = t.client.object<typeof CounterDef>('Counter', 'typed');
    const n: number = await c.add(3);
    expect(n).to.equal(3);
    expect(await c.get()).to.equal(3);
  });

  it('runs the bank example: deposit, balance, withdraw refused cleanly', async () => {
    await t.client.create('Account', 'alice');
    await t.client.invoke('Account', 'alice', 'deposit', [100]);
    await t.client.invoke('Account', 'alice', 'withdraw', [30]);
    expect(await t.client.invoke('Account', 'alice', 'balance')).to.equal(70);
    const err = await rejection(t.client.invoke('Account', 'alice', 'withdraw', [71]));
    expect(err.code).to.equal('INSUFFICIENT_FUNDS');
    expect(await t.client.invoke('Account', 'alice', 'balance')).to.equal(70);
  });

  it('answers plain NATS requests with a JSON body on the ingress subject', async () => {
    const h = headers();
    h.set('Content-Type', 'application/json');
    const ask = async (body: unknown) => {
      const m = await nc.request('lambdastore.invoke', new TextEncoder().encode(JSON.stringify(body)), { timeout: 10_000, headers: h });
      return JSON.parse(new TextDecoder().decode(m.data)) as { ok: boolean; result?: unknown; error?: { code: string; message: string; retryable: boolean } };
    };
    expect(await ask({ type: 'Account', id: 'bob', create: true, idempotencyKey: 'create-bob' })).to.deep.equal({ ok: true });
    expect(await ask({ type: 'Account', id: 'bob', method: 'deposit', args: [5], idempotencyKey: 'k1' })).to.deep.include({ ok: true });
    // the same key again: applied once
    await ask({ type: 'Account', id: 'bob', method: 'deposit', args: [5], idempotencyKey: 'k1' });
    expect(await ask({ type: 'Account', id: 'bob', method: 'balance' })).to.deep.equal({ ok: true, result: 5 });
    const bad = await ask({ type: 'Account', id: 'bob', method: 'withdraw', args: [6] });
    expect(bad.ok).to.equal(false);
    expect(bad.error).to.deep.include({ code: 'INSUFFICIENT_FUNDS', retryable: false });
    const unknown = await ask({ type: 'Nope', id: 'x', method: 'm' });
    expect(unknown.error?.code).to.equal('UNKNOWN_TYPE');
    const malformed = await nc.request('lambdastore.invoke', new TextEncoder().encode('{not json'), { timeout: 10_000, headers: h });
    expect(JSON.parse(new TextDecoder().decode(malformed.data)).error.code).to.equal('MALFORMED_REQUEST');
  });

  it('answers plain NATS requests with a protobuf body on the ingress subject', async () => {
    const args = encodeArgs([7]);
    const req = lambdastore.InvokeRequest.encode({
      target: { type: 'Counter', id: 'c1' }, method: 'add', args: args.bytes, argsEncoding: args.encoding, idempotencyKey: 'proto-1',
    }).finish();
    const m = await nc.request(subjects().invoke, req, { timeout: 10_000 });
    const resp = lambdastore.InvokeResponse.decode(m.data);
    expect(resp.ok).to.equal(true);
    expect(decodeResult(resp.result, resp.resultEncoding)).to.equal(22);
    const garbage = lambdastore.InvokeResponse.decode((await nc.request(subjects().invoke, new Uint8Array([0xff, 0xff, 0xff]), { timeout: 10_000 })).data);
    expect(garbage.ok).to.equal(false);
    expect(garbage.error?.code).to.equal('MALFORMED_REQUEST');
  });

  it('works from the CLI: deploy, create, invoke, status', async () => {
    const env = { ...process.env, LAMBDASTORE_NATS_URL: t.cluster.natsUrl };
    const d = await run(process.execPath, [cli, 'deploy', example('bank/account.ts')], { env });
    expect(d.stdout).to.match(/Account/);
    await run(process.execPath, [cli, 'create', 'Account', 'carol'], { env });
    await run(process.execPath, [cli, 'invoke', 'Account', 'carol', 'deposit', '12'], { env });
    const b = await run(process.execPath, [cli, 'invoke', 'Account', 'carol', 'balance'], { env });
    expect(b.stdout.trim()).to.equal('12');
    const s = await run(process.execPath, [cli, 'status'], { env });
    expect(s.stdout).to.match(/worker-0/).and.to.match(/Account/);
    const fail = await run(process.execPath, [cli, 'invoke', 'Account', 'carol', 'withdraw', '13'], { env }).then(() => undefined, (e: { code: number; stderr: string }) => e);
    expect(fail?.code).to.equal(1);
    expect(fail?.stderr).to.match(/INSUFFICIENT_FUNDS/);
  });

  it('never loses an update under concurrent calls on one object', async () => {
    await t.client.create('Counter', 'hot');
    const n = 300;
    const results = await Promise.all(Array.from({ length: n }, () => t.client.invoke('Counter', 'hot', 'add', [1])));
    expect(await t.client.invoke('Counter', 'hot', 'get')).to.equal(n);
    // every call saw a distinct counter value: each was applied exactly once, serially
    expect(new Set(results).size).to.equal(n);
  });

  it('applies a request sent many times with one key exactly once', async () => {
    await t.client.create('Counter', 'once');
    const same = await Promise.all(Array.from({ length: 50 }, () => t.client.invoke('Counter', 'once', 'append', ['x'], { idempotencyKey: 'dup-1' })));
    const again = await t.client.invoke('Counter', 'once', 'append', ['x'], { idempotencyKey: 'dup-1' });
    expect(new Set([...same, again])).to.deep.equal(new Set([1]));
    expect(await t.client.invoke('Counter', 'once', 'log')).to.deep.equal(['x']);
  });

  it('refuses an idempotency key reused for a different call', async () => {
    await t.client.create('Counter', 'reuse');
    expect(await t.client.invoke('Counter', 'reuse', 'add', [1], { idempotencyKey: 'r-1' })).to.equal(1);
    expect(await t.client.invoke('Counter', 'reuse', 'add', [1], { idempotencyKey: 'r-1' })).to.equal(1); // a retry
    expect((await rejection(t.client.invoke('Counter', 'reuse', 'add', [2], { idempotencyKey: 'r-1' }))).code).to.equal('IDEMPOTENCY_KEY_REUSED');
    expect((await rejection(t.client.invoke('Counter', 'reuse', 'append', ['x'], { idempotencyKey: 'r-1' }))).code).to.equal('IDEMPOTENCY_KEY_REUSED');
    expect(await t.client.invoke('Counter', 'reuse', 'get')).to.equal(1);
  });

  it('a method that exhausts its thread memory fails once with WORKER_CRASHED; others go on', async () => {
    // Several rounds: a thread aborted for its time limit can hit the memory limit while it is
    // being terminated, after its call was settled; that must cost the thread, not the process.
    for (let round = 0; round < 4; round++) {
      const id = `hog-${round}`;
      await t.client.create('Counter', id);
      const started = Date.now();
      const err = await rejection(t.client.invoke('Counter', id, 'hog', [], { timeoutMs: 60_000 }));
      expect(err.code).to.be.oneOf(['WORKER_CRASHED', 'METHOD_TIMEOUT']);
      expect(err.retryable).to.equal(false);
      expect(Date.now() - started).to.be.lessThan(30_000);
      expect(await t.client.invoke('Counter', id, 'add', [1])).to.equal(1);
    }
    const { readFile } = await import('node:fs/promises');
    for (const w of t.cluster.workers) expect(await readFile(w.logFile, 'utf8')).not.to.match(/---- exited/);
  });

  it('exports no traces when no OTEL_* variable is set, and opens no connection but NATS', async () => {
    // Every test above made spans (1 root in 100 sampled, for the dashboard); none may have been
    // printed, and no process may hold a TCP connection to anything but the NATS server: an
    // exporter would have connected to its collector (localhost:4318 by default) by now.
    const { readFile, readdir, readlink } = await import('node:fs/promises');
    for (const w of t.cluster.workers) {
      const log = await readFile(w.logFile, 'utf8');
      expect(log, w.name).to.not.match(/traceId/);
    }
    for (const k of Object.keys(process.env)) expect(k.startsWith('OTEL_'), `test environment sets ${k}`).to.equal(false);
    const natsPort = Number(new URL(t.cluster.natsUrl).port);
    for (const p of [...t.cluster.workers, t.cluster.coordinator]) {
      const inodes = new Set<string>();
      for (const fd of await readdir(`/proc/${p.pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${p.pid}/fd/${fd}`).catch(() => ''));
        if (m) inodes.add(m[1]!);
      }
      const peers: number[] = [];
      for (const table of ['tcp', 'tcp6']) {
        const text = await readFile(`/proc/${p.pid}/net/${table}`, 'utf8');
        for (const line of text.split('\n').slice(1)) {
          const f = line.trim().split(/\s+/);
          // local, remote (hex ip:port), state (0A = LISTEN), ..., inode
          if (f.length < 10 || f[3] === '0A' || !inodes.has(f[9]!)) continue;
          peers.push(parseInt(f[2]!.split(':')[1]!, 16));
        }
      }
      expect(peers.length, `${p.name} has its NATS connection`).to.be.at.least(1);
      expect(peers.every((port) => port === natsPort), `${p.name} connects only to NATS (${peers.join(', ')})`).to.equal(true);
    }
  });

});
