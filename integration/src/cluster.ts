/** Shared set-up for integration tests: a real dev cluster (nats-server, coordinator, workers). */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevCluster, type DevCluster, type DevClusterOptions } from '@lambdastore/cli';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { tempDir } from '@lambdastore/testkit';
import { shardOf, type LambdaStoreError } from '@lambdastore/proto';
import type { ClusterConfig } from '@lambdastore/client';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const fixture = (name: string) => join(repoRoot, 'integration', 'fixtures', name);
export const example = (path: string) => join(repoRoot, 'examples', path);

export interface TestCluster {
  cluster: DevCluster;
  client: LambdaStoreClient;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startTestCluster(opts: Partial<DevClusterOptions> = {}): Promise<TestCluster> {
  const dir = await tempDir('ls-it-');
  let cluster: DevCluster | undefined;
  try {
    cluster = await startDevCluster({ workers: 3, threads: 2, ...opts, dataDir: join(dir.path, 'cluster') });
    const client = await connect({ servers: cluster.natsUrl, prefix: cluster.prefix });
    const c = cluster;
    return {
      cluster: c,
      client,
      dataDir: dir.path,
      async stop() {
        await client.close().catch(() => {});
        await c.stop();
        await dir.cleanup();
      },
    };
  } catch (err) {
    await cluster?.stop().catch(() => {});
    await dir.cleanup();
    throw err;
  }
}

/** The error a promise rejects with (an Error is required), or a failure when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<LambdaStoreError> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof Error)) throw new Error(`rejected with a non-Error: ${String(err)}`);
    return err as LambdaStoreError;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

/** The code a call fails with, or NO_ERROR when it succeeds. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as LambdaStoreError).code ?? (err as Error).message;
  }
  return 'NO_ERROR';
}

/** Where a test puts its objects: all on one worker, or round robin over the workers. */
export type Spread = 'one-worker' | 'across-workers';

/**
 * n object ids of `type` whose owners (head of the shard's chain) are all one worker
 * ('one-worker'), or the workers in turn, round robin over the sorted worker ids ('across-workers':
 * ids[i] lives on worker i mod W). Ids are `${prefix}-<k>`; the prefix keeps tests apart.
 */
export function placeObjects(cfg: ClusterConfig, type: string, n: number, spread: Spread, prefix = type.toLowerCase()): string[] {
  const ownerOf = new Map<number, string>();
  for (const s of cfg.shards) if (s.chain?.[0]) ownerOf.set(s.shard ?? 0, s.chain[0]);
  const owner = (id: string) => ownerOf.get(shardOf(type, id, cfg.numShards));
  const workers = [...new Set(ownerOf.values())].sort();
  const targets = spread === 'one-worker' ? Array.from({ length: n }, () => owner(`${prefix}-0`)) : Array.from({ length: n }, (_, i) => workers[i % workers.length]);
  if (spread === 'across-workers' && workers.length < 2) throw new Error(`across-workers needs 2 workers, the map has ${workers.length}`);
  if (targets.some((w) => w === undefined)) throw new Error('the cluster map has unassigned shards');
  const free = new Map<string, string[]>(); // worker -> candidate ids not used yet
  const ids: string[] = [];
  for (let k = 0; ids.length < n; k++) {
    if (k > 100_000) throw new Error(`cannot place ${n} ${type} objects ${spread}`);
    const id = `${prefix}-${k}`;
    const w = owner(id)!;
    free.set(w, [...(free.get(w) ?? []), id]);
    // Fill slots in order as soon as their worker has a candidate.
    while (ids.length < n && (free.get(targets[ids.length]!)?.length ?? 0) > 0) ids.push(free.get(targets[ids.length]!)!.shift()!);
  }
  return ids;
}
