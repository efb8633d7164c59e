/**
 * A span processor that hands every sampled finished span to the process's span outbox, from which
 * the worker ships it to the coordinator (dashboard waterfalls). It copies a few fields and never
 * blocks; the outbox is bounded and counts what it drops.
 */
import { TraceFlags, SpanStatusCode, type Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { spanOutbox, type SpanOutbox, type SpanRecord } from '@lambdastore/proto';

const hrMs = (t: readonly [number, number]) => t[0] * 1000 + t[1] / 1e6;

export function spanRecordOf(span: ReadableSpan, service: string): SpanRecord {
  const ctx = span.spanContext();
  const attributes: SpanRecord['attributes'] = {};
  for (const [k, v] of Object.entries(span.attributes)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') attributes[k] = v;
  }
  const rec: SpanRecord = {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    name: span.name,
    service,
    startMs: hrMs(span.startTime),
    durationMs: hrMs(span.duration),
    attributes,
  };
  const parent = span.parentSpanContext?.spanId;
  if (parent) rec.parentSpanId = parent;
  if (span.status.code === SpanStatusCode.ERROR) rec.error = span.status.message || 'error';
  else if (typeof span.attributes['lambdastore.error'] === 'string' && span.attributes['lambdastore.error'] !== '') rec.error = span.attributes['lambdastore.error'];
  return rec;
}

export class OutboxSpanProcessor implements SpanProcessor {
  constructor(private readonly service: string, private readonly outbox: SpanOutbox = spanOutbox) {}
  onStart(_span: Span, _parentContext: Context): void {}
  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    this.outbox.push(spanRecordOf(span, this.service));
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
