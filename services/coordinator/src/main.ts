#!/usr/bin/env node
/**
 * The coordinator process. Prints exactly `coordinator ready` on stdout once it serves admin
 * requests; diagnostics go to stderr. SIGINT/SIGTERM stop it cleanly with exit code 0.
 *
 * Only light modules are imported statically: OpenTelemetry (when configured) must start before
 * the coordinator and its NATS client are loaded, so those are imported dynamically below.
 */
import { USAGE, UsageError, parseServiceArgs } from './args.js';
import { startOtel } from '@lambdastore/telemetry';

/** How long a clean stop may take before the process gives up and exits with 1. */
const STOP_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  let args;
  try {
    args = parseServiceArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }

  const shutdownOtel = await startOtel('lambdastore-coordinator');
  const { Coordinator } = await import('@lambdastore/coordinator');
  let coordinator: InstanceType<typeof Coordinator>;
  try {
    coordinator = new Coordinator({
      servers: args.natsUrl,
      prefix: args.prefix,
      numShards: args.numShards,
      minWorkers: args.minWorkers,
      heartbeatTimeoutMs: args.heartbeatTimeoutMs,
      chainLength: args.chainLength,
      standby: args.standby,
      // Another coordinator took over (this one was paused or cut off): exit, a supervisor may
      // start it again as a standby.
      onLeaseLost: () => process.exit(1),
      dashboard: args.dashboard,
    });
  } catch (err) {
    // Bad option values are usage errors, like bad flags.
    console.error(`${(err as Error).message}\n${USAGE}`);
    await shutdownOtel();
    process.exit(2);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`[coordinator] ${signal}: stopping`);
    const guard = setTimeout(() => {
      console.error(`[coordinator] did not stop within ${STOP_TIMEOUT_MS} ms; exiting`);
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    guard.unref();
    await coordinator.stop().catch((err) => console.error(`[coordinator] stop failed: ${(err as Error).message}`));
    await shutdownOtel();
    process.exit(0);
  };
  // Registered before start, so a signal during start-up still stops cleanly.
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  try {
    await coordinator.start();
  } catch (err) {
    console.error(`[coordinator] could not start: ${(err as Error).message}`);
    await shutdownOtel();
    process.exit(1);
  }
  if (coordinator.dashboardUrl) {
    const loopback = /^(127\.|localhost$|::1$)/.test(args.dashboard!.host);
    console.error(`[coordinator] dashboard ${coordinator.dashboardUrl} (read-only${loopback ? '' : '; reachable from the network: put it behind your own access control'})`);
  }
  if (!stopping) process.stdout.write('coordinator ready\n');
}

main().catch((err) => {
  console.error(`[coordinator] fatal: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
