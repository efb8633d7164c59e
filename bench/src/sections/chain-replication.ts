/**
 * Chain replication (issue 4): the write-only micro workload on chains of 1 and of 3 workers in
 * the same run (throughput ratio, p50/p99), and the time from SIGKILL of a shard's head to the
 * first successful write on that shard (median of 5). It starts its own clusters: it kills workers.
 *
 * Run alone (a short check): node bench/dist/src/sections/chain-replication.js [--quick]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startDevCluster, replicasCaughtUp, runClosedLoop, forEachLimited, type DevCluster } from '@lambdastore/cli';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { lambdastore, shardOf, subjects } from '@lambdastore/proto';
import { eventually } from '@lambdastore/testkit';
import { connect as natsConnect } from '@nats-io/transport-node';
import { parseConfig, repoRoot, usage, type BenchConfig } from '../config.js';
import type { Section } from './section.js';

const OBJECTS = 200;
/** Failover rounds: the median of 5 (issue 4); 3 in a --quick run, which has to stay under 5 minutes. */
const failovers = (cfg: BenchConfig) => (cfg.quick ? 3 : 5);

interface Started {
  cluster: DevCluster;
  client: LambdaStoreClient;
  dir: string;
  stop(): Promise<void>;
}

async function startCluster(chainLength: number, heartbeatTimeoutMs: number, log: (s: string) => void): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), `ls-bench-chain${chainLength}-`));
  const cluster = await startDevCluster({ workers: 3, chainLength, dataDir: join(dir, 'cluster'), coordinatorArgs: ['--heartbeat-timeout-ms', String(heartbeatTimeoutMs)], log: (l) => log(`    ${l}`) });
  const client = await connect({ servers: cluster.natsUrl, maxAttempts: 1000, callTimeoutMs: 60_000 });
  await client.deployFile(join(repoRoot, 'examples', 'micro', 'micro.ts'));
  return {
    cluster, client, dir,
    async stop() {
      await client.close().catch(() => {});
      await cluster.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Every shard on a chain of `length` live workers, each member behind the head caught up (its state
 * transfer done, as its heartbeats say): until then writes wait for the joiners.
 */
async function settled(s: Started, length: number): Promise<void> {
  const nc = await natsConnect({ servers: s.cluster.natsUrl });
  const beats = new Map<string, lambdastore.Heartbeat>();
  nc.subscribe(subjects(s.cluster.prefix).heartbeat, { callback: (_e, m) => { const hb = lambdastore.Heartbeat.decode(m.data); beats.set(hb.workerId, hb); } });
  try {
    await eventually(async () => replicasCaughtUp(await s.client.config(), beats, length).ok || undefined, 120_000, `chains of ${length}, caught up`, 50);
  } finally {
    await nc.close();
  }
}

export interface WriteRun { length: number; callsPerSec: number; p50Ms: number; p99Ms: number; errors: number }

async function writeOnly(length: number, cfg: BenchConfig, log: (s: string) => void): Promise<WriteRun> {
  const s = await startCluster(length, 3000, log);
  try {
    await settled(s, length);
    const ids = Array.from({ length: OBJECTS }, (_, i) => `chain-w-${i}`);
    await forEachLimited(ids, 32, async (id) => { await s.client.create('Micro', id, 10, 100); });
    const call = () => s.client.invoke('Micro', ids[Math.floor(Math.random() * ids.length)]!, 'write', [[Math.floor(Math.random() * 10)], Math.floor(Math.random() * 1e9)]);
    await runClosedLoop({ concurrency: cfg.concurrency, durationMs: cfg.warmupMs, call });
    const r = await runClosedLoop({ concurrency: cfg.concurrency, durationMs: cfg.durationMs, call });
    log(`  write-only, chain length ${length}: ${Math.round(r.callsPerSec)} writes/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, errors ${r.errors}`);
    return { length, callsPerSec: r.callsPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors };
  } finally {
    await s.stop();
  }
}

/** ms from SIGKILL of the head of an object's shard to the first successful write of that object. */
async function failoverTimes(rounds: number, log: (s: string) => void): Promise<{ times: number[]; heartbeatTimeoutMs: number }> {
  const heartbeatTimeoutMs = 1500;
  const s = await startCluster(3, heartbeatTimeoutMs, log);
  const times: number[] = [];
  try {
    await settled(s, 3);
    for (let round = 0; round < rounds; round++) {
      const id = `failover-${round}`;
      await s.client.create('Micro', id, 10, 100);
      const cfg = await s.client.config();
      const head = cfg.shards.find((x) => x.shard === shardOf('Micro', id, cfg.numShards))!.chain![0]!;
      const victim = s.cluster.workers.findIndex((w) => w.id === head);
      await s.client.invoke('Micro', id, 'write', [[1], round]);
      const killedAt = performance.now();
      await s.cluster.killWorker(victim, 'SIGKILL');
      // Retries (same idempotency key) go on until the shard has a new head.
      await s.client.invoke('Micro', id, 'write', [[2], round], { timeoutMs: 60_000 });
      const ms = performance.now() - killedAt;
      times.push(ms);
      log(`  failover ${round + 1}/${rounds}: first write ${Math.round(ms)} ms after SIGKILL of ${head}`);
      await s.cluster.restartWorker(victim);
      await settled(s, 3);
    }
  } finally {
    await s.stop();
  }
  return { times, heartbeatTimeoutMs };
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };

export const chainReplicationSection: Section = {
  title: 'Chain replication: chain length 1 vs 3, failover time',
  async run({ cfg, log }) {
    const c1 = await writeOnly(1, cfg, log);
    const c3 = await writeOnly(3, cfg, log);
    const fo = await failoverTimes(failovers(cfg), log);
    const ratio = c3.callsPerSec / Math.max(1, c1.callsPerSec);
    log(`  chain 3 / chain 1 write throughput: ${ratio.toFixed(2)}; failover median ${Math.round(median(fo.times))} ms`);
    const row = (r: WriteRun) => `| ${r.length} | ${Math.round(r.callsPerSec).toLocaleString('en-US')} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.errors} |`;
    return `## Chain replication: chain length 1 vs 3, failover time

Write-only micro workload (\`Micro.write\`, one entry of ${OBJECTS} objects, ${cfg.concurrency} in flight, ${cfg.durationMs / 1000} s after
${cfg.warmupMs / 1000} s warm-up), 3 workers, the same run. With chains of 3 a write is acknowledged once the
tail has it on disk (every node group-commits its own batch).

| chain length | writes/s | p50 ms | p99 ms | errors |
|---|---|---|---|---|
${row(c1)}
${row(c3)}

Chain 3 / chain 1 throughput: **${ratio.toFixed(2)}**.

Failover: SIGKILL of the head of an object's shard, then one write of that object (the client
retries with the same idempotency key); time to its success, ${fo.times.length} rounds (the worker restarts
and rejoins as tail in between), heartbeat timeout ${fo.heartbeatTimeoutMs} ms:
${fo.times.map((t) => `${Math.round(t)}`).join(', ')} ms; **median ${Math.round(median(fo.times))} ms**.
`;
  },
};

// Alone: a short check of this section (not the whole bench).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const parsed = parseConfig(process.argv.slice(2), []);
  const log = (s: string) => process.stdout.write(s + '\n');
  if (parsed === 'help') {
    log(usage([]));
    process.exit(0);
  }
  const cfg = parsed;
  chainReplicationSection.run({ cfg, log, lambdaStore: undefined as never }).then((md) => { log(md); process.exit(0); }, (err) => { console.error(err); process.exit(1); });
}
