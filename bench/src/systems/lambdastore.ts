/**
 * LambdaStore-TS itself, on a dev cluster (nats-server, coordinator, 3 worker processes) that the
 * bench starts: called through the TypeScript client, and through plain NATS with a JSON body (what
 * any language can do). Both views share one cluster and one set of objects.
 *
 * Chain length is a parameter of the cluster. A build whose dev cluster does not replicate (the
 * option is ignored) is detected from the cluster map and reported as skipped, not measured as if
 * it were replicated.
 */
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as natsConnect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { startDevCluster, forEachLimited, type DevCluster, type DevClusterOptions } from '@lambdastore/cli';
import { repoRoot } from '../config.js';
import { ENTRIES, VALUE_BYTES } from '../values.js';
import { SkipError, type BankApi, type BenchSystem } from './system.js';

const PROFILE_HOOK = join(repoRoot, 'bench', 'dist', 'src', 'profile-hook.js');

/** One dev cluster, shared by the client and plain-NATS views; started once, stopped by the last. */
export class LambdaStoreCluster {
  cluster: DevCluster | undefined;
  client: LambdaStoreClient | undefined;
  nc: NatsConnection | undefined;
  private started: Promise<void> | undefined;
  private created = new Set<string>();
  private users = 0;
  private dir = '';

  constructor(readonly chainLength: number, private readonly log: (s: string) => void, readonly profileDir: string) {}

  start(): Promise<void> {
    this.users++;
    this.started ??= this.doStart();
    return this.started;
  }

  private async doStart(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), `ls-bench-c${this.chainLength}-`));
    const opts = {
      workers: 3,
      dataDir: join(this.dir, 'cluster'),
      log: (l: string) => this.log(`    ${l}`),
      // The CPU-profile hook starts and stops the V8 profiler of each worker on SIGUSR2.
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${PROFILE_HOOK}`.trim(), BENCH_PROFILE_DIR: this.profileDir },
      chainLength: this.chainLength,
    } as DevClusterOptions;
    this.cluster = await startDevCluster(opts);
    const cfg = await this.cluster.config();
    const lengths = new Set(cfg.shards.map((s) => s.chain?.length ?? 0));
    if (lengths.size !== 1 || !lengths.has(this.chainLength)) {
      await this.cluster.stop();
      this.cluster = undefined;
      throw new SkipError(
        `chain length ${this.chainLength} is not available in this build: the dev cluster made chains of ${[...lengths].join('/')} ` +
          `(chain replication is issue 4; rerun after it is merged)`,
      );
    }
    this.client = await connect({ servers: this.cluster.natsUrl });
    this.nc = await natsConnect({ servers: this.cluster.natsUrl });
    await this.client.deployFile(join(repoRoot, 'examples', 'micro', 'micro.ts'));
    await this.client.deployFile(join(repoRoot, 'examples', 'bank', 'account.ts'));
  }

  async createMicro(ids: readonly string[]): Promise<void> {
    const todo = ids.filter((id) => !this.created.has(id));
    await forEachLimited(todo, 64, async (id) => {
      await this.client!.create('Micro', id, ENTRIES, VALUE_BYTES);
      this.created.add(id);
    });
  }

  processes(): Record<string, Array<number | undefined>> {
    const c = this.cluster;
    if (!c) return {};
    return { 'nats-server': [c.nats.pid], workers: c.workers.map((w) => w.pid), coordinator: [c.coordinator.pid] };
  }

  /**
   * CPU profile of every worker while `during` runs; returns the profile files. The hook in each
   * worker toggles the V8 profiler on SIGUSR2.
   */
  async profile(during: () => Promise<void>): Promise<string[]> {
    const pids = this.cluster!.workers.map((w) => w.pid).filter((p): p is number => p !== undefined);
    for (const pid of pids) process.kill(pid, 'SIGUSR2');
    await during();
    for (const pid of pids) process.kill(pid, 'SIGUSR2');
    const want = pids.map((p) => `worker-${p}.cpuprofile`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const have = await readdir(this.profileDir).catch(() => [] as string[]);
      if (want.every((w) => have.includes(w))) return want.map((w) => join(this.profileDir, w));
      if (Date.now() > deadline) return want.filter((w) => have.includes(w)).map((w) => join(this.profileDir, w));
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    if (--this.users > 0) return;
    await this.client?.close().catch(() => {});
    await this.nc?.close().catch(() => {});
    await this.cluster?.stop();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

function bankApi(cluster: LambdaStoreCluster): BankApi {
  return {
    guarantee: 'one serializable transaction across both accounts (nested call; two-phase commit when they sit on two workers), exactly once',
    async create(ids, initial) {
      await forEachLimited(ids, 32, async (id) => { await cluster.client!.create('Account', id, initial); });
    },
    async transfer(from, to, amount) {
      await cluster.client!.invoke('Account', from, 'transfer', [to, amount]);
    },
    async balances(ids) {
      return (await Promise.all(ids.map((id) => cluster.client!.invoke('Account', id, 'balance')))) as number[];
    },
  };
}

/** Through the TypeScript client (routes to the shard's worker itself, protobuf on the wire). */
export function lambdaStoreClient(cluster: LambdaStoreCluster): BenchSystem {
  const c = cluster.chainLength;
  return {
    id: `lambdastore-c${c}`,
    label: `LambdaStore, client, chain ${c}`,
    kind: 'us',
    description: '',
    bank: bankApi(cluster),
    async start() {
      await cluster.start();
      this.description = `3 worker processes, 16 shards, chain length ${c}, LevelDB with fsync'd group commits; TypeScript client (protobuf over NATS, routes to the shard)`;
    },
    createMicro: (ids) => cluster.createMicro(ids),
    read: async (id, entries) => (await cluster.client!.invoke('Micro', id, 'read', [entries])) as number,
    write: async (id, entries, seed) => (await cluster.client!.invoke('Micro', id, 'write', [entries, seed])) as number,
    processes: () => ({ client: [process.pid], ...cluster.processes() }),
    stop: () => cluster.stop(),
  };
}

/** Through plain NATS: a JSON request to the ingress subject, answered by whichever worker takes it. */
export function lambdaStoreNats(cluster: LambdaStoreCluster): BenchSystem {
  const c = cluster.chainLength;
  const h = natsHeaders();
  h.set('Content-Type', 'application/json');
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const call = async (id: string, method: string, args: unknown[]): Promise<unknown> => {
    const m = await cluster.nc!.request('lambdastore.invoke', enc.encode(JSON.stringify({ type: 'Micro', id, method, args })), { timeout: 10_000, headers: h });
    const reply = JSON.parse(dec.decode(m.data)) as { ok: boolean; result?: unknown; error?: { code: string; message: string } };
    if (!reply.ok) throw Object.assign(new Error(reply.error?.message ?? 'failed'), { code: reply.error?.code ?? 'ERROR' });
    return reply.result;
  };
  return {
    id: `lambdastore-nats-c${c}`,
    label: `LambdaStore, plain NATS JSON, chain ${c}`,
    kind: 'us',
    description: '',
    async start() {
      await cluster.start();
      this.description = `the same cluster, called with a JSON body on the ingress subject \`lambdastore.invoke\` (a worker queue group; the worker forwards to the shard's worker when it is not its own)`;
    },
    createMicro: (ids) => cluster.createMicro(ids),
    read: async (id, entries) => (await call(id, 'read', [entries])) as number,
    write: async (id, entries, seed) => (await call(id, 'write', [entries, seed])) as number,
    processes: () => ({ client: [process.pid], ...cluster.processes() }),
    stop: () => cluster.stop(),
  };
}
