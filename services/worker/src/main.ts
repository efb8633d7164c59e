#!/usr/bin/env node
/**
 * lambdastore worker process.
 *   node services/worker/dist/src/main.js --nats <url> --data <dir> [--id <workerId>] [--prefix lambdastore] [--threads N] [--entry-sets coarse|fine|adaptive]
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
    },
    strict: true,
  });
  if (!values.nats || !values.data) {
    console.error('usage: worker --nats <url> --data <dir> [--id <workerId>] [--prefix lambdastore] [--threads N] [--entry-sets coarse|fine|adaptive]');
    process.exit(2);
  }
  const stopTelemetry = await startOtel('lambdastore-worker');
  const { LambdaStoreWorker } = await import('@lambdastore/worker');
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const worker = await LambdaStoreWorker.start({
    servers: values.nats,
    dataDir: values.data,
    workerId: values.id,
    prefix: values.prefix,
    threads: num(values.threads),
    heartbeatIntervalMs: num(values['heartbeat-interval-ms']),
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
