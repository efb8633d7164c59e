/**
 * What workers tell the coordinator about their traffic, for the ops dashboard and `lambdastore top`:
 * sampled finished spans and one metrics snapshot per interval, both published (fire and forget)
 * about once a second. JSON on purpose: these are per-second batches off the call path, read by a
 * browser in the end, and easier to evolve than a proto while the dashboard grows.
 *
 * Also the process-wide span outbox the OpenTelemetry span processor fills and the worker drains.
 */

/** Span names of the call path (one place, so the dashboard, docs and tests agree). */
export const SPAN_NAMES = {
  clientInvoke: 'lambdastore.invoke',
  ingress: 'lambdastore.ingress',
  shard: 'lambdastore.shard',
  execute: 'lambdastore.execute',
  /** The call in its Piscina thread (queue wait included; `lambdastore.queue_ms` says how long). */
  thread: 'lambdastore.thread',
  /** A nested `ctx.invoke` (or `ctx.create`) inside a chain, run in the caller's thread. */
  nestedCall: 'lambdastore.call',
  commit: 'lambdastore.commit',
  validate: 'lambdastore.validate',
  twoPhase: 'lambdastore.2pc',
  /** Root -> participant requests, and the participant's side of each (`lambdastore.txn.<step>`). */
  txnRequest: 'lambdastore.txn.request',
  txnServe: (step: string) => `lambdastore.txn.${step}`,
  /** Chain replication (issue 4): the head's append to its successor, and the tail's ack. */
  chainAppend: 'lambdastore.chain.append',
  chainAck: 'lambdastore.chain.ack',
} as const;

/** Span attribute keys. */
export const SPAN_ATTRS = {
  type: 'lambdastore.type',
  objectId: 'lambdastore.object_id',
  object: 'lambdastore.object',
  method: 'lambdastore.method',
  shard: 'lambdastore.shard',
  epoch: 'lambdastore.epoch',
  attempt: 'lambdastore.attempt',
  abortReason: 'lambdastore.abort_reason',
  error: 'lambdastore.error',
  worker: 'lambdastore.worker',
  queueMs: 'lambdastore.queue_ms',
  txnId: 'lambdastore.txn_id',
  writes: 'lambdastore.writes',
} as const;

/** A finished span as shipped to the coordinator. Times in ms since the epoch (fractional). */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** Process that recorded it (`worker-0`, `coordinator`, ...). */
  service: string;
  startMs: number;
  durationMs: number;
  error?: string;
  attributes: Record<string, string | number | boolean>;
}

export interface SpanBatch {
  service: string;
  spans: SpanRecord[];
  /** Spans dropped because the outbox was full since the last batch. */
  dropped: number;
}

/** Upper bounds (ms) of the latency histogram buckets; the last bucket is everything above. */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] as const;

export interface CallCount {
  type: string;
  method: string;
  /** `ok` or the error code. */
  outcome: string;
  count: number;
}

/** One worker's traffic during one interval (counts are deltas since its previous snapshot). */
export interface MetricsSnapshot {
  workerId: string;
  atMs: number;
  intervalMs: number;
  calls: CallCount[];
  /** Counts per LATENCY_BUCKETS_MS bucket (length = buckets + 1). */
  latency: number[];
  latencySumMs: number;
  aborts: Record<string, number>;
  retries: number;
  entrySetSplits: number;
  entrySetMerges: number;
  /** Largest chain lag seen in the interval (ms), when chains exist. */
  chainLagMs?: number;
  queueDepth: number;
  /** Piscina utilisation, 0..1. */
  threadUtilization: number;
  /** Busiest objects of the interval (`Type/id`), most calls first. */
  hot: Array<{ object: string; calls: number }>;
}

/** Bounded queue of finished spans waiting to be shipped; drops (and counts) when full. */
export class SpanOutbox {
  private spans: SpanRecord[] = [];
  private droppedCount = 0;
  constructor(readonly capacity = 2000) {}

  push(s: SpanRecord): void {
    if (this.spans.length >= this.capacity) {
      this.droppedCount++;
      return;
    }
    this.spans.push(s);
  }

  /** Takes everything queued (and the drop count), leaving the outbox empty. */
  drain(): { spans: SpanRecord[]; dropped: number } {
    const out = { spans: this.spans, dropped: this.droppedCount };
    this.spans = [];
    this.droppedCount = 0;
    return out;
  }

  get size(): number {
    return this.spans.length;
  }
}

/** The process's outbox: filled by the span processor of @lambdastore/telemetry, drained by the worker. */
export const spanOutbox = new SpanOutbox();

/** Index of the latency bucket for `ms`. */
export function latencyBucket(ms: number): number {
  let i = 0;
  while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]!) i++;
  return i;
}

/** The q-quantile (0..1) of a bucketed histogram, as the upper bound of the bucket that holds it. */
export function bucketQuantile(counts: readonly number[], q: number): number | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(total * q));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return i < LATENCY_BUCKETS_MS.length ? LATENCY_BUCKETS_MS[i]! : LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]! * 2;
  }
  return undefined;
}

/** A trace the coordinator keeps for the dashboard (slow or failed, or just recent). */
export interface TraceSummary {
  traceId: string;
  /** Name and object of its root span (the first span without a parent in the trace). */
  root: string;
  object?: string;
  startMs: number;
  durationMs: number;
  spans: number;
  /** Error code of the first failed span, if any. */
  error?: string;
  slow: boolean;
}

/** What the coordinator knows about the cluster's traffic: the dashboard's and `lambdastore top`'s data. */
export interface OpsSnapshot {
  atMs: number;
  cluster: {
    clusterId: string;
    configVersion: number;
    numShards: number;
    workers: Array<{ id: string; alive: boolean; pid: number; inflight: number; callsTotal: number; heads: number[]; replicas: number[] }>;
    shards: Array<{ shard: number; chain: string[]; epoch: number }>;
  };
  /** Per-second series, oldest first (seconds since the epoch). Latencies are bucket bounds. */
  series: { t: number[]; calls: number[]; errors: number[]; aborts: number[]; p50Ms: Array<number | null>; p99Ms: Array<number | null> };
  /** Per worker, over the last complete second. */
  workers: Array<{ workerId: string; callsPerSec: number; queueDepth: number; threadUtilization: number; chainLagMs?: number }>;
  /** Busiest objects over the hot window, calls per second. */
  hot: Array<{ object: string; callsPerSec: number }>;
  /** Aborts by reason over the series window. */
  aborts: Record<string, number>;
  /** Calls by type.method and outcome over the hot window. */
  methods: Array<{ type: string; method: string; outcome: string; callsPerSec: number }>;
  traces: TraceSummary[];
}
