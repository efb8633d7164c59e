/**
 * Read-only calls on replicas (docs/ARCHITECTURE.md, "Reads on replicas"), on real processes:
 * `strict` reads served by any member of the chain are linearizable (checked on a register, with
 * src/linearizability.ts) while a replica is paused past the failure timeout and resumed and while
 * the head is SIGKILLed and restarted; `stale-ok` reads are never older than their bound; the JSON
 * ingress takes the same choice per call, and bad choices get INVALID_ARGUMENT.
 */
import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { connect as natsConnect } from '@nats-io/transport-node';
import { shardOf } from '@lambdastore/proto';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { eventually } from '@lambdastore/testkit';
import { startTestCluster, fixture, codeOf, type TestCluster } from '../src/cluster.js';
import { watchHeartbeats, waitReplicated, type HeartbeatWatch } from '../src/replicas.js';
import { checkRegister, type RegisterOp } from '../src/linearizability.js';

const STALE_BOUND_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writers and readers of one register, recording every operation's real-time interval. */
class RegisterWorkload {
  readonly strict: RegisterOp[] = [];
  readonly writes: RegisterOp[] = [];
  readonly stale: RegisterOp[] = [];
  readonly failures: string[] = [];
  private client: LambdaStoreClient | undefined;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly t: TestCluster, private readonly id: string) {}

  async start(): Promise<void> {
    const client = await connect({ servers: this.t.cluster.natsUrl, prefix: this.t.cluster.prefix, maxAttempts: 1000 });
    this.client = client;
    // A short pause between calls keeps the history (and the machine's load) moderate.
    const loop = (body: () => Promise<void>) => (async () => { while (!this.stopped) { await body(); await sleep(5); } })();
    const writer = () => loop(async () => {
      const value = `v${this.seq++}`;
      const start = performance.now();
      try {
        await client.invoke('Reg', this.id, 'write', [value], { timeoutMs: 60_000 });
        this.writes.push({ id: value, kind: 'write', value, start, end: performance.now() });
      } catch (err) {
        // Its outcome is unknown: it may have taken effect, or not.
        this.writes.push({ id: value, kind: 'write', value, start });
        this.failures.push(`write ${value}: ${(err as { code?: string }).code} ${(err as Error).message}`);
        await sleep(100);
      }
    });
    const reader = (into: RegisterOp[], opts: { consistency: 'strict' } | { consistency: 'stale-ok'; maxStalenessMs: number }) => loop(async () => {
      const start = performance.now();
      try {
        const value = (await client.invoke('Reg', this.id, 'read', [], { timeoutMs: 60_000, ...opts })) as string | null;
        into.push({ id: `r${this.seq++}`, kind: 'read', value, start, end: performance.now() });
      } catch (err) {
        this.failures.push(`read: ${(err as { code?: string }).code} ${(err as Error).message}`);
        await sleep(100);
      }
    });
    this.loops = [writer(), writer(), reader(this.strict, { consistency: 'strict' }), reader(this.strict, { consistency: 'strict' }), reader(this.strict, { consistency: 'strict' }), reader(this.stale, { consistency: 'stale-ok', maxStalenessMs: STALE_BOUND_MS })];
  }

  async progress(reads: number, what: string): Promise<void> {
    const before = this.strict.length;
    const writes = this.writes.length;
    await eventually(() => this.strict.length >= before + reads && this.writes.length > writes, 120_000, `${what} (failures so far: ${this.failures.slice(0, 3).join('; ')})`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.loops);
    await this.client?.close();
  }
}

describe('reads on replicas', function () {
  this.timeout(600_000);
  let t: TestCluster;
  let hb: HeartbeatWatch;
  let nc: NatsConnection;
  before(async () => {
    t = await startTestCluster({ coordinatorArgs: ['--heartbeat-timeout-ms', '1500'] });
    hb = await watchHeartbeats(t);
    nc = await natsConnect({ servers: t.cluster.natsUrl });
    await t.client.deployFile(fixture('txntypes.ts'));
  });
  let stopLoad: (() => Promise<void>) | undefined;
  after(async () => {
    // A failed test must not leave its loops running against a stopped cluster.
    await stopLoad?.();
    await nc?.close();
    await hb?.close();
    await t?.stop();
  });

  it('strict reads on replicas are linearizable through a paused replica and a killed head; stale-ok reads stay within their bound', async () => {
    await t.client.create('Reg', 'lin');
    let cfg = await waitReplicated(t, hb, 3, 60_000);
    const shard = shardOf('Reg', 'lin', cfg.numShards);
    const chainOf = async () => (await t.client.config()).shards.find((s) => s.shard === shard)!.chain!;
    const indexOf = (id: string) => t.cluster.workers.findIndex((w) => w.id === id);
    const load = new RegisterWorkload(t, 'lin');
    stopLoad = () => load.stop();
    await load.start();
    await load.progress(50, 'strict reads to go through');
    // Members behind the head serve reads too.
    const [, ...replicas] = await chainOf();
    await eventually(() => replicas.some((w) => Number(hb.latest.get(w)?.replicaReads ?? 0) > 0), 60_000, 'a replica to serve reads');

    // A replica paused past the failure timeout: when it wakes, it must not answer from its old state.
    const paused = replicas[0]!;
    t.cluster.signalWorker(indexOf(paused), 'SIGSTOP');
    try {
      await eventually(async () => !(await chainOf()).includes(paused), 60_000, `${paused} to leave the chain`);
      await load.progress(30, `reads while ${paused} is paused`);
    } finally {
      t.cluster.signalWorker(indexOf(paused), 'SIGCONT');
    }
    await load.progress(30, `reads after ${paused} woke up`);
    cfg = await waitReplicated(t, hb, 3, 90_000, true);

    // The head killed and restarted.
    const head = (await chainOf())[0]!;
    await t.cluster.killWorker(indexOf(head), 'SIGKILL');
    await eventually(async () => !(await chainOf()).includes(head), 60_000, `${head} to leave the chain`);
    await load.progress(30, `reads without ${head}`);
    await t.cluster.restartWorker(indexOf(head));
    await waitReplicated(t, hb, 3, 90_000, true);
    await load.progress(30, `reads with ${head} back`);
    await load.stop();

    expect(load.failures, load.failures.slice(0, 5).join('\n')).to.deep.equal([]);
    const strict = checkRegister([...load.writes, ...load.strict]);
    expect(strict.ok, strict.ok ? '' : strict.reason).to.equal(true);
    // A stale-ok read may take effect up to its bound before it began.
    const stale = checkRegister([...load.writes, ...load.stale.map((r) => ({ ...r, start: r.start - STALE_BOUND_MS }))]);
    expect(stale.ok, stale.ok ? '' : stale.reason).to.equal(true);
    expect(load.strict.length).to.be.greaterThan(150);
    expect(load.stale.length).to.be.greaterThan(20);
  });

  it('the JSON ingress takes the consistency per call; bad choices are INVALID_ARGUMENT', async () => {
    await t.client.create('Reg', 'json', 'hello');
    const h = headers();
    h.set('Content-Type', 'application/json');
    const ask = async (body: object) => JSON.parse(new TextDecoder().decode((await nc.request(`${t.cluster.prefix}.invoke`, new TextEncoder().encode(JSON.stringify(body)), { timeout: 10_000, headers: h })).data));
    const read = { type: 'Reg', id: 'json', method: 'read' };
    expect(await ask({ ...read, consistency: 'strict' })).to.deep.equal({ ok: true, result: 'hello' });
    expect(await ask({ ...read, consistency: 'stale-ok', maxStalenessMs: 1000 })).to.deep.equal({ ok: true, result: 'hello' });
    // A method that writes runs at the head whatever the caller allowed.
    expect(await ask({ ...read, method: 'write', args: ['bye'], consistency: 'strict' })).to.deep.equal({ ok: true, result: 'hello' });
    expect(await ask({ ...read, consistency: 'strict' })).to.deep.equal({ ok: true, result: 'bye' });
    for (const bad of [{ consistency: 'eventual' }, { consistency: 'stale-ok' }, { consistency: 'stale-ok', maxStalenessMs: -1 }, { consistency: 'strict', maxStalenessMs: 5 }, { maxStalenessMs: 5 }]) {
      expect((await ask({ ...read, ...bad })).error?.code, JSON.stringify(bad)).to.equal('INVALID_ARGUMENT');
    }
    expect(await codeOf(t.client.invoke('Reg', 'json', 'read', [], { consistency: 'stale-ok' }))).to.equal('INVALID_ARGUMENT');
    expect(await codeOf(t.client.invoke('Reg', 'json', 'read', [], { consistency: 'sometimes' as 'strict' }))).to.equal('INVALID_ARGUMENT');
    expect(await t.client.invoke('Reg', 'json', 'read', [], { consistency: 'stale-ok', maxStalenessMs: 0 })).to.equal('bye');
  });
});
