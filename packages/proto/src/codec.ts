import './numbers.js';
/**
 * Encoding of payloads (arguments, results) and of invocation messages, protobuf and JSON.
 * Decoders never throw anything but LambdaStoreError('MALFORMED_REQUEST' | 'INVALID_ARGUMENT').
 */
import { lambdastore } from './gen/proto.js';
import { LambdaStoreError, errorToJson, errorFromWire, type JsonWireError } from './errors.js';

export const ENCODING = { JSON: 0, RAW: 1 } as const;
export type Encoding = (typeof ENCODING)[keyof typeof ENCODING];

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });
const EMPTY = new Uint8Array(0);

export interface Encoded {
  bytes: Uint8Array;
  encoding: Encoding;
}

/** Arguments: one Uint8Array travels raw; anything else as a JSON array. */
export function encodeArgs(args: readonly unknown[]): Encoded {
  if (args.length === 1 && args[0] instanceof Uint8Array) return { bytes: args[0], encoding: ENCODING.RAW };
  let text: string;
  try {
    text = JSON.stringify(args);
  } catch (err) {
    throw new LambdaStoreError('INVALID_ARGUMENT', `arguments are not JSON-serializable: ${(err as Error).message}`);
  }
  return { bytes: utf8.encode(text), encoding: ENCODING.JSON };
}

export function decodeArgs(bytes: Uint8Array | null | undefined, encoding: number | null | undefined): unknown[] {
  if (encoding === ENCODING.RAW) return [bytes ?? EMPTY];
  if (!bytes || bytes.length === 0) return [];
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8.decode(bytes));
  } catch (err) {
    throw new LambdaStoreError('INVALID_ARGUMENT', `arguments are not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) throw new LambdaStoreError('INVALID_ARGUMENT', 'arguments must be a JSON array');
  return value;
}

/** Results: a Uint8Array travels raw, undefined as empty JSON, anything else as JSON. */
export function encodeResult(value: unknown): Encoded {
  if (value instanceof Uint8Array) return { bytes: value, encoding: ENCODING.RAW };
  if (value === undefined) return { bytes: EMPTY, encoding: ENCODING.JSON };
  const text = JSON.stringify(value);
  return { bytes: text === undefined ? EMPTY : utf8.encode(text), encoding: ENCODING.JSON };
}

export function decodeResult(bytes: Uint8Array | null | undefined, encoding: number | null | undefined): unknown {
  if (encoding === ENCODING.RAW) return bytes ?? EMPTY;
  if (!bytes || bytes.length === 0) return undefined;
  return JSON.parse(fromUtf8.decode(bytes));
}

export type InvokeRequest = lambdastore.InvokeRequest;
export type InvokeResponse = lambdastore.InvokeResponse;

export function decodeInvokeRequest(bytes: Uint8Array): lambdastore.InvokeRequest {
  let req: lambdastore.InvokeRequest;
  try {
    req = lambdastore.InvokeRequest.decode(bytes);
  } catch (err) {
    const looksJson = bytes.length > 0 && (bytes[0] === 0x7b || bytes[0] === 0x5b); // '{' or '['
    const hint = looksJson ? ' (a JSON body needs the header Content-Type: application/json)' : '';
    throw new LambdaStoreError('MALFORMED_REQUEST', `not a protobuf InvokeRequest${hint}: ${(err as Error).message}`);
  }
  if (!req.target || !req.target.type || !req.method && !req.create) {
    throw new LambdaStoreError('MALFORMED_REQUEST', 'InvokeRequest needs target.type, target.id and method');
  }
  return req;
}

/**
 * The JSON form of an invocation (for `nats req` and other languages):
 * `{"type":"Account","id":"alice","method":"deposit","args":[5],"idempotencyKey":"k1"}`.
 * Optional: `create` (boolean), `timeoutMs` (number).
 */
export function jsonToInvokeRequest(bytes: Uint8Array): lambdastore.InvokeRequest {
  let body: unknown;
  try {
    body = JSON.parse(fromUtf8.decode(bytes));
  } catch (err) {
    throw new LambdaStoreError('MALFORMED_REQUEST', `body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new LambdaStoreError('MALFORMED_REQUEST', 'body must be a JSON object {type, id, method, args}');
  }
  const b = body as Record<string, unknown>;
  const str = (k: string, required: boolean): string => {
    const v = b[k];
    if (v === undefined || v === null) {
      if (required) throw new LambdaStoreError('MALFORMED_REQUEST', `field "${k}" is required`);
      return '';
    }
    if (typeof v !== 'string') throw new LambdaStoreError('MALFORMED_REQUEST', `field "${k}" must be a string`);
    return v;
  };
  if (b.create !== undefined && typeof b.create !== 'boolean') throw new LambdaStoreError('MALFORMED_REQUEST', 'field "create" must be true or false');
  const create = b.create === true;
  const args = b.args === undefined ? [] : b.args;
  if (!Array.isArray(args)) throw new LambdaStoreError('INVALID_ARGUMENT', 'field "args" must be a JSON array');
  let argsJson: string;
  try {
    argsJson = JSON.stringify(args);
  } catch (err) {
    // JSON.parse accepts nesting that JSON.stringify cannot walk back (a stack overflow).
    throw new LambdaStoreError('INVALID_ARGUMENT', `field "args" cannot be encoded: ${(err as Error).message}`);
  }
  const timeoutMs = b.timeoutMs === undefined ? 0 : Number(b.timeoutMs);
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new LambdaStoreError('INVALID_ARGUMENT', 'field "timeoutMs" must be a non-negative number');
  const read = readConsistencyOf(b.consistency === undefined || b.consistency === null ? undefined : String(b.consistency), b.maxStalenessMs === undefined || b.maxStalenessMs === null ? undefined : Number(b.maxStalenessMs));
  return lambdastore.InvokeRequest.create({
    ...read,
    target: { type: str('type', true), id: str('id', true) },
    method: str('method', !create),
    args: utf8.encode(argsJson),
    argsEncoding: ENCODING.JSON,
    idempotencyKey: str('idempotencyKey', false),
    timeoutMs,
    create,
    attempt: 1,
  });
}

/** Wire values of `InvokeRequest.read_consistency`. */
export const READ_CONSISTENCY = { head: 0, strict: 1, staleOk: 2 } as const;

/** How a read-only call may be served on replicas, as asked for by a caller. */
export type ReadConsistency = 'strict' | 'stale-ok';

/**
 * The request fields for a caller's read consistency (client option or JSON ingress field).
 * Unset: the call runs at the head. `maxStalenessMs` goes with `stale-ok` only, and it needs one.
 */
export function readConsistencyOf(consistency: string | undefined, maxStalenessMs: number | undefined): { readConsistency: number; maxStalenessMs: number } {
  if (consistency === undefined) {
    if (maxStalenessMs !== undefined) throw new LambdaStoreError('INVALID_ARGUMENT', 'maxStalenessMs needs consistency "stale-ok"');
    return { readConsistency: READ_CONSISTENCY.head, maxStalenessMs: 0 };
  }
  if (consistency === 'strict') {
    if (maxStalenessMs !== undefined) throw new LambdaStoreError('INVALID_ARGUMENT', 'maxStalenessMs goes with consistency "stale-ok", not "strict"');
    return { readConsistency: READ_CONSISTENCY.strict, maxStalenessMs: 0 };
  }
  if (consistency === 'stale-ok') {
    if (maxStalenessMs === undefined || !Number.isInteger(maxStalenessMs) || maxStalenessMs < 0 || maxStalenessMs > 3_600_000) {
      throw new LambdaStoreError('INVALID_ARGUMENT', 'consistency "stale-ok" needs maxStalenessMs: an integer from 0 to 3600000 (ms)');
    }
    return { readConsistency: READ_CONSISTENCY.staleOk, maxStalenessMs };
  }
  throw new LambdaStoreError('INVALID_ARGUMENT', `invalid consistency ${JSON.stringify(consistency)}: use "strict" or "stale-ok"`);
}

export interface JsonInvokeReply {
  ok: boolean;
  result?: unknown;
  error?: JsonWireError;
}

/** Render a protobuf response as the JSON ingress reply. Raw results become {"$bytes": base64}. */
export function invokeResponseToJson(resp: lambdastore.IInvokeResponse): Uint8Array {
  let reply: JsonInvokeReply;
  if (resp.ok) {
    const value = resp.resultEncoding === ENCODING.RAW
      ? { $bytes: Buffer.from(resp.result ?? EMPTY).toString('base64') }
      : decodeResult(resp.result, resp.resultEncoding);
    reply = value === undefined ? { ok: true } : { ok: true, result: value };
  } else {
    reply = { ok: false, error: errorToJson(errorFromWire(resp.error)) };
  }
  return utf8.encode(JSON.stringify(reply));
}

export function errorResponse(err: LambdaStoreError): lambdastore.InvokeResponse {
  return lambdastore.InvokeResponse.create({
    ok: false,
    error: {
      code: err.code,
      message: err.message,
      retryable: err.retryable,
      retryAfterMs: err.retryAfterMs,
      ...(err.redirect ? { redirect: err.redirect } : {}),
    },
  });
}

export { utf8 as textEncoder, fromUtf8 as textDecoder };
