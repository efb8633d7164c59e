/**
 * Looking at replicas from outside: worker heartbeats (which shards each holds caught up, what it
 * has not had acknowledged yet) and, after the cluster stopped, the bytes in every worker's LevelDB.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { lambdastore, shardOf, subjects } from '@lambdastore/proto';
import { Store, parseStorageKey } from '@lambdastore/storage';
import { eventually } from '@lambdastore/testkit';
import { replicasCaughtUp } from '@lambdastore/cli';
import type { TestCluster } from './cluster.js';
import type { ClusterConfig } from '@lambdastore/client';

export interface HeartbeatWatch {
  latest: Map<string, lambdastore.Heartbeat>;
  close(): Promise<void>;
}

export async function watchHeartbeats(t: TestCluster): Promise<HeartbeatWatch> {
  const nc: NatsConnection = await connect({ servers: t.cluster.natsUrl });
  const latest = new Map<string, lambdastore.Heartbeat>();
  nc.subscribe(subjects(t.cluster.prefix).heartbeat, { callback: (_e, m) => { const hb = lambdastore.Heartbeat.decode(m.data); latest.set(hb.workerId, hb); } });
  return { latest, close: () => nc.close() };
}

/**
 * Waits until every shard has a chain of `length` live workers and every member behind the head
 * reports the shard caught up under this map and, unless `busy` (a workload is still running, so
 * records are always in flight), nothing is left unacknowledged anywhere.
 */
export async function waitReplicated(t: TestCluster, hb: HeartbeatWatch, length: number, timeoutMs: number, busy = false): Promise<ClusterConfig> {
  let why = '';
  return eventually(async () => {
    const cfg = await t.client.config();
    const caughtUp = replicasCaughtUp(cfg, hb.latest, length);
    if (!caughtUp.ok) { why = caughtUp.why; return false; }
    const alive = new Set(cfg.workers.filter((w) => w.alive && !w.removed).map((w) => w.id ?? ""));
    for (const w of alive) {
      const beat = hb.latest.get(w);
      if (!beat || (!busy && beat.unackedRecords > 0) || Number(beat.configVersion) < Number(cfg.version)) {
        why = `${w}: ${beat?.unackedRecords} unacknowledged records, map ${beat?.configVersion} of ${cfg.version}; chains ${cfg.shards.map((s) => `${s.shard}:${s.chain?.join('>')}@${s.epoch}`).join(' ')}`;
        return false;
      }
    }
    return cfg;
  }, timeoutMs, `every shard replicated on ${length} caught-up workers`, 100).catch((err: Error) => {
    const tails = [t.cluster.coordinator, ...t.cluster.workers].map((p) => `--- ${p.name} (${p.logFile})\n${p.output().slice(-4000)}`);
    throw new Error(`${err.message} (last seen: ${why})\n${tails.join('\n')}`);
  });
}

/** shard -> worker -> digest of every key of that shard in the worker's LevelDB (cluster stopped). */
export async function replicaDigests(t: TestCluster, cfg: ClusterConfig): Promise<Map<number, Map<string, string>>> {
  const out = new Map<number, Map<string, string>>();
  for (const w of t.cluster.workers) {
    const store = await Store.open(join(w.dataDir, 'db'));
    const hashes = new Map<number, ReturnType<typeof createHash>>();
    try {
      for await (const { key, value } of store.rawEntries()) {
        const k = parseStorageKey(key);
        if (k.kind !== 'meta' && k.kind !== 'entry' && k.kind !== 'dedup' && k.kind !== 'expiry') continue;
        const shard = shardOf(k.object.type, k.object.id, cfg.numShards);
        let h = hashes.get(shard);
        if (!h) hashes.set(shard, (h = createHash('sha256')));
        h.update(key).update('\u0000').update(value).update('\u0001');
      }
    } finally {
      await store.close();
    }
    for (const [shard, h] of hashes) {
      if (!out.has(shard)) out.set(shard, new Map());
      out.get(shard)!.set(w.id, h.digest('hex'));
    }
  }
  return out;
}

/** Stops the cluster and checks that every member of every shard's chain holds the same bytes. */
export async function expectIdenticalReplicas(t: TestCluster, cfg: ClusterConfig): Promise<void> {
  await t.cluster.stop();
  const digests = await replicaDigests(t, cfg);
  let compared = 0;
  for (const s of cfg.shards) {
    const byWorker = digests.get(s.shard ?? 0);
    if (!byWorker) continue; // a shard without objects
    const members = s.chain ?? [];
    const values = members.map((w) => byWorker.get(w) ?? 'nothing');
    expect(new Set(values).size, `shard ${s.shard}: replicas ${members.join(',')} differ`).to.equal(1);
    compared++;
  }
  expect(compared).to.be.greaterThan(0);
}
