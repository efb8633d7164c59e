import { expect } from 'chai';
import { LATENCY_BUCKETS_MS, SpanOutbox, WorkerMetrics, bucketQuantile, latencyBucket } from '../src/index.js';

describe('worker metrics', () => {
  const gauges = () => ({ queueDepth: () => 3, utilization: () => 0.25 });

  it('aggregates calls, latency, aborts and the hot list per interval, then starts over', () => {
    const m = new WorkerMetrics('w1', gauges());
    for (let i = 0; i < 5; i++) m.call('Account', 'a', 'deposit', 'ok', 1.5);
    m.call('Account', 'b', 'deposit', 'INSUFFICIENT_FUNDS', 30);
    m.call('Account', 'b', 'balance', 'ok', 0.2);
    m.abort('CONFLICT');
    m.abort('CONFLICT');
    m.abort('LOCKED');
    m.retry();
    m.entrySetSplits.add();
    m.entrySetMerges.add(2);
    m.chainLag.record(4);
    m.chainLag.record(9);
    const s = m.snapshot(Date.now() + 1000);
    expect(s.workerId).to.equal('w1');
    expect(s.calls).to.deep.include({ type: 'Account', method: 'deposit', outcome: 'ok', count: 5 });
    expect(s.calls).to.deep.include({ type: 'Account', method: 'deposit', outcome: 'INSUFFICIENT_FUNDS', count: 1 });
    expect(s.latency.reduce((a, b) => a + b, 0)).to.equal(7);
    expect(s.latency[latencyBucket(1.5)]).to.equal(5);
    expect(s.aborts).to.deep.equal({ CONFLICT: 2, LOCKED: 1 });
    expect([s.retries, s.entrySetSplits, s.entrySetMerges, s.chainLagMs]).to.deep.equal([1, 1, 2, 9]);
    expect([s.queueDepth, s.threadUtilization]).to.deep.equal([3, 0.25]);
    expect(s.hot).to.deep.equal([{ object: 'Account/a', calls: 5 }, { object: 'Account/b', calls: 2 }]);
    const next = m.snapshot();
    expect([next.calls.length, next.hot.length, next.retries, next.chainLagMs]).to.deep.equal([0, 0, 0, undefined]);
  });

  it('reads quantiles off the buckets', () => {
    const counts = new Array(LATENCY_BUCKETS_MS.length + 1).fill(0);
    expect(bucketQuantile(counts, 0.5)).to.equal(undefined);
    counts[latencyBucket(0.3)] = 90;
    counts[latencyBucket(40)] = 10;
    expect(bucketQuantile(counts, 0.5)).to.equal(0.5);
    expect(bucketQuantile(counts, 0.99)).to.equal(50);
  });

  it('the span outbox is bounded and counts what it drops', () => {
    const box = new SpanOutbox(2);
    const span = { traceId: 't', spanId: 's', name: 'n', service: 'x', startMs: 0, durationMs: 1, attributes: {} };
    for (let i = 0; i < 5; i++) box.push(span);
    expect(box.drain()).to.deep.equal({ spans: [span, span], dropped: 3 });
    expect(box.drain()).to.deep.equal({ spans: [], dropped: 0 });
  });
});
