/**
 * `lambdastore dev`: a complete local cluster (nats-server with JetStream, coordinator, N workers)
 * in one command; stays up until Ctrl-C.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseIntOption } from './args.js';
import { startDevCluster, type DevCluster, type DevProcess } from './dev-cluster.js';

export const DEV_USAGE = `usage: lambdastore dev [--workers 3] [--data .lambdastore/dev] [--prefix lambdastore] [--nats-port N] [--threads N]
                       [--chain-length 3] [--dashboard 127.0.0.1:0 | <host>:<port> | off]

Starts nats-server (JetStream), the coordinator and N workers on this machine, prints how to reach
them (the ops dashboard's URL too), and runs until Ctrl-C. Every shard is replicated on a chain of
--chain-length workers (at most --workers; default 3), so a worker that dies is replaced without
losing acknowledged writes. Data (and logs, in <data>/logs) survive a restart on the same --data.
--dashboard: where the coordinator serves the read-only ops dashboard (default loopback, a free port).`;

export const DEFAULT_DEV_DATA = '.lambdastore/dev';


/** Resolves when SIGINT or SIGTERM arrives (listeners removed afterwards). */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((res) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      res(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** How to use a running cluster: the CLI and plain NATS (JSON ingress). */
export function usageBanner(cluster: Pick<DevCluster, 'natsUrl' | 'prefix' | 'dataDir'> & { dashboardUrl?: string | undefined }, opts: { deployed?: boolean } = {}): string {
  const { natsUrl, prefix, dataDir } = cluster;
  // The CLI finds the cluster through <data>/cluster.json (default .lambdastore/dev under the cwd).
  const where = resolve(DEFAULT_DEV_DATA) === dataDir ? '' : ` --data ${dataDir}`;
  const lines = [
    `NATS:    ${natsUrl}   (subject prefix "${prefix}")`,
    `Data:    ${dataDir}   (logs in ${dataDir}/logs)`,
    ...(cluster.dashboardUrl ? [`Ops:     ${cluster.dashboardUrl}   (dashboard, read-only; \`npx lambdastore top\` in a terminal)`] : []),
    '',
    'With the CLI (another terminal, in this folder):',
  ];
  if (!opts.deployed) lines.push(`  npx lambdastore deploy examples/bank/account.ts${where}`);
  lines.push(
    `  npx lambdastore create Account alice 100${where}`,
    `  npx lambdastore invoke Account alice deposit 25${where}`,
    `  npx lambdastore invoke Account alice balance${where}`,
    `  npx lambdastore status${where}`,
    `  (from elsewhere: --nats ${natsUrl}${prefix === 'lambdastore' ? '' : ` --prefix ${prefix}`}, or LAMBDASTORE_NATS_URL=${natsUrl})`,
    '',
    'With plain NATS (JSON ingress; any NATS client, e.g. the `nats` CLI):',
    `  nats --server ${natsUrl} req ${prefix}.invoke -H 'Content-Type:application/json' \\`,
    `    '{"type":"Account","id":"alice","method":"deposit","args":[25],"idempotencyKey":"k-1"}'`,
    `  -> {"ok":true,"result":150}     create: {"type":"Account","id":"bob","create":true,"args":[10]}`,
    '',
    'From TypeScript:',
    `  const client = await connect({ servers: '${natsUrl}'${prefix === 'lambdastore' ? '' : `, prefix: '${prefix}'`} })`,
    `  await client.invoke('Account', 'alice', 'deposit', [25])`,
  );
  return lines.join('\n');
}

export async function devCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        workers: { type: 'string' },
        data: { type: 'string' },
        prefix: { type: 'string' },
        'nats-port': { type: 'string' },
        threads: { type: 'string' },
        'chain-length': { type: 'string' },
        dashboard: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${DEV_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(DEV_USAGE);
    return 0;
  }
  let workers: number, natsPort: number, threads: number | undefined, chainLength: number;
  try {
    workers = parseIntOption('workers', values.workers as string | undefined, 1, 64, 3);
    natsPort = parseIntOption('nats-port', values['nats-port'] as string | undefined, 0, 65535, 0);
    threads = values.threads === undefined ? undefined : parseIntOption('threads', values.threads as string, 1, 256);
    chainLength = parseIntOption('chain-length', values['chain-length'] as string | undefined, 1, 16, 3);
  } catch (err) {
    console.error(`${(err as Error).message}\n${DEV_USAGE}`);
    return 2;
  }
  const dataDir = resolve((values.data as string | undefined) ?? DEFAULT_DEV_DATA);
  const prefix = (values.prefix as string | undefined) ?? 'lambdastore';

  // A Ctrl-C during start-up must still stop what was started: remember it and stop once started.
  let signalled: NodeJS.Signals | undefined;
  const early = (sig: NodeJS.Signals) => {
    signalled = sig;
  };
  process.on('SIGINT', early);
  process.on('SIGTERM', early);
  let cluster: DevCluster | undefined;
  // Supervise: a worker or the coordinator that dies (a crash, an OOM kill, kill -9) is started
  // again, as a service manager would: a worker on its own data, the coordinator on the JetStream
  // KV that holds its state (so nothing is lost). A crash loop (5 restarts within a minute) is left down.
  const restarts = new Map<string, number[]>();
  const supervise = (proc: DevProcess) => {
    if (!cluster || signalled) return;
    const c = cluster;
    const w = c.workers.find((x) => x.name === proc.name);
    const restart = w ? () => c.restartWorker(w.index) : proc.name === c.coordinator.name ? () => c.restartCoordinator() : undefined;
    if (!restart) return;
    const now = Date.now();
    const recent = (restarts.get(proc.name) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= 5) {
      console.log(`[dev] ${proc.name} keeps dying; not restarting it (see ${proc.logFile})`);
      return;
    }
    restarts.set(proc.name, [...recent, now]);
    setTimeout(() => {
      if (signalled) return;
      // restartWorker/restartCoordinator print "[dev] restarting <name>" through the cluster's log.
      restart().then(
        () => console.log(`[dev] ${proc.name} is back`),
        (err: Error) => console.error(`[dev] could not restart ${proc.name}: ${err.message}`),
      );
    }, 1000).unref();
  };
  try {
    cluster = await startDevCluster({
      workers,
      dataDir,
      prefix,
      natsPort,
      chainLength,
      ...(threads !== undefined ? { threads } : {}),
      ...(typeof values.dashboard === 'string' ? { dashboard: values.dashboard } : {}),
      log: (line) => console.log(`[dev] ${line}`),
      onUnexpectedExit: supervise,
    });
  } catch (err) {
    console.error(`lambdastore dev: ${(err as Error).message}`);
    return 1;
  } finally {
    process.off('SIGINT', early);
    process.off('SIGTERM', early);
  }
  if (!cluster) return 1;
  if (!signalled) {
    console.log('');
    console.log(`LambdaStore dev cluster is up: ${workers} worker${workers === 1 ? '' : 's'} + coordinator.`);
    console.log(usageBanner(cluster));
    console.log('');
    console.log('Press Ctrl-C to stop.');
    signalled = await waitForSignal();
  }
  console.log(`\n[dev] ${signalled}: stopping the cluster`);
  try {
    await cluster.stop();
  } catch (err) {
    console.error(`lambdastore dev: ${(err as Error).message}`);
    return 1;
  }
  console.log('[dev] stopped');
  return 0;
}
