/**
 * Every failure the client reports is a LambdaStoreError (from @lambdastore/proto): wire errors are
 * rebuilt from their WireError, NATS failures are mapped here to the platform's codes.
 */
import { ClosedConnectionError, DrainingConnectionError, InvalidArgumentError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { LambdaStoreError } from '@lambdastore/proto';
import { NoRespondersReply, ReplyTimeout } from './mux.js';

export { LambdaStoreError };

/** What the request was for, to pick the code and write a useful message. */
export interface RequestTarget {
  subject: string;
  /** 'invoke' with a known shard map, 'ingress' without one, 'admin' for the coordinator. */
  kind: 'invoke' | 'ingress' | 'admin';
  /** For 'invoke': the config names a worker for the shard. */
  assigned?: boolean;
  timeoutMs: number;
}

export function isNoResponders(err: unknown): boolean {
  return err instanceof NoRespondersReply || (err instanceof RequestError && err.isNoResponders());
}

/** Map an exception thrown by `nc.request` to a LambdaStoreError. */
export function transportError(err: unknown, t: RequestTarget): LambdaStoreError {
  if (err instanceof LambdaStoreError) return err;
  if (isNoResponders(err)) {
    if (t.kind === 'admin') return new LambdaStoreError('COORDINATOR_UNAVAILABLE', `no coordinator is listening on ${t.subject}`, { cause: err });
    if (t.kind === 'ingress') return new LambdaStoreError('NO_WORKERS', `no worker is listening on ${t.subject}`, { cause: err });
    return t.assigned
      ? new LambdaStoreError('SHARD_UNAVAILABLE', `the worker of ${t.subject} is not answering`, { cause: err })
      : new LambdaStoreError('NO_WORKERS', `no worker serves ${t.subject} yet`, { cause: err });
  }
  if (err instanceof TimeoutError || err instanceof ReplyTimeout) {
    if (t.kind === 'admin') return new LambdaStoreError('COORDINATOR_UNAVAILABLE', `no coordinator answered on ${t.subject} within ${t.timeoutMs} ms`, { cause: err });
    return new LambdaStoreError('TIMEOUT', `no reply on ${t.subject} within ${t.timeoutMs} ms`, { cause: err });
  }
  if (err instanceof ClosedConnectionError || err instanceof DrainingConnectionError) return closedError(err);
  if (err instanceof InvalidArgumentError && /max_payload/.test(err.message)) {
    return new LambdaStoreError('PAYLOAD_TOO_LARGE', `request larger than the NATS server's max_payload: ${err.message}`, { cause: err });
  }
  if (err instanceof RequestError) {
    // e.g. "connection disconnected": nats.js reconnects on its own, so another attempt may work.
    return new LambdaStoreError('INTERNAL', `NATS request failed: ${err.message}`, { retryable: true, cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new LambdaStoreError('INTERNAL', message, { retryable: false, cause: err });
}

export function closedError(cause?: unknown): LambdaStoreError {
  return new LambdaStoreError('INTERNAL', 'the client is closed', { retryable: false, cause });
}

/** A reply that is not the message we expected: a platform bug or a foreign responder; do not retry. */
export function malformedReply(subject: string, cause: unknown): LambdaStoreError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new LambdaStoreError('INTERNAL', `undecodable reply on ${subject}: ${why}`, { retryable: false, cause });
}

/** Rejection for a call cancelled through its AbortSignal. The call may or may not have been
 *  applied; calling again with the same idempotency key is safe, hence TIMEOUT's semantics. */
export function abortedError(signal: AbortSignal): LambdaStoreError {
  return new LambdaStoreError('TIMEOUT', 'the call was aborted by its signal', { cause: signal.reason });
}
