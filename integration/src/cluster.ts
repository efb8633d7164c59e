/** Shared set-up for integration tests: a real dev cluster (nats-server, coordinator, workers). */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevCluster, type DevCluster, type DevClusterOptions } from '@lambdastore/cli';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { tempDir } from '@lambdastore/testkit';
import type { LambdaStoreError } from '@lambdastore/proto';

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
