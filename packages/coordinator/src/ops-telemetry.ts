/**
 * The coordinator's memory of the cluster's traffic, fed by the workers' telemetry (one metrics
 * snapshot per worker per second, batches of sampled finished spans). Everything is bounded:
 * per-second rings for the charts, a sliding window for the hot list, and a ring of traces.
 * Pure logic: no NATS, no timers (the caller passes the time), so it is tested directly.
 */
import {
  LATENCY_BUCKETS_MS,
  bucketQuantile,
  type MetricsSnapshot,
  type OpsSnapshot,
  type SpanBatch,
  type SpanRecord,
  type TraceSummary,
} from '@lambdastore/proto';
import type { ClusterConfigData } from './cluster-model.js';

export interface OpsTelemetryOptions {
  /** Seconds of per-second series kept for the charts. Default 300. */
  seriesSeconds?: number;
  /** Seconds the hot list and per-method rates are summed over. Default 10. */
  hotWindowSeconds?: number;
  /** Traces kept (oldest dropped first). Default 500. */
  maxTraces?: number;
  /** Spans kept per trace. Default 300. */
  maxSpansPerTrace?: number;
  /** A trace whose root took at least this long is "slow". Default 100 ms. */
  slowTraceMs?: number;
  /** Traces listed in a snapshot. Default 25. */
  listedTraces?: number;
}

interface Second {
  t: number;
  calls: number;
  errors: number;
  aborts: number;
  latency: number[];
  abortReasons: Record<string, number>;
  hot: Map<string, number>;
  methods: Map<string, { type: string; method: string; outcome: string; count: number }>;
}

interface TraceEntry {
  traceId: string;
  spans: SpanRecord[];
  receivedMs: number;
}

export class OpsTelemetry {
  private readonly o: Required<OpsTelemetryOptions>;
  /** Seconds by epoch second, oldest first (Map keeps insertion order). */
  private readonly seconds = new Map<number, Second>();
  private readonly lastByWorker = new Map<string, MetricsSnapshot>();
  private readonly traces = new Map<string, TraceEntry>();
  droppedSpans = 0;

  constructor(opts: OpsTelemetryOptions = {}) {
    this.o = {
      seriesSeconds: opts.seriesSeconds ?? 300,
      hotWindowSeconds: opts.hotWindowSeconds ?? 10,
      maxTraces: opts.maxTraces ?? 500,
      maxSpansPerTrace: opts.maxSpansPerTrace ?? 300,
      slowTraceMs: opts.slowTraceMs ?? 100,
      listedTraces: opts.listedTraces ?? 25,
    };
  }

  /** One worker's snapshot: its counts go to the second it was taken in. */
  addMetrics(m: MetricsSnapshot): void {
    if (typeof m?.workerId !== 'string' || !Array.isArray(m.calls) || !Array.isArray(m.latency)) return;
    this.lastByWorker.set(m.workerId, m);
    const s = this.second(Math.floor(m.atMs / 1000));
    for (const c of m.calls) {
      s.calls += c.count;
      if (c.outcome !== 'ok') s.errors += c.count;
      const key = `${c.type}\u0000${c.method}\u0000${c.outcome}`;
      const e = s.methods.get(key);
      if (e) e.count += c.count;
      else s.methods.set(key, { type: c.type, method: c.method, outcome: c.outcome, count: c.count });
    }
    m.latency.forEach((n, i) => { if (i < s.latency.length) s.latency[i]! += n; });
    for (const [reason, n] of Object.entries(m.aborts ?? {})) {
      s.aborts += n;
      s.abortReasons[reason] = (s.abortReasons[reason] ?? 0) + n;
    }
    for (const h of m.hot ?? []) s.hot.set(h.object, (s.hot.get(h.object) ?? 0) + h.calls);
  }

  addSpans(batch: SpanBatch, nowMs: number): void {
    if (!Array.isArray(batch?.spans)) return;
    this.droppedSpans += batch.dropped ?? 0;
    for (const span of batch.spans) {
      if (typeof span?.traceId !== 'string' || typeof span.spanId !== 'string') continue;
      let t = this.traces.get(span.traceId);
      if (!t) {
        t = { traceId: span.traceId, spans: [], receivedMs: nowMs };
        this.traces.set(span.traceId, t);
        if (this.traces.size > this.o.maxTraces) this.traces.delete(this.traces.keys().next().value!);
      }
      if (t.spans.length < this.o.maxSpansPerTrace) t.spans.push(span);
      t.receivedMs = nowMs;
    }
  }

  /** A trace's spans, earliest first. */
  trace(traceId: string): SpanRecord[] | undefined {
    const t = this.traces.get(traceId);
    return t ? [...t.spans].sort((a, b) => a.startMs - b.startMs) : undefined;
  }

  /** Workers whose last snapshot is older than this are left out of the per-worker rates. */
  snapshot(config: ClusterConfigData | undefined, nowMs: number): OpsSnapshot {
    const nowSec = Math.floor(nowMs / 1000);
    this.trim(nowSec);
    // The current second is still filling: charts end at the last complete one.
    const complete = [...this.seconds.values()].filter((s) => s.t < nowSec);
    const series: OpsSnapshot['series'] = { t: [], calls: [], errors: [], aborts: [], p50Ms: [], p99Ms: [] };
    const first = complete.length ? complete[0]!.t : nowSec;
    for (let t = Math.max(first, nowSec - this.o.seriesSeconds); t < nowSec; t++) {
      const s = this.seconds.get(t);
      series.t.push(t);
      series.calls.push(s?.calls ?? 0);
      series.errors.push(s?.errors ?? 0);
      series.aborts.push(s?.aborts ?? 0);
      series.p50Ms.push(s ? bucketQuantile(s.latency, 0.5) ?? null : null);
      series.p99Ms.push(s ? bucketQuantile(s.latency, 0.99) ?? null : null);
    }
    const window = complete.filter((s) => s.t >= nowSec - this.o.hotWindowSeconds);
    const span = Math.max(1, window.length);
    const hot = new Map<string, number>();
    const methods = new Map<string, { type: string; method: string; outcome: string; count: number }>();
    for (const s of window) {
      for (const [o, n] of s.hot) hot.set(o, (hot.get(o) ?? 0) + n);
      for (const [k, m] of s.methods) {
        const e = methods.get(k);
        if (e) e.count += m.count;
        else methods.set(k, { ...m });
      }
    }
    const aborts: Record<string, number> = {};
    for (const s of complete) for (const [r, n] of Object.entries(s.abortReasons)) aborts[r] = (aborts[r] ?? 0) + n;
    return {
      atMs: nowMs,
      cluster: clusterOf(config),
      series,
      workers: [...this.lastByWorker.values()]
        .filter((m) => nowMs - m.atMs < 5000)
        .sort((a, b) => a.workerId.localeCompare(b.workerId))
        .map((m) => {
          const w: OpsSnapshot['workers'][number] = {
            workerId: m.workerId,
            callsPerSec: round(m.calls.reduce((a, c) => a + c.count, 0) * 1000 / m.intervalMs),
            queueDepth: m.queueDepth,
            threadUtilization: round(m.threadUtilization),
          };
          if (m.chainLagMs !== undefined) w.chainLagMs = m.chainLagMs;
          return w;
        }),
      hot: [...hot].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([object, n]) => ({ object, callsPerSec: round(n / span) })),
      aborts,
      methods: [...methods.values()].sort((a, b) => b.count - a.count).slice(0, 20).map((m) => ({ type: m.type, method: m.method, outcome: m.outcome, callsPerSec: round(m.count / span) })),
      traces: this.listTraces(),
    };
  }

  /** Failed and slow traces first (newest first), then other recent ones, up to `listedTraces`. */
  private listTraces(): TraceSummary[] {
    const all = [...this.traces.values()].reverse().map((t) => this.summary(t));
    const interesting = all.filter((t) => t.error !== undefined || t.slow);
    const rest = all.filter((t) => t.error === undefined && !t.slow);
    return [...interesting, ...rest].slice(0, this.o.listedTraces);
  }

  private summary(t: TraceEntry): TraceSummary {
    const ids = new Set(t.spans.map((s) => s.spanId));
    const roots = t.spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
    const root = roots.sort((a, b) => a.startMs - b.startMs || b.durationMs - a.durationMs)[0] ?? t.spans[0]!;
    const startMs = Math.min(...t.spans.map((s) => s.startMs));
    const endMs = Math.max(...t.spans.map((s) => s.startMs + s.durationMs));
    const failed = t.spans.filter((s) => s.error !== undefined).sort((a, b) => a.startMs - b.startMs)[0];
    const object = root.attributes['lambdastore.type'] !== undefined
      ? `${String(root.attributes['lambdastore.type'])}/${String(root.attributes['lambdastore.object_id'] ?? '')}.${String(root.attributes['lambdastore.method'] ?? '')}`
      : undefined;
    const s: TraceSummary = { traceId: t.traceId, root: root.name, startMs, durationMs: round(endMs - startMs), spans: t.spans.length, slow: endMs - startMs >= this.o.slowTraceMs };
    if (object) s.object = object;
    if (failed) s.error = failed.error!;
    return s;
  }

  private second(t: number): Second {
    let s = this.seconds.get(t);
    if (!s) {
      s = { t, calls: 0, errors: 0, aborts: 0, latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), abortReasons: {}, hot: new Map(), methods: new Map() };
      this.seconds.set(t, s);
    }
    return s;
  }

  private trim(nowSec: number): void {
    for (const t of this.seconds.keys()) {
      if (t >= nowSec - this.o.seriesSeconds) break;
      this.seconds.delete(t);
    }
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

function clusterOf(cfg: ClusterConfigData | undefined): OpsSnapshot['cluster'] {
  if (!cfg) return { clusterId: '', configVersion: 0, numShards: 0, workers: [], shards: [] };
  const heads = new Map<string, number[]>();
  const replicas = new Map<string, number[]>();
  for (const s of cfg.shards) {
    s.chain.forEach((w, i) => {
      const m = i === 0 ? heads : replicas;
      m.set(w, [...(m.get(w) ?? []), s.shard]);
    });
  }
  return {
    clusterId: cfg.clusterId,
    configVersion: cfg.version,
    numShards: cfg.numShards,
    workers: [...cfg.workers].sort((a, b) => a.id.localeCompare(b.id)).map((w) => ({
      id: w.id,
      alive: w.alive,
      pid: w.pid,
      inflight: w.inflight,
      callsTotal: w.callsTotal,
      heads: heads.get(w.id) ?? [],
      replicas: replicas.get(w.id) ?? [],
    })),
    shards: [...cfg.shards].sort((a, b) => a.shard - b.shard).map((s) => ({ shard: s.shard, chain: [...s.chain], epoch: s.epoch })),
  };
}
