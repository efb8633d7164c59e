/** Shared set-up for integration tests: a real dev cluster (nats-server, coordinator, workers). */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevCluster, type DevCluster, type DevClusterOptions } from '@lambdastore/cli';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { tempDir } from '@lambdastore/testkit';

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
