/**
 * The chain-replication hook (`chainHop`, packages/worker/src/chain-hop.ts): a traced commit gets a
 * `lambdastore.chain.append` span under its parent and the lag reaches the metrics snapshot; an
 * untraced one gets no span; a lost acknowledgement fails the span and records no lag.
 */
import { expect } from 'chai';
import { context, trace } from '@opentelemetry/api';
import { WorkerMetrics } from '@lambdastore/proto';
import { chainHop } from '@lambdastore/worker';
import { testSpanExporter } from '../src/tracing.js';

describe('chain hop hook', () => {
  let exporter: ReturnType<typeof testSpanExporter>;
  const threads = { queueDepth: () => 0, utilization: () => 0 };
  const hop = { shard: 3, epoch: 7, successor: 'w-b' };
  before(() => { exporter = testSpanExporter(); });
  beforeEach(() => exporter.reset());

  it('records a chain.append span under a traced parent and the lag in the snapshot', async () => {
    const metrics = new WorkerMetrics('w-a', threads);
    const parent = trace.getTracer('test').startSpan('lambdastore.commit');
    const acked = new Promise<string>((resolve) => setTimeout(() => resolve('acked'), 20));
    expect(await chainHop(metrics, trace.setSpan(context.active(), parent), hop, acked)).to.equal('acked');
    parent.end();
    const span = exporter.getFinishedSpans().find((s) => s.name === 'lambdastore.chain.append')!;
    expect(span, 'chain.append span').to.not.equal(undefined);
    expect(span.parentSpanContext?.spanId).to.equal(parent.spanContext().spanId);
    expect(span.attributes).to.include({ 'lambdastore.shard': 3, 'lambdastore.epoch': 7, 'lambdastore.successor': 'w-b' });
    expect(metrics.snapshot().chainLagMs).to.be.at.least(15);
  });

  it('makes no span for an untraced call but still records the lag', async () => {
    const metrics = new WorkerMetrics('w-a', threads);
    await chainHop(metrics, undefined, hop, Promise.resolve());
    expect(exporter.getFinishedSpans().length).to.equal(0);
    expect(metrics.snapshot().chainLagMs).to.be.a('number');
  });

  it('fails the span and records no lag when the acknowledgement never comes', async () => {
    const metrics = new WorkerMetrics('w-a', threads);
    const parent = trace.getTracer('test').startSpan('lambdastore.commit');
    const err = await chainHop(metrics, trace.setSpan(context.active(), parent), hop, Promise.reject(new Error('lost the head role'))).then(() => undefined, (e: Error) => e);
    parent.end();
    expect(err?.message).to.equal('lost the head role');
    const span = exporter.getFinishedSpans().find((s) => s.name === 'lambdastore.chain.append')!;
    expect(span.status.message).to.equal('lost the head role');
    expect(metrics.snapshot().chainLagMs).to.equal(undefined);
  });
});
