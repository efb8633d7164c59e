import { availableParallelism, totalmem } from 'node:os';
import { DEFAULT_PREFIX } from '@lambdastore/proto';
import type { Granularity } from '@lambdastore/txn';

/** Worker settings. Every duration is in ms and every size in bytes; defaults in DEFAULTS. */
export interface WorkerOptions {
  /** NATS server URL(s). */
  servers: string | string[];
  /** Folder of this worker's LevelDB and module cache. */
  dataDir: string;
  /** Stable worker id; read from / written to `<dataDir>/worker-id` when omitted. */
  workerId?: string;
  prefix?: string;
  /** Piscina threads running methods (default: cores, at least 2). */
  threads?: number;
  heartbeatIntervalMs?: number;
  /** Time limit of one method attempt unless the method sets its own (1000). */
  defaultMethodTimeoutMs?: number;
  /** Upper bound a method may ask for with `timeoutMs` (30000). */
  maxMethodTimeoutMs?: number;
  /** OCC attempts of one call before TXN_ABORTED (16). */
  maxTxnAttempts?: number;
  /** Largest accepted request body (1 MiB, NATS' default max_payload). */
  maxRequestBytes?: number;
  /** Largest entry value a method may write (512 KiB). */
  maxValueBytes?: number;
  /** Largest result a method may return (900 KiB, leaves room under max_payload). */
  maxResultBytes?: number;
  /** Objects up to this size travel whole with the task; larger ones are read on demand (1 MiB). */
  shipObjectMaxBytes?: number;
  /**
   * Bytes of object state kept in memory (an eighth of the machine's memory, 64 MiB to 2 GiB);
   * least recently used objects are dropped, and a call on a dropped object loads it from LevelDB.
   */
  cacheMaxBytes?: number;
  /** How long a finished call's result is kept for duplicates (24 h). */
  dedupRetentionMs?: number;
  /** How often expired dedup records are deleted (60 s). */
  dedupSweepIntervalMs?: number;
  /** Memory limit of a method thread's heap (256 MiB). */
  threadMaxHeapMb?: number;
  /** fsync every commit batch (true). */
  syncWrites?: boolean;
  /** OCC granularity inside an object: one entry set, one per entry, or adaptive (the default). */
  entrySets?: Granularity;
  /** Chain replication: resend records a successor has not acknowledged after this long (200). */
  chainResendIntervalMs?: number;
  /** Chain replication: ask again for a state transfer that made no progress for this long (3000). */
  stateTransferRetryMs?: number;
  /**
   * A timer that fires this much later than due means this process was paused (SIGSTOP, a frozen
   * VM): its roles may have been handed on, so it leaves its chains and rejoins as a new
   * incarnation (2000).
   */
  pauseDetectMs?: number;
  /** Reads on replicas: how long a replica waits to catch up with the head before handing a read to it (2000). */
  replicaCatchUpTimeoutMs?: number;
  /** How often metrics and sampled spans are shipped to the coordinator's dashboard (1000 ms). */
  telemetryIntervalMs?: number;
}

export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, 'workerId'>> & { workerId: string };

const MiB = 1024 * 1024;

/**
 * An eighth of this machine's memory, at least 64 MiB and at most 2 GiB. A fixed 256 MiB made a
 * working set of 1 GB (10,000 objects of 100 KiB over three workers) miss on nearly every call,
 * each miss loading a whole object from LevelDB; memory is the cheaper resource.
 */
export function defaultCacheMaxBytes(total = totalmem()): number {
  return Math.min(2048 * MiB, Math.max(64 * MiB, Math.floor(total / 8)));
}

export const DEFAULTS = {
  prefix: DEFAULT_PREFIX,
  heartbeatIntervalMs: 500,
  defaultMethodTimeoutMs: 1000,
  maxMethodTimeoutMs: 30_000,
  maxTxnAttempts: 16,
  maxRequestBytes: 1024 * 1024,
  maxValueBytes: 512 * 1024,
  maxResultBytes: 900 * 1024,
  shipObjectMaxBytes: 1024 * 1024,
  cacheMaxBytes: defaultCacheMaxBytes(),
  dedupRetentionMs: 24 * 60 * 60 * 1000,
  dedupSweepIntervalMs: 60_000,
  threadMaxHeapMb: 256,
  syncWrites: true,
  entrySets: 'adaptive',
  chainResendIntervalMs: 200,
  stateTransferRetryMs: 3000,
  pauseDetectMs: 2000,
  replicaCatchUpTimeoutMs: 2000,
  telemetryIntervalMs: 1000,
} as const;

export function defaultThreads(): number {
  return Math.max(2, availableParallelism());
}
