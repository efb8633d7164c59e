/**
 * ClusterConfigData <-> protobuf bytes. The same bytes are stored in KV and published, so what a
 * worker receives is exactly what a restarted coordinator will load.
 */
import { lambdastore } from '@lambdastore/proto';
import type { ClusterConfigData, TypeInfoData } from './cluster-model.js';

export function encodeConfig(config: ClusterConfigData): Uint8Array {
  return lambdastore.ClusterConfig.encode(lambdastore.ClusterConfig.create(config)).finish();
}

/** Throws on bytes that are not a ClusterConfig; missing fields take their proto3 defaults. */
export function decodeConfig(bytes: Uint8Array): ClusterConfigData {
  return configFromProto(lambdastore.ClusterConfig.decode(bytes));
}

export function configFromProto(c: lambdastore.IClusterConfig): ClusterConfigData {
  return {
    version: Number(c.version ?? 0),
    numShards: c.numShards ?? 0,
    clusterId: c.clusterId ?? '',
    shards: (c.shards ?? []).map((s) => ({ shard: s.shard ?? 0, chain: [...(s.chain ?? [])], epoch: Number(s.epoch ?? 0) })),
    workers: (c.workers ?? []).map((w) => ({
      id: w.id ?? '',
      alive: !!w.alive,
      lastSeenMs: Number(w.lastSeenMs ?? 0),
      pid: w.pid ?? 0,
      startedAtMs: Number(w.startedAtMs ?? 0),
      inflight: w.inflight ?? 0,
      callsTotal: Number(w.callsTotal ?? 0),
      abortsTotal: Number(w.abortsTotal ?? 0),
      entrySetSplits: Number(w.entrySetSplits ?? 0),
      entrySetMerges: Number(w.entrySetMerges ?? 0),
      removed: !!w.removed,
      drained: !!w.drained,
    })),
    types: (c.types ?? []).map(typeFromProto),
  };
}

export function typeFromProto(t: lambdastore.ITypeInfo): TypeInfoData {
  return {
    name: t.name ?? '',
    version: t.version ?? 0,
    moduleId: t.moduleId ?? '',
    methods: (t.methods ?? []).map((m) => ({ name: m.name ?? '', readonly: !!m.readonly, timeoutMs: m.timeoutMs ?? 0 })),
    deployedAtMs: Number(t.deployedAtMs ?? 0),
  };
}
