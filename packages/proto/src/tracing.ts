/**
 * W3C trace context over NATS headers. Works with any header object that has get/set (nats.js
 * MsgHdrs does); without a registered propagator (no OpenTelemetry SDK started) these are no-ops.
 */
import { context, propagation, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';

export interface HeaderLike {
  get(key: string): string;
  set(key: string, value: string): void;
  has?(key: string): boolean;
  keys?(): string[];
}

const setter: TextMapSetter<HeaderLike> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

const getter: TextMapGetter<HeaderLike | undefined> = {
  get: (carrier, key) => {
    if (!carrier) return undefined;
    const v = carrier.get(key);
    return v === '' ? undefined : v;
  },
  keys: (carrier) => (carrier?.keys ? carrier.keys() : []),
};

/** Write the active (or given) context's trace headers into `headers`. */
export function injectTraceContext(headers: HeaderLike, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, setter);
}

/** Read trace headers into a context whose parent is the remote span (or the active one). */
export function extractTraceContext(headers: HeaderLike | undefined, base: Context = context.active()): Context {
  if (!headers) return base;
  return propagation.extract(base, headers, getter);
}

/** Trace context as a plain record, for crossing into worker threads. */
export function traceCarrier(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

export function contextFromCarrier(carrier: Record<string, string> | undefined, base: Context = context.active()): Context {
  return carrier ? propagation.extract(base, carrier) : base;
}
