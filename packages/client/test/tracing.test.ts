import { expect } from 'chai';
import type { NatsConnection } from '@nats-io/transport-node';
import { propagation, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startNatsServer, type NatsServer } from '@lambdastore/testkit';
import { subjects, shardOf } from '@lambdastore/proto';
import { connect, type LambdaStoreClient } from '../src/index.js';
import { FakeCoordinator, FakeWorker, fail, makeConfig, ok, peer } from './helpers.js';

const S = subjects();

describe('tracing', function () {
  this.timeout(20_000);
  let nats: NatsServer;
  let nc: NatsConnection;
  let provider: BasicTracerProvider;
  const exporter = new InMemorySpanExporter();

  before(async () => {
    provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    nats = await startNatsServer();
    nc = await peer(nats.url);
  });
  after(async () => {
    trace.disable();
    propagation.disable();
    await provider?.shutdown();
    await nc?.close();
    await nats?.stop();
  });
  beforeEach(() => exporter.reset());

  it('one CLIENT span per call with type/method/object/shard/attempts; W3C context in the NATS headers', async () => {
    const coord = new FakeCoordinator(nc, makeConfig(1, 4));
    const w = new FakeWorker(nc, (_r, n) => (n === 1 ? fail('OVERLOADED', 'busy', { retryable: true }) : ok(1))).listen(S.shardInvoke(shardOf('Account', 'alice', 4)));
    await nc.flush();
    const c: LambdaStoreClient = await connect({ servers: nats.url });
    try {
      await c.invoke('Account', 'alice', 'deposit', [1]);
    } finally {
      await c.close();
      w.stop();
      coord.stop();
    }
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'lambdastore.invoke');
    expect(spans).to.have.length(1);
    const span = spans[0]!;
    expect(span.kind).to.equal(SpanKind.CLIENT);
    expect(span.attributes).to.include({
      'lambdastore.type': 'Account',
      'lambdastore.method': 'deposit',
      'lambdastore.object_id': 'alice',
      'lambdastore.shard': shardOf('Account', 'alice', 4),
      'lambdastore.attempts': 2,
    });
    const tp = w.received[0]!.headers?.get('traceparent') ?? '';
    expect(tp).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(tp.split('-')[1]).to.equal(span.spanContext().traceId);
    expect(tp.split('-')[2]).to.equal(span.spanContext().spanId);
  });

  it('a failed call ends its span with ERROR and the code; attempts are bounded by maxAttempts', async () => {
    const c = await connect({ servers: nats.url, maxAttempts: 3 });
    try {
      await c.invoke('Account', 'a', 'deposit', [1]).then(
        () => expect.fail('should fail'),
        (e: { code: string }) => expect(e.code).to.equal('NO_WORKERS'),
      );
    } finally {
      await c.close();
    }
    await provider.forceFlush();
    const span = exporter.getFinishedSpans().find((s) => s.name === 'lambdastore.invoke')!;
    expect(span.status.code).to.equal(SpanStatusCode.ERROR);
    expect(span.attributes['lambdastore.error_code']).to.equal('NO_WORKERS');
    expect(span.attributes['lambdastore.attempts']).to.equal(3);
    expect(span.attributes['lambdastore.shard']).to.equal(undefined);
  });
});
