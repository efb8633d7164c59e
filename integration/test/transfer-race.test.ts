/**
 * Writes racing state transfers, on real processes: a cluster that reports ready before its
 * replicas caught up (the initial transfers still running) takes creates and writing calls on many
 * objects of every shard at once, and a worker SIGKILLed and restarted while writes flow rejoins
 * its chains through a state transfer. Every acknowledged write must be there, no call may time
 * out (a stalled replication stream holds its replies forever), and once quiet every replica of
 * every shard must hold the same bytes.
 */
import { expect } from 'chai';
import { startTestCluster, fixture, type TestCluster } from '../src/cluster.js';
import { watchHeartbeats, waitReplicated, expectIdenticalReplicas, type HeartbeatWatch } from '../src/replicas.js';

interface Outcome {
  /** Object -> adds acknowledged (created objects only). */
  acked: Map<string, number>;
  failures: Array<{ id: string; what: string; code: string; message: string }>;
  calls: number;
}

/**
 * `loops` concurrent callers, each with its own objects: create them, then add 1 to them in turn
 * until `stop()` is called.
 */
function writeWorkload(t: TestCluster, prefix: string, objects: number, loops: number) {
  const out: Outcome = { acked: new Map(), failures: [], calls: 0 };
  let stopping = false;
  const call = async (id: string, what: string, fn: () => Promise<unknown>): Promise<boolean> => {
    out.calls++;
    try {
      await fn();
      return true;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      out.failures.push({ id, what, code: e.code ?? 'ERROR', message: e.message ?? String(err) });
      return false;
    }
  };
  const loop = async (k: number) => {
    const mine = Array.from({ length: objects }, (_, i) => `${prefix}-${i}`).filter((_, i) => i % loops === k);
    const live: string[] = [];
    for (const id of mine) {
      if (stopping) return;
      if (await call(id, 'create', () => t.client.create('Counter', id))) {
        out.acked.set(id, 0);
        live.push(id);
      }
    }
    for (let n = 0; !stopping && live.length > 0; n++) {
      const id = live[n % live.length]!;
      if (await call(id, 'add', () => t.client.invoke('Counter', id, 'add', [1], { timeoutMs: 20_000 }))) out.acked.set(id, out.acked.get(id)! + 1);
    }
  };
  const done = Promise.all(Array.from({ length: loops }, (_, k) => loop(k)));
  return {
    out,
    async stop(): Promise<Outcome> {
      stopping = true;
      await done;
      return out;
    },
  };
}

async function expectAllAcknowledged(t: TestCluster, out: Outcome): Promise<void> {
  const timeouts = out.failures.filter((f) => f.code === 'TIMEOUT');
  expect(timeouts, `calls timed out (a stalled chain), e.g. ${JSON.stringify(timeouts.slice(0, 3))}`).to.deep.equal([]);
  expect(out.failures, `calls failed, e.g. ${JSON.stringify(out.failures.slice(0, 3))}`).to.deep.equal([]);
  let adds = 0;
  for (const [id, n] of out.acked) {
    adds += n;
    expect(await t.client.invoke('Counter', id, 'get', [], { timeoutMs: 20_000 }), `${id}: acknowledged adds`).to.equal(n);
  }
  expect(adds).to.be.greaterThan(50);
}

describe('writes racing state transfers', function () {
  this.timeout(300_000);

  describe('a fresh cluster written to before its replicas caught up', () => {
    let t: TestCluster;
    let hb: HeartbeatWatch;
    let workload: ReturnType<typeof writeWorkload> | undefined;
    before(async () => {
      // Ready as soon as every shard has a live head: the initial transfers may still be running.
      t = await startTestCluster({ waitForReplicas: false });
      hb = await watchHeartbeats(t);
    });
    after(async () => {
      await workload?.stop();
      await hb?.close();
      await t?.stop();
    });

    it('acknowledges every write in time and leaves every replica identical', async () => {
      await t.client.deployFile(fixture('testtypes.ts'));
      workload = writeWorkload(t, 'fresh', 96, 24);
      await new Promise((r) => setTimeout(r, 6000));
      const out = await workload.stop();
      await expectAllAcknowledged(t, out);
      await expectIdenticalReplicas(t, await waitReplicated(t, hb, 3, 60_000));
    });
  });

  describe('a worker SIGKILLed and restarted while writes flow', () => {
    let t: TestCluster;
    let hb: HeartbeatWatch;
    let workload: ReturnType<typeof writeWorkload> | undefined;
    before(async () => {
      // Started as usual (replicas caught up): what races here is the rejoin's transfer alone.
      t = await startTestCluster({ coordinatorArgs: ['--heartbeat-timeout-ms', '1500'] });
      hb = await watchHeartbeats(t);
    });
    after(async () => {
      await workload?.stop();
      await hb?.close();
      await t?.stop();
    });

    it('rejoins through a state transfer without losing or stalling a write', async () => {
      await t.client.deployFile(fixture('testtypes.ts'));
      workload = writeWorkload(t, 'rejoin', 96, 24);
      await new Promise((r) => setTimeout(r, 2000));
      await t.cluster.killWorker(1, 'SIGKILL');
      await t.cluster.restartWorker(1);
      // Writes go on while it asks for the state of its shards and joins their chains as tail.
      await new Promise((r) => setTimeout(r, 5000));
      const out = await workload.stop();
      await expectAllAcknowledged(t, out);
      await expectIdenticalReplicas(t, await waitReplicated(t, hb, 3, 90_000));
    });
  });
});
