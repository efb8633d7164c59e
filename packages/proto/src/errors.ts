import './numbers.js';
/**
 * Wire errors. Every failure that crosses NATS or a thread boundary is data: a stable code, a
 * message, a retryable flag and optional hints. `docs/errors.md` lists every code and what a caller
 * should do about it; a test keeps that list and this table in step.
 */
import { lambdastore } from './gen/proto.js';

/** code -> [retryable by default, one-line meaning]. */
export const ERROR_CODES = {
  // request shape
  MALFORMED_REQUEST: [false, 'the message could not be decoded (bad protobuf or JSON) or misses a field'],
  INVALID_ARGUMENT: [false, 'arguments are not valid JSON, or a name or value breaks a rule'],
  PAYLOAD_TOO_LARGE: [false, 'a request, argument, value or module is larger than the configured limit'],
  // addressing
  UNKNOWN_TYPE: [false, 'no type of that name has been deployed'],
  UNKNOWN_METHOD: [false, 'the type has no method of that name'],
  OBJECT_NOT_FOUND: [false, 'no object of that type and id exists (create it first)'],
  OBJECT_EXISTS: [false, 'create was called for an object that already exists'],
  IDEMPOTENCY_KEY_REUSED: [false, 'the idempotency key was already used for a different call (another method or other arguments)'],
  WRONG_SHARD: [true, 'the object lives on another shard or worker; the redirect hint says where'],
  // availability
  NO_WORKERS: [true, 'no worker serves the shard yet (cluster starting, or its worker is down)'],
  SHARD_UNAVAILABLE: [true, 'the shard is assigned but its worker is not answering'],
  OVERLOADED: [true, 'the worker is shedding load; retry after the hint'],
  TIMEOUT: [true, 'the call did not complete in time; retrying with the same key is safe'],
  // execution
  METHOD_TIMEOUT: [false, 'the method ran past its time limit and was aborted; its writes were discarded'],
  METHOD_FAILED: [false, 'the method threw; no write of the call was applied'],
  NOT_READONLY: [false, 'a readonly method tried to write'],
  WORKER_CRASHED: [false, 'the thread running the method died (out of memory or similar); writes discarded'],
  TXN_ABORTED: [true, 'the transaction (its whole call chain) kept conflicting with concurrent ones past the retry bound'],
  NOT_SUPPORTED: [false, 'the request needs a feature that is not available yet (see the message)'],
  // deployment
  DEPLOY_INVALID: [false, 'the module does not compile, throws when loaded, or defines no types'],
  TYPE_NOT_LOADED: [true, 'the worker could not load the type module yet'],
  // admin / cluster
  COORDINATOR_UNAVAILABLE: [true, 'no coordinator answered'],
  INTERNAL: [true, 'an unexpected failure inside the platform; the call may be retried with the same key'],
} as const satisfies Record<string, readonly [boolean, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isSystemCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/** Codes an application may throw from a method (see `AppError` in @lambdastore/sdk). */
export const APP_CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

export interface RedirectHint {
  shard: number;
  workerId: string;
  configVersion: number;
}

export interface ErrorOptions {
  retryable?: boolean;
  retryAfterMs?: number;
  redirect?: RedirectHint;
  cause?: unknown;
}

/** The one error class of the platform; `code` is stable, `message` is for humans. */
export class LambdaStoreError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number;
  readonly redirect: RedirectHint | undefined;

  constructor(code: string, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LambdaStoreError';
    this.code = code;
    const known = isSystemCode(code) ? ERROR_CODES[code][0] : false;
    this.retryable = opts.retryable ?? known;
    this.retryAfterMs = opts.retryAfterMs ?? 0;
    this.redirect = opts.redirect;
  }
}

export function errorToWire(err: LambdaStoreError): lambdastore.IWireError {
  const wire: lambdastore.IWireError = {
    code: err.code,
    message: err.message,
    retryable: err.retryable,
    retryAfterMs: err.retryAfterMs,
  };
  if (err.redirect) wire.redirect = { ...err.redirect };
  return wire;
}

export function errorFromWire(wire: lambdastore.IWireError | null | undefined): LambdaStoreError {
  if (!wire) return new LambdaStoreError('INTERNAL', 'response carried no error detail');
  const r = wire.redirect;
  return new LambdaStoreError(wire.code || 'INTERNAL', wire.message ?? '', {
    retryable: !!wire.retryable,
    retryAfterMs: Number(wire.retryAfterMs ?? 0),
    ...(r ? { redirect: { shard: r.shard ?? 0, workerId: r.workerId ?? '', configVersion: Number(r.configVersion ?? 0) } } : {}),
  });
}

/** Wrap anything thrown into a LambdaStoreError, keeping the cause. */
export function asLambdaStoreError(err: unknown, fallbackCode: ErrorCode = 'INTERNAL'): LambdaStoreError {
  if (err instanceof LambdaStoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new LambdaStoreError(fallbackCode, message, { cause: err });
}

/** The JSON shape of an error on the JSON ingress. */
export interface JsonWireError {
  code: string;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  redirect?: RedirectHint;
}

export function errorToJson(err: LambdaStoreError): JsonWireError {
  const out: JsonWireError = { code: err.code, message: err.message, retryable: err.retryable };
  if (err.retryAfterMs) out.retryAfterMs = err.retryAfterMs;
  if (err.redirect) out.redirect = err.redirect;
  return out;
}
