import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, eventually, tempDir, type NatsServer } from '@lambdastore/testkit';
import { lambdastore, shardOf, subjects, decodeArgs, ENCODING, LambdaStoreError } from '@lambdastore/proto';
import { loadModule } from '@lambdastore/sdk/runtime';
import { connect, LambdaStoreClient, type ClientOptions } from '../src/index.js';
import { FakeCoordinator, FakeWorker, fail, makeConfig, ok, peer } from './helpers.js';

const S = subjects();

async function rejects(p: Promise<unknown>): Promise<LambdaStoreError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(LambdaStoreError);
    return err as LambdaStoreError;
  }
  throw new Error('expected a rejection');
}

describe('LambdaStoreClient against a real nats-server', function () {
  this.timeout(20_000);
  let nats: NatsServer;
  let nc: NatsConnection;
  const cleanups: Array<() => unknown> = [];

  before(async () => {
    nats = await startNatsServer();
    nc = await peer(nats.url);
  });
  after(async () => {
    await nc?.close();
    await nats?.stop();
  });
  afterEach(async function () {
    while (cleanups.length) await cleanups.pop()!();
    if (this.currentTest?.state === 'failed') console.log(nats.log().slice(-2000));
  });

  async function client(opts: Partial<ClientOptions> = {}): Promise<LambdaStoreClient> {
    const c = await connect({ servers: nats.url, requestTimeoutMs: 1000, ...opts });
    cleanups.push(() => c.close());
    return c;
  }
  function worker(handler: ConstructorParameters<typeof FakeWorker>[1], ...subs: string[]): FakeWorker {
    const w = new FakeWorker(nc, handler);
    for (const s of subs) w.listen(s);
    cleanups.push(() => w.stop());
    return w;
  }
  function coordinator(cfg: lambdastore.ClusterConfig): FakeCoordinator {
    const c = new FakeCoordinator(nc, cfg);
    cleanups.push(() => c.stop());
    return c;
  }
  const allShards = (n: number) => Array.from({ length: n }, (_, i) => S.shardInvoke(i));

  it('loads the config on connect and routes each object to its shard subject', async () => {
    coordinator(makeConfig(7, 8));
    const w = worker((req) => ok(`${req.target!.id}:${req.method}`), ...allShards(8));
    await nc.flush();
    const c = await client();
    expect(c.cachedConfig?.version).to.equal(7);
    const ids = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
    for (const id of ids) expect(await c.invoke('Account', id, 'deposit', [5])).to.equal(`${id}:deposit`);
    expect(w.received).to.have.length(ids.length);
    w.received.forEach((r, i) => {
      expect(r.subject).to.equal(S.shardInvoke(shardOf('Account', ids[i]!, 8)));
      expect(r.req.target!.type).to.equal('Account');
      expect(r.req.configVersion).to.equal(7);
      expect(r.req.attempt).to.equal(1);
      expect(r.req.create).to.equal(false);
      expect(r.req.idempotencyKey).to.match(/^[0-9a-f]{32}$/);
      expect(r.req.timeoutMs).to.be.within(1, 10_000);
      expect(decodeArgs(r.req.args, r.req.argsEncoding)).to.deep.equal([5]);
    });
    expect(new Set(w.received.map((r) => r.req.idempotencyKey)).size).to.equal(ids.length);
  });

  it('sends to the ingress subject while no config is known', async () => {
    const w = worker(() => ok(42), S.invoke);
    await nc.flush();
    const c = await client();
    expect(c.cachedConfig).to.equal(undefined);
    expect(await c.invoke('Account', 'a', 'balance')).to.equal(42);
    expect(w.received[0]!.req.configVersion).to.equal(0);
  });

  it('create sends create:true with the init args', async () => {
    const w = worker(() => ok(undefined), S.invoke);
    await nc.flush();
    const c = await client();
    expect(await c.create('Account', 'a', { owner: 'x' }, 3)).to.equal(undefined);
    const r = w.received[0]!.req;
    expect(r.create).to.equal(true);
    expect(r.method).to.equal('');
    expect(decodeArgs(r.args, r.argsEncoding)).to.deep.equal([{ owner: 'x' }, 3]);
  });

  it('retries a retryable error with the same idempotency key, honouring retryAfterMs', async () => {
    const w = worker((_req, n) => (n < 3 ? fail('OVERLOADED', 'busy', { retryable: true, retryAfterMs: 30 }) : ok('done')), S.invoke);
    await nc.flush();
    const c = await client();
    const t0 = Date.now();
    expect(await c.invoke('Account', 'a', 'deposit', [1])).to.equal('done');
    expect(Date.now() - t0).to.be.at.least(60);
    expect(w.received.map((r) => r.req.attempt)).to.deep.equal([1, 2, 3]);
    expect(new Set(w.received.map((r) => r.req.idempotencyKey)).size).to.equal(1);
  });

  it('uses the caller idempotency key on every attempt', async () => {
    const w = worker((_req, n) => (n === 1 ? fail('TXN_ABORTED', 'conflict', { retryable: true }) : ok(1)), S.invoke);
    await nc.flush();
    const c = await client();
    await c.invoke('Account', 'a', 'deposit', [1], { idempotencyKey: 'my-key-1' });
    expect(w.received.map((r) => r.req.idempotencyKey)).to.deep.equal(['my-key-1', 'my-key-1']);
  });

  it('retries a request that timed out, with the same key, and reports TIMEOUT at the deadline', async () => {
    const w = worker(() => undefined, S.invoke);
    await nc.flush();
    const c = await client({ requestTimeoutMs: 100 });
    const t0 = Date.now();
    const err = await rejects(c.invoke('Account', 'a', 'deposit', [1], { timeoutMs: 600 }));
    const elapsed = Date.now() - t0;
    expect(err.code).to.equal('TIMEOUT');
    expect(err.retryable).to.equal(true);
    expect(elapsed).to.be.within(500, 1500);
    expect(w.received.length).to.be.at.least(2);
    expect(new Set(w.received.map((r) => r.req.idempotencyKey)).size).to.equal(1);
    expect(w.received.map((r) => r.req.attempt)).to.deep.equal(w.received.map((_, i) => i + 1));
  });

  it('follows a WRONG_SHARD redirect: refreshes the config and re-routes at once', async () => {
    const coord = coordinator(makeConfig(1, 8));
    await nc.flush();
    const c = await client();
    expect(c.cachedConfig?.version).to.equal(1);
    const home = shardOf('Account', 'alice', 8);
    const moved = (home + 3) % 8;
    coord.config = makeConfig(2, 8);
    const fetchesBefore = coord.configFetches;
    const w = worker(
      (_req, _n, subject) =>
        subject === S.shardInvoke(home)
          ? fail('WRONG_SHARD', 'moved', { retryable: true, redirect: { shard: moved, workerId: 'w2', configVersion: 2 } })
          : ok('here'),
      ...allShards(8),
    );
    await nc.flush();
    const t0 = Date.now();
    expect(await c.invoke('Account', 'alice', 'deposit', [1])).to.equal('here');
    expect(Date.now() - t0).to.be.below(500);
    expect(w.received.map((r) => r.subject)).to.deep.equal([S.shardInvoke(home), S.shardInvoke(moved)]);
    expect(coord.configFetches).to.equal(fetchesBefore + 1);
    expect(c.cachedConfig?.version).to.equal(2);
    expect(w.received[1]!.req.configVersion).to.equal(2);
    expect(w.received[1]!.req.idempotencyKey).to.equal(w.received[0]!.req.idempotencyKey);
  });

  it('WRONG_SHARD without a hint refreshes the config and routes by the new shard count', async () => {
    const coord = coordinator(makeConfig(1, 4));
    await nc.flush();
    const c = await client();
    coord.config = makeConfig(2, 16);
    const oldShard = shardOf('Account', 'zed', 4);
    const newShard = shardOf('Account', 'zed', 16);
    const w = worker(
      (req) => (req.configVersion < 2 ? fail('WRONG_SHARD', 'stale map', { retryable: true }) : ok('ok')),
      ...allShards(16),
    );
    await nc.flush();
    expect(await c.invoke('Account', 'zed', 'balance')).to.equal('ok');
    expect(w.received[0]!.subject).to.equal(S.shardInvoke(oldShard));
    expect(w.received.at(-1)!.subject).to.equal(S.shardInvoke(newShard));
    expect(c.cachedConfig?.numShards).to.equal(16);
  });

  it('no responders and no config: NO_WORKERS after a bounded number of attempts', async () => {
    const c = await client({ maxAttempts: 3 });
    const t0 = Date.now();
    const err = await rejects(c.invoke('Account', 'a', 'deposit', [1]));
    expect(err.code).to.equal('NO_WORKERS');
    expect(err.retryable).to.equal(true);
    expect(Date.now() - t0).to.be.below(1000);
  });

  it('no responders on an assigned shard: SHARD_UNAVAILABLE; on an unassigned one: NO_WORKERS', async () => {
    const id = 'x1';
    const home = shardOf('Account', id, 4);
    coordinator(makeConfig(1, 4, (s) => (s === home ? 'w1' : undefined)));
    await nc.flush();
    const c = await client({ maxAttempts: 2 });
    expect((await rejects(c.invoke('Account', id, 'm'))).code).to.equal('SHARD_UNAVAILABLE');
    const other = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].find((i) => shardOf('Account', i, 4) !== home)!;
    expect((await rejects(c.invoke('Account', other, 'm'))).code).to.equal('NO_WORKERS');
  });

  it('throws non-retryable errors at once with their code (application errors included)', async () => {
    const w = worker(() => fail('INSUFFICIENT_FUNDS', 'balance 3 < 5'), S.invoke);
    await nc.flush();
    const c = await client();
    const err = await rejects(c.invoke('Account', 'a', 'withdraw', [5]));
    expect(err.code).to.equal('INSUFFICIENT_FUNDS');
    expect(err.message).to.equal('balance 3 < 5');
    expect(err.retryable).to.equal(false);
    expect(w.received).to.have.length(1);

    w.setHandler(() => fail('OBJECT_NOT_FOUND', 'no such object'));
    expect((await rejects(c.invoke('Account', 'b', 'withdraw', [5]))).code).to.equal('OBJECT_NOT_FOUND');
    expect(w.received).to.have.length(2);
  });

  it('config broadcasts update the cached map; older versions are ignored', async () => {
    const c = await client();
    const coord = new FakeCoordinator(nc, makeConfig(5, 4));
    coord.stop(); // broadcast only: no admin answers
    coord.broadcast(makeConfig(5, 4));
    await eventually(() => c.cachedConfig?.version === 5, 5000, 'config v5 to arrive');
    coord.broadcast(makeConfig(3, 32));
    coord.broadcast(makeConfig(6, 2));
    await eventually(() => c.cachedConfig?.version === 6, 5000, 'config v6 to arrive');
    expect(c.cachedConfig?.numShards).to.equal(2);
    const w = worker(() => ok(null), ...allShards(2));
    await nc.flush();
    await c.invoke('Account', 'q', 'balance');
    expect(w.received[0]!.subject).to.equal(S.shardInvoke(shardOf('Account', 'q', 2)));
  });

  it('learns the config lazily when the coordinator comes up after connect', async () => {
    const w = worker(() => ok(1), S.invoke, ...allShards(4));
    await nc.flush();
    const c = await client();
    expect(c.cachedConfig).to.equal(undefined);
    coordinator(makeConfig(9, 4));
    await nc.flush();
    await eventually(async () => {
      await c.invoke('Account', 'a', 'balance');
      return c.cachedConfig?.version === 9;
    }, 5000, 'a background config fetch');
    await c.invoke('Account', 'a', 'balance');
    expect(w.received.at(-1)!.subject).to.equal(S.shardInvoke(shardOf('Account', 'a', 4)));
  });

  it('config() asks the coordinator; without one it fails COORDINATOR_UNAVAILABLE', async () => {
    const c = await client();
    expect((await rejects(c.config())).code).to.equal('COORDINATOR_UNAVAILABLE');
    coordinator(makeConfig(4, 2));
    await nc.flush();
    const cfg = await c.config();
    expect(cfg.version).to.equal(4);
    expect(cfg.types[0]!.name).to.equal('Account');
  });

  it('raw bytes travel raw both ways', async () => {
    const w = worker((req) => {
      expect(req.argsEncoding).to.equal(ENCODING.RAW);
      return { ok: true, result: req.args.slice().reverse(), resultEncoding: ENCODING.RAW };
    }, S.invoke);
    await nc.flush();
    const c = await client();
    const out = await c.invoke('Blob', 'b', 'reverse', [new Uint8Array([1, 2, 3])]);
    expect(out).to.be.instanceOf(Uint8Array);
    expect(Array.from(out as Uint8Array)).to.deep.equal([3, 2, 1]);
    expect(w.received).to.have.length(1);
  });

  it('an AbortSignal stops waiting', async () => {
    worker(() => undefined, S.invoke);
    await nc.flush();
    const c = await client();
    const ac = new AbortController();
    const p = c.invoke('Account', 'a', 'slow', [], { signal: ac.signal, timeoutMs: 5000 });
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    const err = await rejects(p);
    expect(err.message).to.match(/aborted/);
    expect(Date.now() - t0).to.be.below(1000);
  });

  it('rejects bad input before sending', async () => {
    const c = await client();
    expect((await rejects(c.invoke('Account', '', 'm'))).code).to.equal('INVALID_ARGUMENT');
    expect((await rejects(c.invoke('Account', 'a', 'm', [], { idempotencyKey: '' }))).code).to.equal('INVALID_ARGUMENT');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect((await rejects(c.invoke('Account', 'a', 'm', [cyclic]))).code).to.equal('INVALID_ARGUMENT');
  });

  it('calls after close fail without hanging', async () => {
    const c = await client();
    await c.close();
    expect((await rejects(c.invoke('Account', 'a', 'm'))).message).to.match(/closed/);
  });

  describe('deploy', () => {
    it('returns the deployed types; ok:false becomes a LambdaStoreError with its code', async () => {
      const coord = coordinator(makeConfig(1, 2));
      coord.deployHandler = (req) =>
        req.source.includes('boom')
          ? { ok: false, error: { code: 'DEPLOY_INVALID', message: 'module throws when loaded' } }
          : { ok: true, moduleId: 'm1', types: [{ name: 'Account', version: 2, methods: [{ name: 'deposit' }] }] };
      await nc.flush();
      const c = await client();
      const types = await c.deploy('module.exports = {}', 'a.js');
      expect(types.map((t) => [t.name, t.version])).to.deep.equal([['Account', 2]]);
      expect(coord.deploys[0]!.filename).to.equal('a.js');
      const err = await rejects(c.deploy('throw new Error("boom")'));
      expect(err.code).to.equal('DEPLOY_INVALID');
      expect(err.message).to.equal('module throws when loaded');
    });

    it('without a coordinator: COORDINATOR_UNAVAILABLE after bounded retries', async () => {
      const c = await client({ maxAttempts: 2 });
      expect((await rejects(c.deploy('x'))).code).to.equal('COORDINATOR_UNAVAILABLE');
    });

    /** A coordinator's deploy answer for a bundled module: load it as a worker would, list its types. */
    const loadAndDescribe = (req: { source: string }) => {
      const mod = loadModule(req.source);
      return { ok: true, types: [...mod.types.values()].map((t) => ({ name: t.name, version: 1, methods: t.methods.map((m) => ({ name: m.name, readonly: m.readonly })) })) };
    };

    it('deployFile bundles the file (with its sdk import) into CommonJS the runtime loads', async () => {
      const coord = coordinator(makeConfig(1, 2));
      coord.deployHandler = loadAndDescribe;
      await nc.flush();
      const c = await client();
      const file = fileURLToPath(new URL('../../test/fixtures/counter.ts', import.meta.url));
      const types = await c.deployFile(file);
      expect(types).to.have.length(1);
      expect(types[0]!.name).to.equal('Counter');
      expect(types[0]!.methods.map((m) => m.name).sort()).to.deep.equal(['add', 'value']);
      expect(coord.deploys[0]!.filename).to.equal('counter.ts');
      expect(coord.deploys[0]!.source).to.not.match(/^\s*import /m);
    });

    it('deployFile: a module outside any project finds @lambdastore/sdk where the client is installed', async () => {
      const coord = coordinator(makeConfig(1, 2));
      coord.deployHandler = loadAndDescribe;
      await nc.flush();
      const dir = await tempDir();
      cleanups.push(dir.cleanup);
      const file = join(dir.path, 'counter.ts');
      await writeFile(file, await readFile(fileURLToPath(new URL('../../test/fixtures/counter.ts', import.meta.url)), 'utf8'));
      const c = await client();
      const types = await c.deployFile(file);
      expect(types.map((t) => t.name)).to.deep.equal(['Counter']);
    });

    it('deployFile: a bundling failure is DEPLOY_INVALID with esbuild\'s message', async () => {
      const dir = await tempDir();
      cleanups.push(dir.cleanup);
      const file = join(dir.path, 'broken.ts');
      await writeFile(file, 'export default defineType(\n');
      const c = await client();
      const err = await rejects(c.deployFile(file));
      expect(err.code).to.equal('DEPLOY_INVALID');
      expect(err.message).to.match(/broken\.ts/);
      const missing = await rejects(c.deployFile(join(dir.path, 'nope.ts')));
      expect(missing.code).to.equal('DEPLOY_INVALID');
    });
  });
});
