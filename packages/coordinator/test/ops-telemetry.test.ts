import { expect } from 'chai';
import { LATENCY_BUCKETS_MS, latencyBucket, type MetricsSnapshot, type SpanRecord } from '@lambdastore/proto';
import { OpsTelemetry } from '../src/index.js';
import type { ClusterConfigData } from '../src/index.js';

const T0 = 1_700_000_000_000;

function snap(workerId: string, atMs: number, calls: number, extra: Partial<MetricsSnapshot> = {}): MetricsSnapshot {
  const latency = new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
  latency[latencyBucket(2)] = calls;
  return {
    workerId, atMs, intervalMs: 1000, calls: [{ type: 'A', method: 'm', outcome: 'ok', count: calls }], latency, latencySumMs: 2 * calls,
    aborts: {}, retries: 0, entrySetSplits: 0, entrySetMerges: 0, queueDepth: 0, threadUtilization: 0.5, hot: [{ object: `A/${workerId}`, calls }], ...extra,
  };
}

const span = (traceId: string, spanId: string, parentSpanId: string | undefined, startMs: number, durationMs: number, error?: string): SpanRecord => ({
  traceId, spanId, name: parentSpanId ? 'lambdastore.execute' : 'lambdastore.shard', service: 'w1', startMs, durationMs, attributes: { 'lambdastore.type': 'A', 'lambdastore.object_id': 'x', 'lambdastore.method': 'm' },
  ...(parentSpanId ? { parentSpanId } : {}), ...(error ? { error } : {}),
});

describe('ops telemetry (coordinator)', () => {
  it('sums workers per second into chart series, rates, hot list and abort reasons', () => {
    const ops = new OpsTelemetry();
    ops.addMetrics(snap('w1', T0 + 100, 10));
    ops.addMetrics(snap('w2', T0 + 300, 30, { aborts: { CONFLICT: 2 } }));
    ops.addMetrics(snap('w1', T0 + 1100, 20, { calls: [{ type: 'A', method: 'm', outcome: 'TXN_ABORTED', count: 20 }] }));
    const s = ops.snapshot(undefined, T0 + 2500);
    expect(s.series.t).to.deep.equal([T0 / 1000, T0 / 1000 + 1]);
    expect(s.series.calls).to.deep.equal([40, 20]);
    expect(s.series.errors).to.deep.equal([0, 20]);
    expect(s.series.aborts).to.deep.equal([2, 0]);
    expect(s.series.p50Ms).to.deep.equal([2, 2]);
    expect(s.aborts).to.deep.equal({ CONFLICT: 2 });
    expect(s.hot[0]).to.deep.equal({ object: 'A/w1', callsPerSec: 15 });
    expect(s.workers.map((w) => [w.workerId, w.callsPerSec])).to.deep.equal([['w1', 20], ['w2', 30]]);
  });

  it('keeps traces bounded and lists failed and slow ones first', () => {
    const ops = new OpsTelemetry({ maxTraces: 3, slowTraceMs: 50 });
    ops.addSpans({ service: 'w1', dropped: 0, spans: [span('t1', 'a', undefined, T0, 5), span('t1', 'b', 'a', T0 + 1, 3)] }, T0);
    ops.addSpans({ service: 'w1', dropped: 1, spans: [span('t2', 'c', undefined, T0, 80)] }, T0);
    ops.addSpans({ service: 'w1', dropped: 0, spans: [span('t3', 'd', undefined, T0, 5), span('t3', 'e', 'd', T0 + 1, 2, 'BOOM')] }, T0);
    ops.addSpans({ service: 'w1', dropped: 0, spans: [span('t4', 'f', undefined, T0, 1)] }, T0);
    expect(ops.trace('t1')).to.equal(undefined); // the oldest went
    const list = ops.snapshot(undefined, T0).traces;
    expect(list.map((t) => t.traceId)).to.deep.equal(['t3', 't2', 't4']);
    expect(list[0]).to.deep.include({ error: 'BOOM', root: 'lambdastore.shard', object: 'A/x.m', spans: 2 });
    expect(list[1]!.slow).to.equal(true);
    expect(ops.droppedSpans).to.equal(1);
    expect(ops.trace('t3')!.map((s) => s.spanId)).to.deep.equal(['d', 'e']);
  });

  it('shows heads and replicas of every worker in the cluster map', () => {
    const cfg: ClusterConfigData = {
      version: 4, numShards: 2, clusterId: 'c', types: [],
      shards: [{ shard: 0, chain: ['w1', 'w2'], epoch: 3 }, { shard: 1, chain: ['w2'], epoch: 1 }],
      workers: [{ id: 'w2', alive: true, lastSeenMs: 0, pid: 2, startedAtMs: 0, inflight: 0, callsTotal: 5, abortsTotal: 0, entrySetSplits: 0, entrySetMerges: 0, removed: false }, { id: 'w1', alive: false, lastSeenMs: 0, pid: 1, startedAtMs: 0, inflight: 0, callsTotal: 1, abortsTotal: 0, entrySetSplits: 0, entrySetMerges: 0, removed: false }],
    };
    const c = new OpsTelemetry().snapshot(cfg, T0).cluster;
    expect(c.workers.map((w) => [w.id, w.alive, w.heads, w.replicas])).to.deep.equal([['w1', false, [0], []], ['w2', true, [1], [0]]]);
    expect(c.shards).to.deep.equal([{ shard: 0, chain: ['w1', 'w2'], epoch: 3 }, { shard: 1, chain: ['w2'], epoch: 1 }]);
  });

  it('ignores telemetry that is not what it claims to be', () => {
    const ops = new OpsTelemetry();
    ops.addMetrics({} as MetricsSnapshot);
    ops.addSpans({ spans: [{}] } as never, T0);
    expect(ops.snapshot(undefined, T0).traces).to.deep.equal([]);
  });
});
