/**
 * OpenTelemetry bootstrap for LambdaStore processes (worker, coordinator, CLI).
 *
 * - Always (unless sampling is off): a tracer provider with the configured sampler (see
 *   sampling.ts) and the W3C propagator; sampled finished spans go to the span outbox, which the
 *   worker ships to the coordinator's dashboard. This provider exports nothing and opens nothing.
 * - Only when an OTEL_* variable below asks for export: the Node SDK, configured from the standard
 *   OTEL_* variables (OTLP over HTTP by default, to Jaeger, Tempo or any collector), for traces and
 *   metrics, plus the same outbox. The SDK is loaded lazily, so a plain run never loads it.
 *
 * Start it before importing the code that creates tracers.
 */
import { propagation, trace } from '@opentelemetry/api';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { OutboxSpanProcessor } from './ship.js';
import { samplingFromEnv } from './sampling.js';

export { OutboxSpanProcessor, spanRecordOf } from './ship.js';
export { samplingFromEnv, DEFAULT_SAMPLE_RATIO, type SamplingChoice } from './sampling.js';

/** Variables whose presence (other than "none") turns export on. */
export const OTEL_ENV_VARS = ['OTEL_TRACES_EXPORTER', 'OTEL_METRICS_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'] as const;

export function otelRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return OTEL_ENV_VARS.some((k) => (env[k] ?? '') !== '' && env[k] !== 'none');
}

/** Starts tracing (and, when requested, OTLP export); returns its shutdown. */
export async function startOtel(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<() => Promise<void>> {
  const sampling = samplingFromEnv(env);
  const outbox = new OutboxSpanProcessor(serviceName);
  if (!otelRequested(env)) {
    if (!sampling.enabled) return async () => undefined;
    const { TracerProvider } = await import('@opentelemetry/sdk-trace');
    const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
    const provider = new TracerProvider({ sampler: sampling.sampler, spanProcessors: [outbox] });
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    return async () => {
      await provider.shutdown().catch(() => undefined);
      trace.disable();
      propagation.disable();
    };
  }
  // Loaded lazily: the SDK is large and most runs never need it.
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({ serviceName, sampler: sampling.sampler, spanProcessors: [...(await spanProcessorsFromEnv(env)), outbox] });
  sdk.start();
  return async () => {
    try {
      await sdk.shutdown();
    } catch (err) {
      console.error(`[${serviceName}] OpenTelemetry shutdown failed: ${(err as Error).message}`);
    }
  };
}

/**
 * The trace exporters OTEL_TRACES_EXPORTER names (default otlp; protocol from
 * OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL, default http/protobuf), as the Node SDK would build them:
 * we pass our own processor list (to add the outbox), which turns the SDK's own env reading off.
 */
async function spanProcessorsFromEnv(env: NodeJS.ProcessEnv): Promise<SpanProcessor[]> {
  const names = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.includes('none')) return [];
  const { BatchSpanProcessor, SimpleSpanProcessor, ConsoleSpanExporter } = await import('@opentelemetry/sdk-trace');
  const out: SpanProcessor[] = [];
  for (const name of names.length ? names : ['otlp']) {
    if (name === 'console') out.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    else if (name === 'otlp') out.push(new BatchSpanProcessor({ exporter: await otlpTraceExporter(env) }));
    else console.error(`OTEL_TRACES_EXPORTER ${JSON.stringify(name)} is not supported here (use otlp or console); ignored`);
  }
  return out;
}

async function otlpTraceExporter(env: NodeJS.ProcessEnv): Promise<SpanExporter> {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  if (protocol === 'grpc') return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
}
