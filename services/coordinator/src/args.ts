/**
 * Command line of the coordinator service (contract in docs/ARCHITECTURE.md):
 *   --nats <url> [--prefix lambdastore] [--shards 16] [--min-workers N] [--heartbeat-timeout-ms 3000] [--chain-length 3]
 *   [--dashboard 127.0.0.1:0 | off]
 * Each flag may also come from the environment (LAMBDASTORE_NATS_URL, LAMBDASTORE_PREFIX,
 * LAMBDASTORE_SHARDS, LAMBDASTORE_MIN_WORKERS, LAMBDASTORE_HEARTBEAT_TIMEOUT_MS,
 * LAMBDASTORE_CHAIN_LENGTH, LAMBDASTORE_DASHBOARD); flags win.
 */
import { parseArgs } from 'node:util';

export interface ServiceArgs {
  natsUrl: string;
  prefix: string | undefined;
  numShards: number | undefined;
  minWorkers: number | undefined;
  heartbeatTimeoutMs: number | undefined;
  chainLength: number | undefined;
  /** Wait for the active coordinator's lease and take over when it stops renewing it. */
  standby: boolean;
  /** Where the ops dashboard listens; undefined: no dashboard. */
  dashboard: { host: string; port: number } | undefined;
  help: boolean;
}

/** Where the dashboard listens unless told otherwise. */
export const DEFAULT_DASHBOARD = '127.0.0.1:0';

export const USAGE = `usage: lambdastore-coordinator --nats <url> [--prefix lambdastore] [--shards 16] [--min-workers N] [--heartbeat-timeout-ms 3000]
                              [--chain-length 3] [--dashboard <host>:<port> | off] [--standby]
  --standby: wait while another coordinator is active; take over within seconds when it dies
  --chain-length: workers per shard chain (replication factor; default 3, at most the live workers)
  --dashboard: the read-only ops dashboard (HTTP); default ${DEFAULT_DASHBOARD} (loopback, a free port; the URL is logged)
  env: LAMBDASTORE_NATS_URL LAMBDASTORE_PREFIX LAMBDASTORE_SHARDS LAMBDASTORE_MIN_WORKERS LAMBDASTORE_HEARTBEAT_TIMEOUT_MS LAMBDASTORE_CHAIN_LENGTH LAMBDASTORE_DASHBOARD
  tracing: set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER) to export spans`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** `host:port`, `[v6]:port` or `off`. */
export function parseDashboard(value: string): { host: string; port: number } | undefined {
  if (value === 'off') return undefined;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--dashboard must be <host>:<port> (port 0 picks a free one) or off, got ${JSON.stringify(value)}`);
  return { host: (m[1] ?? m[2])!, port };
}


function intArg(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

export function parseServiceArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServiceArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        nats: { type: 'string' },
        prefix: { type: 'string' },
        shards: { type: 'string' },
        'min-workers': { type: 'string' },
        'heartbeat-timeout-ms': { type: 'string' },
        'chain-length': { type: 'string' },
        standby: { type: 'boolean' },
        dashboard: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const help = values.help === true;
  const natsUrl = values.nats ?? env.LAMBDASTORE_NATS_URL ?? '';
  if (!natsUrl && !help) throw new UsageError('--nats <url> is required (or set LAMBDASTORE_NATS_URL)');
  return {
    natsUrl,
    prefix: values.prefix ?? (env.LAMBDASTORE_PREFIX || undefined),
    numShards: intArg('--shards', values.shards ?? env.LAMBDASTORE_SHARDS),
    minWorkers: intArg('--min-workers', values['min-workers'] ?? env.LAMBDASTORE_MIN_WORKERS),
    heartbeatTimeoutMs: intArg('--heartbeat-timeout-ms', values['heartbeat-timeout-ms'] ?? env.LAMBDASTORE_HEARTBEAT_TIMEOUT_MS),
    chainLength: intArg('--chain-length', values['chain-length'] ?? env.LAMBDASTORE_CHAIN_LENGTH),
    standby: values.standby === true,
    dashboard: parseDashboard(values.dashboard ?? (env.LAMBDASTORE_DASHBOARD || DEFAULT_DASHBOARD)),
    help,
  };
}
