/**
 * Coordinator options. Every duration and size carries its unit in its name; every default and
 * bound is listed here, and `resolveOptions` is the one place that checks them.
 */
import { DEFAULT_PREFIX, subjects } from '@lambdastore/proto';
import { optionError } from './errors.js';

export interface CoordinatorLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string, err?: unknown): void;
}

export interface CoordinatorOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. Required. */
  servers: string | string[];
  /** Subject prefix shared by the whole cluster. Default `lambdastore`. */
  prefix?: string;
  /**
   * Number of shards, 1..4096. Default 16. Fixed once shards are assigned: a restarted coordinator
   * keeps the persisted value (objects are hashed by it) and warns if this option differs.
   */
  numShards?: number;
  /**
   * Assign shards as soon as this many workers are alive (1..1024). When not given, shards are
   * assigned `assignSettleMs` after the first heartbeat, over whoever is alive by then.
   */
  minWorkers?: number;
  /** A worker without a heartbeat for this long is dead. Default 3000, 100..600000. */
  heartbeatTimeoutMs?: number;
  /** Workers per shard chain (replication factor), as far as workers are alive. Default 3, 1..16. */
  chainLength?: number;
  /** Wait after the first heartbeat before assigning (when `minWorkers` is not given). Default 1000, 0..600000. */
  assignSettleMs?: number;
  /** Re-publish the config this often even without a change. Default 2000, 50..600000. */
  configBroadcastIntervalMs?: number;
  /** How often liveness and assignment are re-evaluated (the precision of dead-worker detection). Default 100, 10..10000. */
  livenessCheckIntervalMs?: number;
  /** Largest accepted module source in UTF-8 bytes. Default 900 KiB (NATS max_payload is 1 MiB), 1..64 MiB. */
  maxModuleBytes?: number;
  /** Wall-clock bound for validating one module in its throw-away thread. Default 2000, 100..60000. */
  moduleCheckTimeoutMs?: number;
  /** Old-generation heap limit of the validation thread. Default 128, 16..4096. */
  moduleCheckMaxHeapMb?: number;
  /** Module validations running at once; more wait their turn. Default 2, 1..64. */
  maxConcurrentModuleChecks?: number;
  /** Where diagnostics go. Default: stderr. */
  logger?: CoordinatorLogger;
  /**
   * The ops dashboard (HTTP, read-only): address to listen on, or undefined for no dashboard.
   * Port 0 picks a free one; `Coordinator.dashboardUrl` tells which. Default: none.
   */
  dashboard?: { host: string; port: number } | undefined;
  /** How often the dashboard pushes fresh data to open pages. Default 1000, 100..60000. */
  dashboardPushIntervalMs?: number;
  /** A trace at least this long is listed as slow. Default 100, 1..600000. */
  slowTraceMs?: number;
  /**
   * The active coordinator's lease in KV: a standby takes over once the active one has not renewed
   * it for this long. Default 3000, 300..600000.
   */
  leaseMs?: number;
  /** Wait as long as it takes for the active coordinator's lease (else give up after twice its length). */
  standby?: boolean;
  /** Called after the coordinator stopped because another one took its lease (a process exits). */
  onLeaseLost?: (why: string) => void;
}

export const COORDINATOR_DEFAULTS = {
  prefix: DEFAULT_PREFIX,
  numShards: 16,
  heartbeatTimeoutMs: 3000,
  chainLength: 3,
  assignSettleMs: 1000,
  configBroadcastIntervalMs: 2000,
  livenessCheckIntervalMs: 100,
  maxModuleBytes: 900 * 1024,
  moduleCheckTimeoutMs: 2000,
  moduleCheckMaxHeapMb: 128,
  maxConcurrentModuleChecks: 2,
  dashboardPushIntervalMs: 1000,
  slowTraceMs: 100,
  leaseMs: 3000,
} as const;

export interface ResolvedOptions {
  servers: string[];
  prefix: string;
  numShards: number;
  minWorkers: number | undefined;
  heartbeatTimeoutMs: number;
  chainLength: number;
  assignSettleMs: number;
  configBroadcastIntervalMs: number;
  livenessCheckIntervalMs: number;
  maxModuleBytes: number;
  moduleCheckTimeoutMs: number;
  moduleCheckMaxHeapMb: number;
  maxConcurrentModuleChecks: number;
  logger: CoordinatorLogger;
  dashboard: { host: string; port: number } | undefined;
  dashboardPushIntervalMs: number;
  slowTraceMs: number;
  leaseMs: number;
  standby: boolean;
  onLeaseLost: ((why: string) => void) | undefined;
}

export const stderrLogger: CoordinatorLogger = {
  info: (m) => console.error(`[coordinator] ${m}`),
  warn: (m) => console.error(`[coordinator] warning: ${m}`),
  error: (m, err) => console.error(`[coordinator] error: ${m}${err === undefined ? '' : `: ${err instanceof Error ? err.message : String(err)}`}`),
};

function int(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw optionError(name, `must be an integer in ${min}..${max}, got ${String(value)}`);
  return v;
}

export function resolveOptions(opts: CoordinatorOptions): ResolvedOptions {
  const servers = Array.isArray(opts.servers) ? opts.servers : [opts.servers];
  if (servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw optionError('servers', 'give at least one NATS URL');
  }
  const prefix = opts.prefix ?? COORDINATOR_DEFAULTS.prefix;
  try {
    subjects(prefix);
  } catch (err) {
    throw optionError('prefix', (err as Error).message);
  }
  const d = COORDINATOR_DEFAULTS;
  return {
    servers,
    prefix,
    numShards: int('numShards', opts.numShards, d.numShards, 1, 4096),
    minWorkers: opts.minWorkers === undefined ? undefined : int('minWorkers', opts.minWorkers, 1, 1, 1024),
    heartbeatTimeoutMs: int('heartbeatTimeoutMs', opts.heartbeatTimeoutMs, d.heartbeatTimeoutMs, 100, 600_000),
    chainLength: int('chainLength', opts.chainLength, d.chainLength, 1, 16),
    assignSettleMs: int('assignSettleMs', opts.assignSettleMs, d.assignSettleMs, 0, 600_000),
    configBroadcastIntervalMs: int('configBroadcastIntervalMs', opts.configBroadcastIntervalMs, d.configBroadcastIntervalMs, 50, 600_000),
    livenessCheckIntervalMs: int('livenessCheckIntervalMs', opts.livenessCheckIntervalMs, d.livenessCheckIntervalMs, 10, 10_000),
    maxModuleBytes: int('maxModuleBytes', opts.maxModuleBytes, d.maxModuleBytes, 1, 64 * 1024 * 1024),
    moduleCheckTimeoutMs: int('moduleCheckTimeoutMs', opts.moduleCheckTimeoutMs, d.moduleCheckTimeoutMs, 100, 60_000),
    moduleCheckMaxHeapMb: int('moduleCheckMaxHeapMb', opts.moduleCheckMaxHeapMb, d.moduleCheckMaxHeapMb, 16, 4096),
    maxConcurrentModuleChecks: int('maxConcurrentModuleChecks', opts.maxConcurrentModuleChecks, d.maxConcurrentModuleChecks, 1, 64),
    logger: opts.logger ?? stderrLogger,
    dashboard: opts.dashboard === undefined ? undefined : {
      host: dashboardHost(opts.dashboard.host),
      port: int('dashboard.port', opts.dashboard.port, 0, 0, 65535),
    },
    dashboardPushIntervalMs: int('dashboardPushIntervalMs', opts.dashboardPushIntervalMs, d.dashboardPushIntervalMs, 100, 60_000),
    slowTraceMs: int('slowTraceMs', opts.slowTraceMs, d.slowTraceMs, 1, 600_000),
    leaseMs: int('leaseMs', opts.leaseMs, d.leaseMs, 300, 600_000),
    standby: opts.standby === true,
    onLeaseLost: opts.onLeaseLost,
  };
}

function dashboardHost(host: unknown): string {
  if (typeof host !== 'string' || !/^[A-Za-z0-9.:_-]+$/.test(host)) throw optionError('dashboard.host', `must be a host name or IP address, got ${JSON.stringify(host)}`);
  return host;
}
