/**
 * @lambdastore/sdk: what a lambda author imports. No dependencies: a deployed module bundles this
 * file and nothing else from the platform.
 *
 *   export default defineType('Account', {
 *     balance: { readonly: true, async run(ctx) { return (await ctx.get<number>('balance')) ?? 0 } },
 *     async deposit(ctx, amount: number) { ctx.put('balance', ((await ctx.get<number>('balance')) ?? 0) + amount) },
 *   })
 */

/** A JSON value, or raw bytes. */
export type Value = unknown;

export interface ObjectRef {
  readonly type: string;
  readonly id: string;
}

/** What a method sees. Reads are consistent for the whole call; writes are buffered and applied
 *  atomically when the method returns, or discarded when it throws or times out. */
export interface Ctx {
  /** The object this call runs on. */
  readonly self: ObjectRef;
  /** The entry's value (JSON-decoded, or the Uint8Array that was stored), or undefined. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Set an entry. `value` is JSON-serializable or a Uint8Array. `undefined` deletes. */
  put(key: string, value: Value): void;
  /** Delete an entry. */
  delete(key: string): void;
  /** All entries whose key starts with `prefix`, sorted by key (this call's own writes included). */
  scan<T = unknown>(prefix?: string, options?: { limit?: number }): Promise<Array<[string, T]>>;
  /**
   * Calls a method of another object as part of this call's transaction: everything the chain does
   * commits together or not at all, wherever the objects live. Its failure fails the whole chain
   * (even if caught). A readonly method may only call readonly methods.
   */
  invoke<R = unknown>(ref: ObjectRef, method: string, ...args: unknown[]): Promise<R>;
  /**
   * Creates an object inside this call's transaction (running its type's `init` with `args`); it
   * exists only if the transaction commits. Fails with OBJECT_EXISTS when it already exists.
   */
  create<R = unknown>(ref: ObjectRef, ...args: unknown[]): Promise<R>;
}

export type MethodFn = (ctx: Ctx, ...args: any[]) => unknown;

export interface MethodSpec<F extends MethodFn = MethodFn> {
  /** Runs the method. */
  run: F;
  /** Never writes: may run without taking write locks (and, later, on replicas). */
  readonly?: boolean;
  /** Wall-clock limit for one attempt in ms (default: the worker's, 1000). */
  timeoutMs?: number;
}

export type MethodDef = MethodFn | MethodSpec;
export type MethodsDef = Record<string, MethodDef>;

/** The marker the runtime looks for among a module's exports. A string, so it survives realms. */
export const TYPE_MARKER = '__lambdastoreType' as const;

export interface TypeDef<Name extends string = string, M extends MethodsDef = MethodsDef> {
  readonly [TYPE_MARKER]: 1;
  readonly name: Name;
  readonly methods: M;
}

/** `init` runs once, inside the create call, when the object is created. */
export const INIT_METHOD = 'init';

export function defineType<const Name extends string, const M extends MethodsDef>(name: Name, methods: M): TypeDef<Name, M> {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) {
    throw new TypeError(`defineType: invalid type name ${JSON.stringify(name)} (letters, digits, _; at most 128)`);
  }
  if (typeof methods !== 'object' || methods === null) throw new TypeError(`defineType(${name}): methods must be an object`);
  for (const [m, def] of Object.entries(methods)) {
    const run = typeof def === 'function' ? def : def?.run;
    if (typeof run !== 'function') throw new TypeError(`defineType(${name}): method ${m} must be a function or { run }`);
  }
  return Object.freeze({ [TYPE_MARKER]: 1 as const, name, methods });
}

/**
 * An error a method throws on purpose. Its `code` (upper-case, e.g. INSUFFICIENT_FUNDS) reaches the
 * caller unchanged; the call's writes are discarded.
 */
export class AppError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'AppError';
    this.code = code;
  }
}

// ---- types for typed proxies ----------------------------------------------------------------

type FnOf<D> = D extends MethodSpec<infer F> ? F : D extends MethodFn ? D : never;
type ArgsOf<D> = FnOf<D> extends (ctx: Ctx, ...args: infer A) => unknown ? A : never;
type ResultOf<D> = FnOf<D> extends (...args: any[]) => infer R ? Awaited<R> : never;

/** The callable surface of a type: every method but `init`, without the ctx parameter. */
export type ObjectProxy<T extends TypeDef> = {
  [K in Exclude<keyof T['methods'], typeof INIT_METHOD> & string]: (...args: ArgsOf<T['methods'][K]>) => Promise<ResultOf<T['methods'][K]>>;
};

/** Arguments of a type's `init` (what `create` takes). */
export type InitArgs<T extends TypeDef> = 'init' extends keyof T['methods'] ? ArgsOf<T['methods']['init']> : [];

/** Normalized view of a method, used by the runtime. */
export function methodSpec(def: MethodDef): MethodSpec {
  return typeof def === 'function' ? { run: def } : def;
}

export function isTypeDef(value: unknown): value is TypeDef {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[TYPE_MARKER] === 1;
}
