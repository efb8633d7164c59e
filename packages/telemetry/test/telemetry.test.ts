import { expect } from 'chai';
import { SpanOutbox } from '@lambdastore/proto';
import { OutboxSpanProcessor, otelRequested, samplingFromEnv, startOtel } from '../src/index.js';

describe('telemetry bootstrap', () => {
  it('is off unless an OTEL_* exporter variable asks for it', () => {
    expect(otelRequested({})).to.equal(false);
    expect(otelRequested({ OTEL_TRACES_EXPORTER: 'none' })).to.equal(false);
    expect(otelRequested({ OTEL_SERVICE_NAME: 'x' })).to.equal(false);
    expect(otelRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).to.equal(true);
    expect(otelRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).to.equal(true);
  });

  it('installs only the in-process provider by default, and nothing at ratio 0', async () => {
    const { trace, TraceFlags } = await import('@opentelemetry/api');
    const stop = await startOtel('test', { OTEL_TRACES_SAMPLER: 'always_on' });
    const span = trace.getTracer('t').startSpan('x');
    expect(span.spanContext().traceFlags & TraceFlags.SAMPLED).to.equal(TraceFlags.SAMPLED);
    span.end();
    await stop();
    const off = await startOtel('test', { LAMBDASTORE_TRACE_SAMPLE_RATIO: '0' });
    expect(trace.getTracer('t').startSpan('y').isRecording()).to.equal(false);
    await off();
  });
});

describe('trace sampling from the environment', () => {
  it('defaults to parent-based, 1 root in 100', () => {
    const s = samplingFromEnv({});
    expect(s.enabled).to.equal(true);
    expect(s.description).to.equal('parent-based, roots 0.01');
  });

  it('turns tracing off at ratio 0 and refuses ratios outside 0..1', () => {
    expect(samplingFromEnv({ LAMBDASTORE_TRACE_SAMPLE_RATIO: '0' }).enabled).to.equal(false);
    expect(() => samplingFromEnv({ LAMBDASTORE_TRACE_SAMPLE_RATIO: '2' })).to.throw(/0\.\.1/).with.property('code', 'INVALID_ARGUMENT');
    expect(() => samplingFromEnv({ OTEL_TRACES_SAMPLER: 'sometimes' })).to.throw(/OTEL_TRACES_SAMPLER/).with.property('code', 'INVALID_ARGUMENT');
  });

  it('lets the standard OTEL_TRACES_SAMPLER win', () => {
    expect(samplingFromEnv({ OTEL_TRACES_SAMPLER: 'always_on', LAMBDASTORE_TRACE_SAMPLE_RATIO: '0' }).description).to.equal('always_on');
    expect(samplingFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' }).description).to.equal('parentbased_traceidratio 0.5');
  });
});

describe('span outbox processor', () => {
  it('ships sampled spans only, with their parent, error and attributes', async () => {
    const { TracerProvider, AlwaysOnSampler, AlwaysOffSampler } = await import('@opentelemetry/sdk-trace');
    const { SpanStatusCode, context, trace } = await import('@opentelemetry/api');
    const outbox = new SpanOutbox();
    for (const [sampler, expected] of [[new AlwaysOnSampler(), 2], [new AlwaysOffSampler(), 0]] as const) {
      const provider = new TracerProvider({ sampler, spanProcessors: [new OutboxSpanProcessor('svc', outbox)] });
      const tracer = provider.getTracer('t');
      const parent = tracer.startSpan('parent');
      const child = tracer.startSpan('child', { attributes: { 'lambdastore.shard': 3, skip: [1, 2] } }, trace.setSpan(context.active(), parent));
      child.setStatus({ code: SpanStatusCode.ERROR, message: 'TXN_ABORTED' });
      child.end();
      parent.end();
      const { spans } = outbox.drain();
      expect(spans.length).to.equal(expected);
      if (expected) {
        const c = spans.find((s) => s.name === 'child')!;
        expect(c).to.deep.include({ service: 'svc', parentSpanId: parent.spanContext().spanId, error: 'TXN_ABORTED', attributes: { 'lambdastore.shard': 3 } });
      }
      await provider.shutdown();
    }
  });
});
