/**
 * Every NATS subject and KV bucket the platform uses, in one place. All subjects start with a
 * configurable prefix (default `lambdastore`) so several clusters can share one NATS server.
 *
 * | subject                         | who listens                  | message                      |
 * |---------------------------------|------------------------------|------------------------------|
 * | `<p>.invoke`                    | every worker, queue `<p>.ingress` | InvokeRequest (or JSON) -> InvokeResponse |
 * | `<p>.shard.<n>.invoke`          | the worker serving shard n   | InvokeRequest -> InvokeResponse |
 * | `<p>.shard.<n>.txn.snapshot`    | the worker serving shard n   | TxnSnapshotRequest -> TxnSnapshotResponse |
 * | `<p>.shard.<n>.txn.validate`    | the worker serving shard n   | TxnPrepare (no writes) -> TxnVote |
 * | `<p>.shard.<n>.txn.prepare`     | the worker serving shard n   | TxnPrepare -> TxnVote        |
 * | `<p>.shard.<n>.txn.decide`      | the worker serving shard n   | TxnDecide -> TxnAck          |
 * | `<p>.shard.<n>.txn.decision`    | the worker serving shard n (a root) | TxnDecisionQuery -> TxnDecisionAnswer |
 * | `<p>.chain.<w>.append`          | worker w (chain successor)   | ChainAppend (publish only)   |
 * | `<p>.chain.<w>.ack`             | worker w (chain predecessor) | ChainAck (publish only)      |
 * | `<p>.chain.<w>.transfer`        | worker w (a joiner's predecessor) | ChainTransferRequest (publish only) |
 * | `<p>.chain.<w>.snapshot`        | worker w (joining as tail)   | ChainSnapshotChunk (publish only) |
 * | `<p>.chain.<w>.barrier`         | worker w (a shard's head)    | ChainBarrierRequest -> ChainBarrierReply |
 * | `<p>.shard.<n>.read`            | every member of shard n's chain, queue `<p>.shard.<n>.readers` | InvokeRequest (or JSON) -> InvokeResponse |
 * | `<p>.hb`                        | coordinator                  | Heartbeat (publish only)     |
 * | `<p>.config`                    | workers, clients             | ClusterConfig (publish only) |
 * | `<p>.admin.config`              | coordinator                  | ConfigRequest -> ConfigResponse |
 * | `<p>.admin.deploy`              | coordinator                  | DeployRequest -> DeployResponse |
 * | `<p>.admin.ops`                 | coordinator                  | (empty) -> OpsSnapshot JSON (dashboard data, `lambdastore top`) |
 * | `<p>.telemetry.spans`           | coordinator                  | SpanBatch JSON (publish only, ~1/s per worker) |
 * | `<p>.telemetry.metrics`         | coordinator                  | MetricsSnapshot JSON (publish only, ~1/s per worker) |
 */

export const DEFAULT_PREFIX = 'lambdastore';

/** A prefix is one or more NATS tokens of letters, digits, `_` and `-`. */
const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export interface Subjects {
  readonly prefix: string;
  /** Ingress: any NATS client may send a request here; a worker routes it. */
  readonly invoke: string;
  /** Queue group of the ingress subscription. */
  readonly ingressQueue: string;
  /** Per-shard invoke subject for clients that route themselves. */
  shardInvoke(shard: number): string;
  /** Two-phase commit with the worker serving a shard: `snapshot`, `prepare`, `decide`, `decision`. */
  shardTxn(shard: number, step: 'snapshot' | 'validate' | 'prepare' | 'decide' | 'decision'): string;
  /** Chain replication messages addressed to one worker: records, acks, state transfer. */
  chain(workerId: string, kind: 'append' | 'ack' | 'transfer' | 'snapshot' | 'barrier'): string;
  /** Read-only calls any member of a shard's chain may serve (queue group: one of them answers). */
  shardRead(shard: number): string;
  /** Worker heartbeats. */
  readonly heartbeat: string;
  /** Cluster config broadcasts. */
  readonly config: string;
  readonly adminConfig: string;
  readonly adminDeploy: string;
  /** Operations snapshot for `lambdastore top` (JSON). */
  readonly adminOps: string;
  /** Drain a worker out of every chain, or let it back in (JSON request and reply). */
  readonly adminDrain: string;
  /** Workers ship sampled finished spans here (JSON SpanBatch). */
  readonly telemetrySpans: string;
  /** Workers ship one MetricsSnapshot per interval here (JSON). */
  readonly telemetryMetrics: string;
  /** Queue group shared by coordinators (active + standby answer admin requests once). */
  readonly adminQueue: string;
  /** JetStream KV bucket holding the cluster map. */
  readonly metaBucket: string;
  /** JetStream KV bucket holding deployed module sources, by module id. */
  readonly modulesBucket: string;
}

export function subjects(prefix: string = DEFAULT_PREFIX): Subjects {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(`invalid subject prefix ${JSON.stringify(prefix)}: use tokens of [A-Za-z0-9_-] separated by dots`);
  }
  const bucketStem = prefix.replace(/[^A-Za-z0-9_-]/g, '_');
  return {
    prefix,
    invoke: `${prefix}.invoke`,
    ingressQueue: `${prefix}.ingress`,
    shardInvoke: (shard: number) => `${prefix}.shard.${shard}.invoke`,
    shardTxn: (shard: number, step: string) => `${prefix}.shard.${shard}.txn.${step}`,
    chain: (workerId: string, kind: string) => `${prefix}.chain.${workerId}.${kind}`,
    shardRead: (shard: number) => `${prefix}.shard.${shard}.read`,
    heartbeat: `${prefix}.hb`,
    config: `${prefix}.config`,
    adminConfig: `${prefix}.admin.config`,
    adminDeploy: `${prefix}.admin.deploy`,
    adminOps: `${prefix}.admin.ops`,
    adminDrain: `${prefix}.admin.drain`,
    telemetrySpans: `${prefix}.telemetry.spans`,
    telemetryMetrics: `${prefix}.telemetry.metrics`,
    adminQueue: `${prefix}.admin`,
    metaBucket: `${bucketStem}_meta`,
    modulesBucket: `${bucketStem}_modules`,
  };
}

/** NATS header names used by the platform. */
export const HEADERS = {
  contentType: 'Content-Type',
  json: 'application/json',
} as const;
