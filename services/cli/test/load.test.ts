import { expect } from 'chai';
import { LatencyHistogram, forEachLimited, runClosedLoop } from '../src/load.js';

describe('load generator', () => {
  it('histogram percentiles are within 2 % of the exact ones', () => {
    const h = new LatencyHistogram();
    const samples: number[] = [];
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const ms = 0.05 + (x / 2 ** 31) ** 3 * 500; // skewed, 50 µs .. 500 ms
      samples.push(ms);
      h.record(ms);
    }
    samples.sort((a, b) => a - b);
    for (const p of [1, 50, 90, 99, 99.9]) {
      const exact = samples[Math.ceil((p / 100) * samples.length) - 1]!;
      expect(Math.abs(h.percentileMs(p) - exact) / exact, `p${p}`).to.be.lessThan(0.02);
    }
    expect(h.count).to.equal(20_000);
    expect(h.maxMs()).to.be.closeTo(samples.at(-1)!, 1e-9);
    const other = new LatencyHistogram();
    other.record(1);
    h.merge(other);
    expect(h.count).to.equal(20_001);
    expect(new LatencyHistogram().percentileMs(50)).to.equal(0);
  });

  it('closed loop keeps N calls in flight, counts errors by code, stops on time', async () => {
    let inflight = 0;
    let maxInflight = 0;
    const r = await runClosedLoop({
      concurrency: 8,
      durationMs: 200,
      call: async (_w, seq) => {
        inflight++;
        maxInflight = Math.max(maxInflight, inflight);
        await new Promise((res) => setTimeout(res, 2));
        inflight--;
        if (seq % 10 === 0) throw Object.assign(new Error('boom'), { code: 'BOOM' });
      },
    });
    expect(maxInflight).to.equal(8);
    expect(r.calls).to.be.greaterThan(100);
    expect(r.errors).to.be.greaterThan(0);
    expect(r.errorCodes).to.deep.equal({ BOOM: r.errors });
    expect(r.elapsedMs).to.be.within(190, 1000);
    expect(r.p50Ms).to.be.within(1.5, 50);
    expect(r.callsPerSec).to.be.closeTo((r.calls * 1000) / r.elapsedMs, 1e-6);
  });

  it('forEachLimited bounds concurrency, visits every item, and rethrows the first error', async () => {
    let inflight = 0;
    let maxInflight = 0;
    const seen: number[] = [];
    await forEachLimited(Array.from({ length: 50 }, (_, i) => i), 4, async (item) => {
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      await new Promise((res) => setTimeout(res, 1));
      seen.push(item);
      inflight--;
    });
    expect(maxInflight).to.equal(4);
    expect(seen.sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    let err: unknown;
    try {
      await forEachLimited([1, 2, 3], 2, async (i) => {
        if (i === 2) throw new Error('two');
      });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.equal('two');
  });
});
