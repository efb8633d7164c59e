/**
 * One tracer provider for every test file of this process that looks at spans. The OTel API keeps
 * the first provider its tracers resolved to (tracers made at module load, like the client's, are
 * not re-pointed by `trace.disable()` and a new registration), so the tests share one, never
 * disabled, and reset its exporter instead.
 */
import { propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AlwaysOnSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

let shared: InMemorySpanExporter | undefined;

/** The in-memory exporter of the process-wide test provider (every span sampled), set up on first use. */
export function testSpanExporter(): InMemorySpanExporter {
  if (!shared) {
    shared = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ sampler: new AlwaysOnSampler(), spanProcessors: [new SimpleSpanProcessor(shared)] });
    if (!trace.setGlobalTracerProvider(provider)) throw new Error('a tracer provider was registered before the test provider');
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
  return shared;
}
