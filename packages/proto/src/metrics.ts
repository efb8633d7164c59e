/**
 * A worker's metrics. Every recording goes two ways:
 *
 * - into the OpenTelemetry metrics API (`@opentelemetry/api`), which is a no-op (an empty function
 *   call) unless the process started the SDK with an OTLP exporter: then it is exported like any
 *   other OTel metric;
 * - into small local aggregates (plain counters and a bucket array), which the worker turns into a
 *   MetricsSnapshot about once a second for the coordinator's dashboard. They cost a Map update.
 *
 * Hooks for other parts of the worker: `entrySetSplits.add()`, `entrySetMerges.add()` (adaptive
 * entry sets) and `chainLag.record(ms)` (chain replication, through `chainHop()` in the worker)
 * need nothing else to reach both.
 */
import { metrics as otelMetrics, type Attributes, type Counter, type Histogram, type Meter } from '@opentelemetry/api';
import { LATENCY_BUCKETS_MS, latencyBucket, type CallCount, type MetricsSnapshot } from './telemetry.js';

/** Metric names and what they mean (README "Operating a cluster" lists the same). */
export const METRIC_NAMES = {
  calls: 'lambdastore.calls',
  callDuration: 'lambdastore.call.duration',
  aborts: 'lambdastore.aborts',
  retries: 'lambdastore.retries',
  entrySetSplits: 'lambdastore.entryset.splits',
  entrySetMerges: 'lambdastore.entryset.merges',
  chainLag: 'lambdastore.chain.lag',
  queueDepth: 'lambdastore.threads.queue_depth',
  threadUtilization: 'lambdastore.threads.utilization',
  hotObjectCalls: 'lambdastore.object.calls',
} as const;

/** Objects tracked per interval for the hot list; calls on further objects are not ranked. */
const HOT_TRACKED_MAX = 10_000;
/** Objects in a snapshot's hot list. */
const HOT_LIST_SIZE = 10;

export interface CounterHook {
  add(n?: number, attributes?: Attributes): void;
}

export interface HistogramHook {
  record(value: number, attributes?: Attributes): void;
}

export interface ThreadGauges {
  queueDepth(): number;
  /** Busy share since the previous call (0..1). */
  utilization(): number;
}

export class WorkerMetrics {
  private readonly callsCounter: Counter;
  private readonly durationHistogram: Histogram;
  private readonly abortsCounter: Counter;
  private readonly retriesCounter: Counter;
  private calls = new Map<string, CallCount>();
  private latency = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  private latencySumMs = 0;
  private aborts: Record<string, number> = {};
  private retries = 0;
  private splits = 0;
  private merges = 0;
  private chainLagMaxMs: number | undefined;
  private hot = new Map<string, number>();
  /** The previous interval's hot list (what the OTel gauge reports). */
  private lastHot: Array<{ object: string; calls: number }> = [];
  private lastSnapshotMs = Date.now();
  /** Utilisation over the previous interval (the gauge reads it; reading the source resets it). */
  private lastUtilization = 0;

  /** Adaptive entry sets: call on every split of an entry set. */
  readonly entrySetSplits: CounterHook;
  /** Adaptive entry sets: call on every merge. */
  readonly entrySetMerges: CounterHook;
  /** Chain replication: the lag (ms) between the head applying a commit and the tail acking it. */
  readonly chainLag: HistogramHook;

  constructor(readonly workerId: string, private readonly threads: ThreadGauges, meter: Meter = otelMetrics.getMeter('@lambdastore/worker')) {
    this.callsCounter = meter.createCounter(METRIC_NAMES.calls, { description: 'Calls served, by type, method and outcome (ok or error code)' });
    this.durationHistogram = meter.createHistogram(METRIC_NAMES.callDuration, { unit: 'ms', description: 'Call latency on the worker, from request to reply' });
    this.abortsCounter = meter.createCounter(METRIC_NAMES.aborts, { description: 'Transaction attempts aborted, by reason' });
    this.retriesCounter = meter.createCounter(METRIC_NAMES.retries, { description: 'Transaction attempts re-run after an abort' });
    const splits = meter.createCounter(METRIC_NAMES.entrySetSplits, { description: 'Entry sets split in two' });
    const merges = meter.createCounter(METRIC_NAMES.entrySetMerges, { description: 'Entry sets merged' });
    const lag = meter.createHistogram(METRIC_NAMES.chainLag, { unit: 'ms', description: 'Replication lag of a chain: head applied to tail acknowledged' });
    this.entrySetSplits = { add: (n = 1, a) => { this.splits += n; splits.add(n, a); } };
    this.entrySetMerges = { add: (n = 1, a) => { this.merges += n; merges.add(n, a); } };
    this.chainLag = {
      record: (ms, a) => {
        this.chainLagMaxMs = Math.max(this.chainLagMaxMs ?? 0, ms);
        lag.record(ms, a);
      },
    };
    meter.createObservableGauge(METRIC_NAMES.queueDepth, { description: 'Calls waiting for a method thread' })
      .addCallback((r) => r.observe(this.threads.queueDepth()));
    meter.createObservableGauge(METRIC_NAMES.threadUtilization, { description: 'Share of time the method threads were busy (0..1)' })
      .addCallback((r) => r.observe(this.lastUtilization));
    meter.createObservableGauge(METRIC_NAMES.hotObjectCalls, { description: 'Calls per object during the last interval, for the busiest objects' })
      .addCallback((r) => { for (const h of this.lastHot) r.observe(h.calls, { 'lambdastore.object': h.object }); });
  }

  /** One finished call served here (not relayed). `outcome` is `ok` or the error code. */
  call(type: string, id: string, method: string, outcome: string, durationMs: number): void {
    const key = `${type}\u0000${method}\u0000${outcome}`;
    const c = this.calls.get(key);
    if (c) c.count++;
    else this.calls.set(key, { type, method, outcome, count: 1 });
    this.latency[latencyBucket(durationMs)]!++;
    this.latencySumMs += durationMs;
    const object = `${type}/${id}`;
    const n = this.hot.get(object);
    if (n !== undefined) this.hot.set(object, n + 1);
    else if (this.hot.size < HOT_TRACKED_MAX) this.hot.set(object, 1);
    const attributes = { 'lambdastore.type': type, 'lambdastore.method': method, 'lambdastore.outcome': outcome };
    this.callsCounter.add(1, attributes);
    this.durationHistogram.record(durationMs, attributes);
  }

  /** A transaction attempt aborted (`reason`: VERSION_CHANGED, LOCKED, MISSING, or a participant's error code). */
  abort(reason: string): void {
    this.aborts[reason] = (this.aborts[reason] ?? 0) + 1;
    this.abortsCounter.add(1, { 'lambdastore.abort_reason': reason });
  }

  /** An aborted attempt runs again. */
  retry(): void {
    this.retries++;
    this.retriesCounter.add(1);
  }

  /** The interval's aggregates as a snapshot; starts the next interval. */
  snapshot(nowMs = Date.now()): MetricsSnapshot {
    const hot = [...this.hot].sort((a, b) => b[1] - a[1]).slice(0, HOT_LIST_SIZE).map(([object, calls]) => ({ object, calls }));
    const snap: MetricsSnapshot = {
      workerId: this.workerId,
      atMs: nowMs,
      intervalMs: Math.max(1, nowMs - this.lastSnapshotMs),
      calls: [...this.calls.values()],
      latency: this.latency,
      latencySumMs: this.latencySumMs,
      aborts: this.aborts,
      retries: this.retries,
      entrySetSplits: this.splits,
      entrySetMerges: this.merges,
      queueDepth: this.threads.queueDepth(),
      threadUtilization: (this.lastUtilization = this.threads.utilization()),
      hot,
    };
    if (this.chainLagMaxMs !== undefined) snap.chainLagMs = this.chainLagMaxMs;
    this.lastHot = hot;
    this.lastSnapshotMs = nowMs;
    this.calls = new Map();
    this.latency = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    this.latencySumMs = 0;
    this.aborts = {};
    this.retries = 0;
    this.splits = 0;
    this.merges = 0;
    this.chainLagMaxMs = undefined;
    this.hot = new Map();
    return snap;
  }
}
