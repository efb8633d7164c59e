#!/usr/bin/env node
/**
 * lambdastore worker process.
 *   node services/worker/dist/src/main.js --nats <url> --data <dir> [--id <workerId>] [--prefix lambdastore] [--threads N] [--cache-max-mb N] [--entry-sets coarse|fine|adaptive]
 * Prints `worker <id> ready` once it has joined; SIGINT/SIGTERM stop it cleanly (exit 0).
 */
import { parseArgs } from 'node:util';
import { startOtel } from '@lambdastore/telemetry';
import type { Granularity } from '@lambdastore/worker';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nats: { type: 'string', default: process.env.LAMBDASTORE_NATS_URL },
      data: { type: 'string', default: process.env.LAMBDASTORE_WORKER_DATA },
      id: { type: 'string', default: process.env.LAMBDASTORE_WORKER_ID },
      prefix: { type: 'string', default: process.env.LAMBDASTORE_PREFIX },
      threads: { type: 'string' },
      'heartbeat-interval-ms': { type: 'string' },
      'entry-sets': { type: 'string' },
      'cache-max-mb': { type: 'string' },
    },
    strict: true,
  });
  if (!values.nats || !values.data) {
    console.error('usage: worker --nats <url> --data <dir> [--id <workerId>] [--prefix lambdastore] [--threads N] [--cache-max-mb N] [--entry-sets coarse|fine|adaptive]');
    process.exit(2);
  }
  const stopTelemetry = await startOtel('lambdastore-worker');
  const { LambdaStoreWorker } = await import('@lambdastore/worker');
  const num = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) {
      console.error(`worker: --${flag} must be a positive integer, got "${v}"`);
      process.exit(2);
    }
    return n;
  };
  const cacheMb = num(values['cache-max-mb'], 'cache-max-mb');
  const worker = await LambdaStoreWorker.start({
    servers: values.nats,
    dataDir: values.data,
    workerId: values.id,
    prefix: values.prefix,
    threads: num(values.threads, 'threads'),
    heartbeatIntervalMs: num(values['heartbeat-interval-ms'], 'heartbeat-interval-ms'),
    cacheMaxBytes: cacheMb === undefined ? undefined : cacheMb * 1024 * 1024,
    entrySets: values['entry-sets'] as Granularity | undefined,
  });
  console.log(`worker ${worker.id} ready`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await worker.stop();
    await stopTelemetry();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err) => {
  console.error(`worker failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
