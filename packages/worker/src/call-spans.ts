/**
 * Spans for the part of a call that runs in a Piscina thread, made on the main thread (threads have
 * no tracer, and shipping spans out of them would cost every call a bigger result). Only traced
 * (sampled) calls pay anything here; for the rest `begin` returns undefined after one check.
 *
 * - `lambdastore.thread`: the task from its hand-off to Piscina to its result (its queue wait is
 *   the attribute `lambdastore.queue_ms`, from the start time the thread reports).
 * - `lambdastore.call`: one nested `ctx.invoke`/`ctx.create`. The thread asks the main thread to
 *   open the callee anyway; that request carries the caller's span context, so the span starts
 *   there, live (its snapshot fetch from another worker is its child), and the thread reports when
 *   it ended with the task's result.
 */
import { performance } from 'node:perf_hooks';
import { context, trace, SpanKind, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import { SPAN_ATTRS, SPAN_NAMES, contextFromCarrier, traceCarrier } from '@lambdastore/proto';
import type { ExecResult, ExecTask, OpenRequest } from './task.js';

export const tracer = trace.getTracer('@lambdastore/worker');

/** The thread span of one traced task, and the nested-call spans its chain opened. */
export interface TaskTrace {
  thread: Span;
  tag: number;
  /** When the task was handed to Piscina (ms since the epoch). */
  sentMs: number;
}

export class CallSpans {
  private nextTag = 1;
  /** Open nested-call spans by task tag, then open seq. */
  private readonly open = new Map<number, Map<number, Span>>();

  /** Starts the thread span when the execute span is recording, and marks the task as traced. */
  begin(task: ExecTask, execute: Span): TaskTrace | undefined {
    if (!execute.isRecording()) return undefined;
    const parent = trace.setSpan(context.active(), execute);
    const thread = tracer.startSpan(SPAN_NAMES.thread, { attributes: { [SPAN_ATTRS.method]: task.method } }, parent);
    const tag = this.nextTag++;
    task.trace = traceCarrier(trace.setSpan(context.active(), thread));
    task.traceTag = tag;
    this.open.set(tag, new Map());
    return { thread, tag, sentMs: performance.timeOrigin + performance.now() };
  }

  /** A traced chain opens a callee: its span starts now; returns the context for the open's work. */
  startNested(req: OpenRequest, attributes: Record<string, string | number>): { ctx: Context; carrier: Record<string, string> } | undefined {
    const spans = req.tag === undefined ? undefined : this.open.get(req.tag);
    if (!spans || !req.trace) return undefined;
    const parent = contextFromCarrier(req.trace, context.active());
    const span = tracer.startSpan(SPAN_NAMES.nestedCall, { kind: SpanKind.INTERNAL, attributes: { ...attributes, [SPAN_ATTRS.method]: req.method ?? '' } }, parent);
    spans.set(req.seq, span);
    const ctx = trace.setSpan(context.active(), span);
    return { ctx, carrier: traceCarrier(ctx) };
  }

  /** The open itself failed: the nested call ends here. */
  failNested(req: OpenRequest, code: string): void {
    const span = req.tag === undefined ? undefined : this.open.get(req.tag)?.get(req.seq);
    if (!span) return;
    span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    span.setAttribute(SPAN_ATTRS.error, code);
  }

  /** The task is over: end its spans with the times the thread reported (now, for what it did not). */
  end(t: TaskTrace, result: ExecResult | undefined): void {
    const spans = this.open.get(t.tag)!;
    this.open.delete(t.tag);
    for (const c of result?.calls ?? []) {
      const span = spans.get(c.seq);
      if (!span) continue;
      spans.delete(c.seq);
      if (c.error) {
        span.setAttribute(SPAN_ATTRS.error, c.error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: c.error });
      }
      span.end(c.endMs);
    }
    for (const span of spans.values()) span.end();
    if (result?.startedMs) t.thread.setAttribute(SPAN_ATTRS.queueMs, Math.max(0, result.startedMs - t.sentMs));
    if (result && !result.ok && result.error) {
      t.thread.setAttribute(SPAN_ATTRS.error, result.error.code);
      t.thread.setStatus({ code: SpanStatusCode.ERROR, message: result.error.code });
    }
    t.thread.end();
  }
}
