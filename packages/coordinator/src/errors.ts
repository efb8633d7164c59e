/**
 * Error helpers of the coordinator. Everything it reports is a LambdaStoreError with a stable code
 * from ERROR_CODES (packages/proto/src/errors.ts); on the wire it becomes a WireError.
 */
import { LambdaStoreError, asLambdaStoreError, errorToWire, type lambdastore } from '@lambdastore/proto';

/** The module does not compile, throws or hangs when loaded, or defines no usable types. */
export function deployInvalid(message: string, cause?: unknown): LambdaStoreError {
  return new LambdaStoreError('DEPLOY_INVALID', message, cause === undefined ? {} : { cause });
}

export function payloadTooLarge(message: string): LambdaStoreError {
  return new LambdaStoreError('PAYLOAD_TOO_LARGE', message);
}

export function malformedRequest(message: string, cause?: unknown): LambdaStoreError {
  return new LambdaStoreError('MALFORMED_REQUEST', message, cause === undefined ? {} : { cause });
}

/** A bad constructor option: a programming error of the caller, reported before anything starts. */
export function optionError(name: string, why: string): LambdaStoreError {
  return new LambdaStoreError('INVALID_ARGUMENT', `coordinator option ${name} ${why}`);
}

/** Anything thrown, as the WireError a reply carries (unknown failures become retryable INTERNAL). */
export function toWireError(err: unknown): lambdastore.IWireError {
  return errorToWire(asLambdaStoreError(err));
}
