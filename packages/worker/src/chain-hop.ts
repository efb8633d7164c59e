/**
 * The hook chain replication (issue 4) calls for each replicated commit, so its hops show up in the
 * trace and in the chain-lag metric with one call at the head:
 *
 *   await chainHop(this.metrics, call.trace, { shard, epoch, successor }, replicator.commit(record));
 *
 * `acked` is the promise that resolves once the tail acknowledged the record. The hook records
 * the time from the call to that acknowledgement as `lambdastore.chain.lag` (always; it is a Map
 * update plus a no-op OTel call when nothing exports) and, only for a traced call (its parent span
 * is recording), a `lambdastore.chain.append` span under it with the shard, epoch and successor.
 * An untraced call pays one `isRecording()` check. A rejected `acked` (the head lost its role) marks
 * the span as failed and records no lag.
 *
 * Records travel down the chain in batches shared by many calls, so the downstream nodes' own work
 * is not split per call; the span covers the whole round trip to the tail.
 */
import { performance } from 'node:perf_hooks';
import { trace, SpanKind, SpanStatusCode, type Context } from '@opentelemetry/api';
import { SPAN_ATTRS, SPAN_NAMES, type WorkerMetrics } from '@lambdastore/proto';
import { tracer } from './call-spans.js';

export interface ChainHop {
  shard: number;
  epoch: number;
  /** The worker the head sends the record to. */
  successor: string;
}

export async function chainHop<T>(metrics: Pick<WorkerMetrics, 'chainLag'>, parent: Context | undefined, hop: ChainHop, acked: Promise<T>): Promise<T> {
  const t0 = performance.now();
  const traced = parent !== undefined && trace.getSpan(parent)?.isRecording() === true;
  const span = traced
    ? tracer.startSpan(SPAN_NAMES.chainAppend, { kind: SpanKind.PRODUCER, attributes: { [SPAN_ATTRS.shard]: hop.shard, [SPAN_ATTRS.epoch]: hop.epoch, 'lambdastore.successor': hop.successor } }, parent)
    : undefined;
  try {
    const out = await acked;
    metrics.chainLag.record(performance.now() - t0, { [SPAN_ATTRS.shard]: hop.shard });
    return out;
  } catch (err) {
    span?.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span?.end();
  }
}
