/**
 * The pure decision logic: heartbeats and clock ticks in, configs out. No NATS, no timers; the
 * clock is a number the test moves.
 */
import { expect } from 'chai';
import { ClusterModel, type HeartbeatInput, type ModelOptions } from '../src/index.js';

const OPTS: ModelOptions = { numShards: 16, heartbeatTimeoutMs: 3000, assignSettleMs: 1000 };

function hb(workerId: string, extra: Partial<HeartbeatInput> = {}): HeartbeatInput {
  return { workerId, startedAtMs: 1, pid: 100, inflight: 0, callsTotal: 0, shards: [], configVersion: 0, threads: 2, ...extra };
}

function ownersOf(m: ClusterModel): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of m.snapshot().shards) {
    const list = out.get(s.chain[0]!) ?? [];
    list.push(s.shard);
    out.set(s.chain[0]!, list);
  }
  return out;
}

describe('ClusterModel (pure)', function () {
  this.timeout(2000);

  it('starts at version 1 with nothing assigned', () => {
    const m = ClusterModel.fresh(OPTS, 'c1');
    const c = m.snapshot();
    expect(c).to.deep.include({ version: 1, numShards: 16, clusterId: 'c1', shards: [], workers: [], types: [] });
  });

  it('with minWorkers: assigns heads round robin over sorted ids once enough are alive, each followed by the next workers', () => {
    const m = ClusterModel.fresh({ ...OPTS, minWorkers: 3 }, 'c');
    expect(m.heartbeat(hb('w-c'), 0)?.version).to.equal(2); // new worker -> change
    expect(m.heartbeat(hb('w-a'), 10)?.shards).to.deep.equal([]);
    expect(m.assigned).to.equal(false);
    const c = m.heartbeat(hb('w-b'), 20)!;
    expect(c.version).to.equal(4);
    expect(c.shards).to.have.length(16);
    for (const s of c.shards) {
      expect(s.epoch).to.equal(1);
      const ids = ['w-a', 'w-b', 'w-c'];
      expect(s.chain).to.deep.equal([0, 1, 2].map((k) => ids[(s.shard + k) % 3]));
    }
    expect(ownersOf(m).get('w-a')).to.deep.equal([0, 3, 6, 9, 12, 15]);
  });

  it('without minWorkers: assigns assignSettleMs after the first heartbeat, over who is alive then', () => {
    const m = ClusterModel.fresh(OPTS, 'c');
    m.heartbeat(hb('w2'), 1000);
    m.heartbeat(hb('w1'), 1500);
    expect(m.tick(1999)).to.equal(undefined);
    expect(m.assigned).to.equal(false);
    const c = m.tick(2000)!;
    expect(c.shards.map((s) => s.chain[0])).to.deep.equal(Array.from({ length: 16 }, (_, i) => (i % 2 ? 'w2' : 'w1')));
  });

  it('a steady heartbeat refreshes statistics but does not bump the version', () => {
    const m = ClusterModel.fresh(OPTS, 'c');
    m.heartbeat(hb('w1'), 0);
    const v = m.version;
    expect(m.heartbeat(hb('w1', { inflight: 7, callsTotal: 42 }), 500)).to.equal(undefined);
    expect(m.version).to.equal(v);
    expect(m.snapshot().workers[0]).to.deep.include({ id: 'w1', alive: true, inflight: 7, callsTotal: 42, lastSeenMs: 500 });
  });

  it('marks a silent worker dead after heartbeatTimeoutMs, a sole chain member keeps its shards, and revives it on its next heartbeat', () => {
    const m = ClusterModel.fresh({ ...OPTS, minWorkers: 2, chainLength: 1 }, 'c');
    m.heartbeat(hb('w1'), 0);
    m.heartbeat(hb('w2'), 0);
    const before = m.snapshot().shards;
    m.heartbeat(hb('w1'), 2000);
    expect(m.tick(3000)).to.equal(undefined); // exactly at the timeout: still alive
    const dead = m.tick(3001)!;
    expect(dead.workers.find((w) => w.id === 'w2')?.alive).to.equal(false);
    expect(dead.workers.find((w) => w.id === 'w1')?.alive).to.equal(true);
    expect(dead.shards).to.deep.equal(before);
    expect(m.tick(4000)).to.equal(undefined); // already dead: no new version
    const back = m.heartbeat(hb('w2'), 4100)!;
    expect(back.version).to.equal(dead.version + 1);
    expect(back.workers.find((w) => w.id === 'w2')?.alive).to.equal(true);
    expect(back.shards).to.deep.equal(before);
  });

  it('with chain length 1, a worker that joins after assignment gets no shards; nothing moves', () => {
    const m = ClusterModel.fresh({ ...OPTS, minWorkers: 1, chainLength: 1 }, 'c');
    m.heartbeat(hb('w1'), 0);
    const before = m.snapshot().shards;
    const c = m.heartbeat(hb('w0'), 10)!; // sorts first, still gets nothing
    expect(c.shards).to.deep.equal(before);
    expect(c.shards.every((s) => s.chain[0] === 'w1')).to.equal(true);
  });

  it('a dead worker leaves every chain under a new epoch; its successor heads; it rejoins as tail only as a new incarnation', () => {
    const m = ClusterModel.fresh({ ...OPTS, minWorkers: 3 }, 'c');
    for (const id of ['w1', 'w2', 'w3']) m.heartbeat(hb(id), 0);
    const before = m.snapshot();
    m.heartbeat(hb('w1'), 2000);
    m.heartbeat(hb('w3'), 2000);
    const dead = m.tick(3001)!;
    expect(dead.workers.find((w) => w.id === 'w2')).to.deep.include({ alive: false, removed: true });
    for (const s of dead.shards) {
      const old = before.shards[s.shard]!;
      expect(s.chain).to.deep.equal(old.chain.filter((w) => w !== 'w2'));
      expect(s.epoch).to.equal(dead.version);
    }
    // w2 headed shards 1, 4, ...: its successor w3 heads them now.
    expect(dead.shards[1]!.chain[0]).to.equal('w3');
    // The same incarnation waking up (a pause) stays out of every chain.
    const woke = m.heartbeat(hb('w2'), 3100)!;
    expect(woke.workers.find((w) => w.id === 'w2')).to.deep.include({ alive: true, removed: true });
    expect(woke.shards).to.deep.equal(dead.shards);
    // A new incarnation is appended as tail of every chain, under a new epoch.
    const back = m.heartbeat(hb('w2', { startedAtMs: 2, pid: 101 }), 3200)!;
    expect(back.workers.find((w) => w.id === 'w2')?.removed).to.equal(false);
    for (const s of back.shards) {
      expect(s.chain).to.have.length(3);
      expect(s.chain.slice(0, 2)).to.deep.equal(dead.shards[s.shard]!.chain);
      expect(s.chain[2]).to.equal('w2');
      expect(s.epoch).to.equal(back.version);
    }
  });

  it('a worker that joins after assignment becomes the tail of chains shorter than the chain length; heads stay', () => {
    const m = ClusterModel.fresh({ ...OPTS, minWorkers: 1 }, 'c');
    m.heartbeat(hb('w1'), 0);
    const c = m.heartbeat(hb('w0'), 10)!;
    expect(c.shards.every((s) => s.chain.join() === 'w1,w0' && s.epoch === c.version)).to.equal(true);
  });

  it('a drained worker leaves every chain while alive, stays out (even restarted), and rejoins as tail when let back in', () => {
    const m = ClusterModel.fresh({ ...OPTS, minWorkers: 3 }, 'c');
    for (const id of ['w1', 'w2', 'w3']) m.heartbeat(hb(id), 0);
    const before = m.snapshot();
    const drained = m.drain('w2', true)!;
    expect(drained.workers.find((w) => w.id === 'w2')).to.deep.include({ alive: true, drained: true });
    for (const s of drained.shards) {
      expect(s.chain).to.deep.equal(before.shards[s.shard]!.chain.filter((w) => w !== 'w2'));
      expect(s.epoch).to.equal(drained.version);
    }
    expect(m.drain('w2', true)).to.equal(undefined); // nothing changes twice
    // Alive and even restarted, it is not taken back.
    expect(m.heartbeat(hb('w2', { startedAtMs: 2, pid: 101 }), 100)?.shards ?? drained.shards).to.deep.equal(drained.shards);
    const back = m.drain('w2', false)!;
    expect(back.workers.find((w) => w.id === 'w2')?.drained).to.equal(false);
    for (const s of back.shards) expect(s.chain[2]).to.equal('w2');
    expect(() => m.drain('nobody', true)).to.throw(/no worker "nobody"/);
    // The mark survives a coordinator restart.
    m.drain('w3', true);
    const { model } = ClusterModel.restore({ ...OPTS, minWorkers: 3 }, m.snapshot(), 200);
    expect(model.snapshot().workers.find((w) => w.id === 'w3')?.drained).to.equal(true);
  });

  it('a chain never loses its last member: a dead sole member keeps the shard', () => {
    const m = ClusterModel.fresh({ ...OPTS, minWorkers: 1 }, 'c');
    m.heartbeat(hb('w1'), 0);
    const before = m.snapshot().shards;
    const dead = m.tick(5000)!;
    expect(dead.workers[0]).to.deep.include({ alive: false, removed: false });
    expect(dead.shards).to.deep.equal(before);
  });

  it('a restarted worker (new startedAt) bumps the version', () => {
    const m = ClusterModel.fresh(OPTS, 'c');
    m.heartbeat(hb('w1', { startedAtMs: 1 }), 0);
    expect(m.heartbeat(hb('w1', { startedAtMs: 2, pid: 101 }), 100)).to.not.equal(undefined);
  });

  it('ignores heartbeats without a worker id', () => {
    const m = ClusterModel.fresh(OPTS, 'c');
    expect(m.heartbeat(hb(''), 0)).to.equal(undefined);
    expect(m.snapshot().workers).to.deep.equal([]);
  });

  describe('deploy', () => {
    const counter = [{ name: 'Counter', methods: [{ name: 'inc', readonly: false, timeoutMs: 0 }] }];

    it('gives new types version 1, then previous + 1 for a changed module', () => {
      const m = ClusterModel.fresh(OPTS, 'c');
      const a = m.deploy('m1', counter, 500);
      expect(a.changed).to.equal(true);
      expect(a.types).to.deep.equal([{ name: 'Counter', version: 1, moduleId: 'm1', methods: counter[0]!.methods, deployedAtMs: 500 }]);
      expect(a.config!.version).to.equal(2);
      const b = m.deploy('m2', [...counter, { name: 'Other', methods: [] }], 600);
      expect(b.types.map((t) => [t.name, t.version])).to.deep.equal([['Counter', 2], ['Other', 1]]);
      expect(m.snapshot().types.map((t) => `${t.name}@${t.version}:${t.moduleId}`)).to.deep.equal(['Counter@2:m2', 'Other@1:m2']);
    });

    it('redeploying the module that is current for all its types changes nothing', () => {
      const m = ClusterModel.fresh(OPTS, 'c');
      m.deploy('m1', counter, 500);
      const v = m.version;
      const again = m.deploy('m1', counter, 900);
      expect(again.changed).to.equal(false);
      expect(again.config).to.equal(undefined);
      expect(again.types[0]).to.deep.include({ version: 1, deployedAtMs: 500 });
      expect(m.version).to.equal(v);
    });

    it('redeploying an old module after a newer one bumps versions again', () => {
      const m = ClusterModel.fresh(OPTS, 'c');
      m.deploy('m1', counter, 1);
      m.deploy('m2', counter, 2);
      expect(m.deploy('m1', counter, 3).types[0]!.version).to.equal(3);
    });
  });

  describe('restore', () => {
    it('keeps version, shards, types and cluster id; gives alive workers a fresh grace period', () => {
      const m = ClusterModel.fresh({ ...OPTS, minWorkers: 2 }, 'cid');
      m.heartbeat(hb('w1'), 0);
      m.heartbeat(hb('w2'), 0);
      m.deploy('m1', [{ name: 'T', methods: [] }], 5);
      const saved = m.snapshot();
      const { model, warnings } = ClusterModel.restore({ ...OPTS, minWorkers: 2 }, saved, 60_000);
      expect(warnings).to.deep.equal([]);
      expect(model.snapshot()).to.deep.equal({ ...saved, workers: saved.workers.map((w) => ({ ...w, lastSeenMs: 60_000 })) });
      expect(model.tick(62_000)).to.equal(undefined);
      expect(model.tick(63_001)!.workers.every((w) => !w.alive)).to.equal(true);
      expect(model.deploy('m2', [{ name: 'T', methods: [] }], 70_000).types[0]!.version).to.equal(2);
    });

    it('keeps the persisted numShards once shards are assigned', () => {
      const m = ClusterModel.fresh({ ...OPTS, numShards: 4, minWorkers: 1 }, 'c');
      m.heartbeat(hb('w1'), 0);
      const { model, warnings } = ClusterModel.restore({ ...OPTS, numShards: 32 }, m.snapshot(), 1);
      expect(model.numShards).to.equal(4);
      expect(warnings[0]).to.match(/numShards=4/);
    });

    it('adopts a new numShards while nothing is assigned yet', () => {
      const m = ClusterModel.fresh({ ...OPTS, numShards: 4 }, 'c');
      const { model } = ClusterModel.restore({ ...OPTS, numShards: 8, minWorkers: 1 }, m.snapshot(), 1);
      expect(model.heartbeat(hb('w1'), 2)!.shards).to.have.length(8);
    });
  });
});
