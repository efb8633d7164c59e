/**
 * The coordinator against a real nats-server (JetStream on): membership, sticky assignment,
 * deploys (good and hostile) and restart durability. Each test uses its own subject prefix.
 */
import { expect } from 'chai';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { eventually, startNatsServer, type NatsServer } from '@lambdastore/testkit';
import { Coordinator, decodeConfig, moduleIdOf, type CoordinatorOptions } from '../src/index.js';
import { FakeWorker, Peer, freshPrefix, silentLogger } from './peers.js';
import {
  INFINITE_LOOP_MODULE, NO_TYPES_MODULE, SYNTAX_ERROR_MODULE, bigModule, counterModule,
} from './modules.js';

describe('Coordinator (real nats-server)', function () {
  this.timeout(20_000);

  let server: NatsServer;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    server = await startNatsServer();
  });

  after(async () => {
    await server?.stop();
  });

  afterEach(async function () {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    if (this.currentTest?.state === 'failed') console.error(server.log().slice(-4000));
  });

  async function coordinator(opts: Partial<CoordinatorOptions> & { prefix: string }): Promise<Coordinator> {
    const c = new Coordinator({ servers: server.url, logger: silentLogger, heartbeatTimeoutMs: 600, configBroadcastIntervalMs: 200, ...opts });
    await c.start();
    cleanups.push(() => c.stop());
    return c;
  }

  async function peer(prefix: string): Promise<Peer> {
    const p = await Peer.connect(server.url, prefix);
    cleanups.push(() => p.close());
    return p;
  }

  function shardCounts(shards: { chain: string[] }[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const s of shards) counts[s.chain[0]!] = (counts[s.chain[0]!] ?? 0) + 1;
    return counts;
  }

  it('assigns 16 shards over 3 heartbeating workers, publishes and persists the config', async () => {
    const prefix = freshPrefix();
    await coordinator({ prefix, minWorkers: 3 });
    const p = await peer(prefix);
    for (const id of ['w-b', 'w-a', 'w-c']) p.worker(id);

    const cfg = await eventually(async () => {
      const c = await p.config();
      return c.shards.length === 16 ? c : undefined;
    }, 5000, 'shards assigned');
    expect(cfg.numShards).to.equal(16);
    expect(cfg.clusterId).to.match(/^[0-9a-f]{16}$/);
    expect(shardCounts(cfg.shards)).to.deep.equal({ 'w-a': 6, 'w-b': 5, 'w-c': 5 });
    expect(cfg.shards.map((s) => s.chain[0])).to.deep.equal(Array.from({ length: 16 }, (_, i) => ['w-a', 'w-b', 'w-c'][i % 3]));
    expect(cfg.shards.every((s) => s.epoch === 1 && s.chain.length === 3)).to.equal(true);
    expect(cfg.workers.map((w) => [w.id, w.alive, w.pid])).to.deep.equal([['w-a', true, 4242], ['w-b', true, 4242], ['w-c', true, 4242]]);

    // Broadcast on <p>.config, and stored in <p>_meta/config.
    await eventually(() => p.lastBroadcast && p.lastBroadcast.version >= cfg.version, 3000, 'a broadcast of the assigned config');
    expect(p.lastBroadcast!.shards).to.deep.equal(cfg.shards);
    const kv = await new Kvm(p.nc).open(p.s.metaBucket);
    const stored = decodeConfig((await kv.get('config'))!.value);
    expect(stored.version).to.equal(cfg.version);
    expect(stored.shards).to.deep.equal(cfg.shards);
  });

  it('re-broadcasts the config periodically without a change', async () => {
    const prefix = freshPrefix();
    await coordinator({ prefix });
    const p = await peer(prefix);
    const version = (await p.config()).version;
    await eventually(() => p.broadcasts >= 3, 3000, 'three periodic broadcasts');
    expect(p.lastBroadcast!.version).to.equal(version);
  });

  it('without minWorkers: assigns assignSettleMs after the first heartbeat; later joiners only become tails', async () => {
    const prefix = freshPrefix();
    await coordinator({ prefix, assignSettleMs: 300 });
    const p = await peer(prefix);
    p.worker('solo');
    const cfg = await eventually(async () => ((await p.config()).shards.length === 16 ? p.config() : undefined), 5000, 'settled assignment');
    expect(shardCounts(cfg.shards)).to.deep.equal({ solo: 16 });
    p.worker('late');
    const later = await eventually(async () => {
      const c = await p.config();
      return c.workers.some((w) => w.id === 'late' && w.alive) && c.shards.every((s) => s.chain.length === 2) ? c : undefined;
    }, 3000, 'late worker seen and appended as tail');
    expect(later.shards.map((s) => s.chain)).to.deep.equal(cfg.shards.map(() => ['solo', 'late']));
  });

  it('with chain length 1, a worker that stops heartbeating is marked dead, keeps its shards, and comes back', async () => {
    const prefix = freshPrefix();
    await coordinator({ prefix, minWorkers: 3, chainLength: 1 });
    const p = await peer(prefix);
    const workers: FakeWorker[] = ['w1', 'w2', 'w3'].map((id) => p.worker(id));
    const assigned = await eventually(async () => ((await p.config()).shards.length === 16 ? p.config() : undefined), 5000, 'assignment');

    workers[1]!.stop();
    const dead = await eventually(async () => {
      const c = await p.config();
      return c.workers.find((w) => w.id === 'w2')?.alive === false ? c : undefined;
    }, 5000, 'w2 marked dead');
    expect(dead.version).to.be.greaterThan(assigned.version);
    expect(dead.shards).to.deep.equal(assigned.shards);
    expect(dead.workers.filter((w) => w.alive).map((w) => w.id)).to.deep.equal(['w1', 'w3']);
    await eventually(() => p.lastBroadcast?.workers.find((w) => w.id === 'w2')?.alive === false, 3000, 'dead worker broadcast');

    workers[1]!.start();
    const back = await eventually(async () => {
      const c = await p.config();
      return c.workers.find((w) => w.id === 'w2')?.alive ? c : undefined;
    }, 5000, 'w2 alive again');
    expect(back.version).to.be.greaterThan(dead.version);
    expect(back.shards).to.deep.equal(assigned.shards);
  });

  it('deploys a module: version 1, idempotent redeploy, version 2 for a changed module; source in KV', async () => {
    const prefix = freshPrefix();
    await coordinator({ prefix });
    const p = await peer(prefix);
    const v1 = counterModule('v1');

    const first = await p.deployRaw(v1, 'counter.js');
    expect(first.ok, first.error?.message).to.equal(true);
    expect(first.moduleId).to.equal(moduleIdOf(v1)).and.to.match(/^[0-9a-f]{32}$/);
    expect(first.types).to.have.length(1);
    expect(first.types[0]).to.deep.include({ name: 'Counter', version: 1, moduleId: first.moduleId });
    expect(first.types[0]!.methods.map((m) => [m.name, m.readonly, m.timeoutMs])).to.deep.equal([['inc', false, 0], ['get', true, 250]]);
    const afterFirst = await p.config();
    expect(afterFirst.types.map((t) => [t.name, t.version])).to.deep.equal([['Counter', 1]]);

    const again = await p.deployRaw(v1);
    expect(again.ok).to.equal(true);
    expect(again.types[0]).to.deep.include({ version: 1, deployedAtMs: first.types[0]!.deployedAtMs });
    expect((await p.config()).version).to.equal(afterFirst.version);

    const second = await p.deployRaw(counterModule('v2'));
    expect(second.ok, second.error?.message).to.equal(true);
    expect(second.types[0]).to.deep.include({ name: 'Counter', version: 2, moduleId: moduleIdOf(counterModule('v2')) });
    const cfg = await p.config();
    expect(cfg.version).to.be.greaterThan(afterFirst.version);
    expect(cfg.types.map((t) => [t.name, t.version, t.moduleId])).to.deep.equal([['Counter', 2, second.moduleId]]);
    await eventually(() => p.lastBroadcast?.types[0]?.version === 2, 3000, 'broadcast with Counter v2');

    const modules = await new Kvm(p.nc).open(p.s.modulesBucket);
    expect(new TextDecoder().decode((await modules.get(first.moduleId))!.value)).to.equal(v1);
  });

  it('refuses invalid, hanging and oversized modules with stable codes and keeps serving', async () => {
    const prefix = freshPrefix();
    const c = await coordinator({ prefix });
    const p = await peer(prefix);
    const cases: [string, string, string][] = [
      ['syntax error', SYNTAX_ERROR_MODULE, 'DEPLOY_INVALID'],
      ['no types', NO_TYPES_MODULE, 'DEPLOY_INVALID'],
      ['infinite loop', INFINITE_LOOP_MODULE, 'DEPLOY_INVALID'],
      ['over 900 KiB', bigModule(950 * 1024), 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [what, source, code] of cases) {
      const r = await p.deployRaw(source, `${what}.js`);
      expect(r.ok, what).to.equal(false);
      expect(r.error?.code, `${what}: ${r.error?.message}`).to.equal(code);
      expect(r.error?.retryable, what).to.equal(false);
      expect(r.error?.message, what).to.be.a('string').and.not.equal('');
    }
    expect(c.running).to.equal(true);
    expect((await p.config()).types).to.deep.equal([]);
    const ok = await p.deployRaw(counterModule());
    expect(ok.ok, ok.error?.message).to.equal(true);
  });

  it('answers config requests promptly while a hanging module is being validated', async () => {
    const prefix = freshPrefix();
    await coordinator({ prefix });
    const p = await peer(prefix);
    const hanging = p.deployRaw(INFINITE_LOOP_MODULE, 'hang.js');
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) await p.config();
    expect(Date.now() - t0, 'five config round trips during the hostile deploy').to.be.lessThan(500);
    expect((await hanging).error?.code).to.equal('DEPLOY_INVALID');
  });

  it('answers garbage requests with MALFORMED_REQUEST', async () => {
    const prefix = freshPrefix();
    await coordinator({ prefix });
    const p = await peer(prefix);
    const m = await p.nc.request(p.s.adminDeploy, new Uint8Array([0xff, 0xff, 0xff]), { timeout: 5000 });
    const { lambdastore } = await import('@lambdastore/proto');
    const resp = lambdastore.DeployResponse.decode(m.data);
    expect(resp.ok).to.equal(false);
    expect(resp.error?.code).to.equal('MALFORMED_REQUEST');
  });

  it('a restarted coordinator keeps shards, types, cluster id and version, and numbers on upward', async () => {
    const prefix = freshPrefix();
    const first = await coordinator({ prefix, minWorkers: 2 });
    const p = await peer(prefix);
    p.worker('w1');
    p.worker('w2');
    await eventually(async () => (await p.config()).shards.length === 16, 5000, 'assignment');
    const dep = await p.deployRaw(counterModule('persist'));
    expect(dep.ok).to.equal(true);
    const before = await p.config();
    await first.stop();

    // The new coordinator is told 32 shards and 5 min workers: the persisted map must win.
    const second = await coordinator({ prefix, minWorkers: 5, numShards: 32 });
    const after = await p.config();
    expect(after.clusterId).to.equal(before.clusterId);
    expect(after.numShards).to.equal(16);
    expect(after.shards).to.deep.equal(before.shards);
    expect(after.types).to.deep.equal(before.types);
    expect(after.version).to.equal(before.version);
    expect(after.workers.map((w) => [w.id, w.alive])).to.deep.equal([['w1', true], ['w2', true]]);
    expect(second.config().version).to.equal(before.version);

    const next = await p.deployRaw(counterModule('persist-2'));
    expect(next.types[0]!.version).to.equal(2);
    expect((await p.config()).version).to.be.greaterThan(before.version);
  });

  it('stops cleanly and can be stopped twice', async () => {
    const prefix = freshPrefix();
    const c = new Coordinator({ servers: server.url, prefix, logger: silentLogger });
    await c.start();
    await c.stop();
    await c.stop();
    expect(c.running).to.equal(false);
    // Nobody answers admin requests any more.
    const nc = await connect({ servers: server.url });
    cleanups.push(() => nc.close());
    const err = await nc.request(`${prefix}.admin.config`, new Uint8Array(0), { timeout: 300 }).then(() => undefined, (e: Error) => e);
    expect(err).to.be.instanceOf(Error);
  });
});
