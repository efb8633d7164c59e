/**
 * The sandbox loader, shared by the worker (to run methods) and the coordinator (to check a module
 * at deploy time). Not imported by lambda authors: it is the `@lambdastore/sdk/runtime` entry.
 *
 * A deployed module is a self-contained CommonJS script (the client bundles with esbuild). It is
 * evaluated in a fresh V8 context that holds only the JavaScript built-ins: no `process`, `require`,
 * `import()`, timers, file system or network, and no string-to-code (`eval`, `Function`). No object
 * of the host realm is ever placed in the context, because any host object would let code climb to
 * the host's `Function` through `.constructor.constructor`; values cross as primitives or as objects
 * the context itself allocated.
 */
import vm from 'node:vm';
import { TYPE_MARKER, INIT_METHOD } from './index.js';

export interface LoadedMethod {
  name: string;
  readonly: boolean;
  timeoutMs: number; // 0 = worker default
}

export interface LoadedType {
  name: string;
  methods: LoadedMethod[];
  hasInit: boolean;
}

export interface LoadedModule {
  /** The module's own realm; methods run inside it. */
  readonly context: vm.Context;
  readonly types: ReadonlyMap<string, LoadedType>;
  readonly realm: RealmApi;
}

/**
 * How the host talks to a realm. Every argument and result is a primitive, except `bytes` (a realm
 * Uint8Array the host fills with its own `Uint8Array.prototype.set`, never the realm's).
 */
export interface RealmApi {
  /** True when the type has the method. */
  has(type: string, method: string): boolean;
  /** A realm Uint8Array of `length` bytes, for raw arguments. */
  bytes(length: number): Uint8Array;
  /**
   * Runs a method. `bridge` is the host side of ctx (see BOOTSTRAP); the outcome comes back through
   * `bridge.done(kind, payload, code, message)`: kind 0 undefined, 1 JSON text, 2 bytes (a realm
   * Uint8Array), 3 error (code, message; payload true for an AppError), 4 invalid arguments.
   */
  run(type: string, method: string, bridge: object, argsJson: string | undefined, argsBytes: Uint8Array | undefined): void;
}

/** Outcome kinds reported through `bridge.done`. */
export const OUTCOME = { UNDEFINED: 0, JSON: 1, BYTES: 2, ERROR: 3, BAD_ARGS: 4 } as const;

export class ModuleLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModuleLoadError';
  }
}

// Evaluated in the realm BEFORE the module, so it holds the pristine built-ins: the module may patch
// prototypes and globals, but nothing here looks them up again. It returns `setup(exports)`.
//
// The one rule: nothing of the host's ever reaches a place user code can touch. The bridge `b` and
// its functions (host objects) live only in closures here and are only called directly; they take
// and return primitives, or realm Uint8Arrays that were brand-checked with the captured
// %TypedArray% tag getter. Promises settled by user code get resolving functions of this realm.
const BOOTSTRAP = String.raw`
(function () {
  'use strict';
  const apply = Reflect.apply;
  const ownKeys = Object.keys;
  const hasOwn = Object.prototype.hasOwnProperty;
  const freeze = Object.freeze;
  const jsonParse = JSON.parse;
  const jsonStringify = JSON.stringify;
  const isArray = Array.isArray;
  const U8 = Uint8Array;
  const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
  const PromiseCtor = Promise;
  const promiseResolve = Promise.resolve;
  const promiseReject = Promise.reject;
  const promiseThen = Promise.prototype.then;
  const ErrorCtor = Error;
  const TypeErrorCtor = TypeError;
  const StringCtor = String;
  const strIndexOf = String.prototype.indexOf;
  const strSlice = String.prototype.slice;
  const strSplit = String.prototype.split;
  const defineProperty = Object.defineProperty;
  const charCodeAt = String.prototype.charCodeAt;
  const fromLatin1 = (text) => {
    const out = new U8(text.length);
    for (let i = 0; i < text.length; i++) out[i] = apply(charCodeAt, text, [i]);
    return out;
  };

  const isBytes = (v) => v !== null && typeof v === 'object' && apply(typedArrayTag, v, []) === 'Uint8Array';
  const fnOf = (def) => (typeof def === 'function' ? def : def !== null && typeof def === 'object' ? def.run : undefined);
  const makeError = (code, message) => {
    const e = new ErrorCtor(message);
    defineProperty(e, 'code', { value: code, enumerable: true });
    return e;
  };
  const failWith = (failure) => {
    const i = apply(strIndexOf, failure, ['\u0000']);
    throw makeError(apply(strSlice, failure, [0, i]), apply(strSlice, failure, [i + 1]));
  };
  const safeString = (v) => { try { return StringCtor(v); } catch (_) { return 'an unprintable value'; } };
  const get = (o, k) => { try { return o[k]; } catch (_) { return undefined; } };

  return function setup(exportsObj, TYPE_MARKER) {
    const types = new Map();
    const candidates = [];
    if (exportsObj !== null && typeof exportsObj === 'object') {
      if (exportsObj[TYPE_MARKER] === 1) candidates[candidates.length] = exportsObj;
      const ks = ownKeys(exportsObj);
      for (let i = 0; i < ks.length; i++) candidates[candidates.length] = exportsObj[ks[i]];
    }
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i];
      if (c !== null && typeof c === 'object' && c[TYPE_MARKER] === 1 && typeof c.name === 'string' && c.methods) {
        if (types.has(c.name) && types.get(c.name) !== c) throw new ErrorCtor('type ' + c.name + ' is defined twice');
        types.set(c.name, c);
      }
    }

    function methodOf(type, method) {
      const t = types.get(type);
      if (!t || !apply(hasOwn, t.methods, [method])) return undefined;
      const fn = fnOf(t.methods[method]);
      return typeof fn === 'function' ? fn : undefined;
    }

    function makeCtx(b) {
      const decode = (key, kind, payload) => {
        if (kind === 0) return undefined;
        if (kind === 1) return jsonParse(payload);
        const buf = new U8(payload);
        const failure = b.copy(key, buf);
        if (failure) failWith(failure);
        return buf;
      };
      const read = (key) => new PromiseCtor((resolve, reject) => {
        const failure = b.get(key, (kind, payload, errCode, errMsg) => {
          if (errCode) { reject(makeError(errCode, errMsg)); return; }
          try { resolve(decode(key, kind, payload)); } catch (e) { reject(e); }
        });
        if (failure) { try { failWith(failure); } catch (e) { reject(e); } }
      });
      const self = freeze({ type: b.type, id: b.id });
      // ctx.invoke / ctx.create: the host runs the callee; its outcome comes back as primitives.
      const nested = (what, ref, method, args, create) => {
        if (ref === null || typeof ref !== 'object' || typeof get(ref, 'type') !== 'string' || typeof get(ref, 'id') !== 'string') {
          return apply(promiseReject, PromiseCtor, [new TypeErrorCtor(what + ': the first argument must be { type, id }')]);
        }
        let argsJson;
        let argsBytes;
        if (args.length === 1 && isBytes(args[0])) argsBytes = args[0];
        else {
          try { argsJson = jsonStringify(args); } catch (e) { return apply(promiseReject, PromiseCtor, [e]); }
        }
        const type = get(ref, 'type');
        const id = get(ref, 'id');
        return new PromiseCtor((resolve, reject) => {
          const failure = b.invoke(type, id, method, argsJson, argsBytes, (kind, payload, errCode, errMsg) => {
            if (kind === 3) { reject(makeError(errCode, errMsg)); return; }
            try {
              if (kind === 0) resolve(undefined);
              else if (kind === 1) resolve(jsonParse(payload));
              else resolve(fromLatin1(payload));
            } catch (e) { reject(e); }
          }, create);
          if (failure) { try { failWith(failure); } catch (e) { reject(e); } }
        });
      };
      return freeze({
        self,
        get(key) {
          if (typeof key !== 'string') return apply(promiseReject, PromiseCtor, [new TypeErrorCtor('ctx.get: key must be a string')]);
          return read(key);
        },
        put(key, value) {
          if (typeof key !== 'string') throw new TypeErrorCtor('ctx.put: key must be a string');
          let failure;
          if (value === undefined) failure = b.del(key);
          else if (isBytes(value)) failure = b.put(key, 2, value);
          else {
            const text = jsonStringify(value);
            if (text === undefined) throw new TypeErrorCtor('ctx.put: value is not JSON-serializable');
            failure = b.put(key, 1, text);
          }
          if (failure) failWith(failure);
        },
        delete(key) {
          if (typeof key !== 'string') throw new TypeErrorCtor('ctx.delete: key must be a string');
          const failure = b.del(key);
          if (failure) failWith(failure);
        },
        invoke(ref, method) {
          if (typeof method !== 'string') return apply(promiseReject, PromiseCtor, [new TypeErrorCtor('ctx.invoke: method must be a string')]);
          const args = [];
          for (let i = 2; i < arguments.length; i++) args[i - 2] = arguments[i];
          return nested('ctx.invoke', ref, method, args, false);
        },
        create(ref) {
          const args = [];
          for (let i = 1; i < arguments.length; i++) args[i - 1] = arguments[i];
          return nested('ctx.create', ref, 'init', args, true);
        },
        scan(prefix, options) {
          const p = prefix === undefined ? '' : prefix;
          if (typeof p !== 'string') return apply(promiseReject, PromiseCtor, [new TypeErrorCtor('ctx.scan: prefix must be a string')]);
          const limit = options !== null && typeof options === 'object' && typeof get(options, 'limit') === 'number' ? get(options, 'limit') : 0;
          return new PromiseCtor((resolve, reject) => {
            const failure = b.scan(p, limit, (joined, errCode, errMsg) => {
              if (errCode) { reject(makeError(errCode, errMsg)); return; }
              const keys = joined === '' ? [] : apply(strSplit, joined, ['\u0000']);
              const out = [];
              let pending = keys.length;
              if (pending === 0) { resolve(out); return; }
              for (let i = 0; i < keys.length; i++) {
                const k = keys[i];
                apply(promiseThen, read(k), [(v) => { out[i] = [k, v]; if (--pending === 0) resolve(out); }, reject]);
              }
            });
            if (failure) { try { failWith(failure); } catch (e) { reject(e); } }
          });
        },
      });
    }

    // Reports an outcome to the host with primitives only (or a brand-checked realm Uint8Array).
    function report(b, value) {
      if (isBytes(value)) { b.done(2, value, '', ''); return; }
      if (value === undefined) { b.done(0, '', '', ''); return; }
      let text;
      try { text = jsonStringify(value); } catch (e) { reportError(b, e); return; }
      if (text === undefined) b.done(0, '', '', '');
      else b.done(1, text, '', '');
    }
    function reportError(b, err) {
      let code = '';
      let message = '';
      let isApp = false;
      if (err !== null && (typeof err === 'object' || typeof err === 'function')) {
        const c = get(err, 'code');
        const m = get(err, 'message');
        code = typeof c === 'string' ? c : '';
        message = typeof m === 'string' ? m : safeString(err);
        isApp = get(err, 'name') === 'AppError';
      } else {
        message = safeString(err);
      }
      b.done(3, isApp, code, message);
    }

    return freeze({
      list() {
        let out = '';
        for (const [name, t] of types) {
          let methods = '';
          const ms = ownKeys(t.methods);
          for (let i = 0; i < ms.length; i++) {
            const m = ms[i];
            const def = t.methods[m];
            if (typeof fnOf(def) !== 'function') throw new ErrorCtor('method ' + name + '.' + m + ' is not a function');
            const readonly = typeof def === 'object' && def.readonly === true;
            const timeoutMs = typeof def === 'object' && typeof def.timeoutMs === 'number' ? def.timeoutMs : 0;
            methods += (i > 0 ? '\u0001' : '') + m + '\u0000' + (readonly ? 1 : 0) + '\u0000' + timeoutMs;
          }
          out += (out === '' ? '' : '\u0002') + name + '\u0001' + methods;
        }
        return out;
      },
      has(type, method) { return methodOf(type, method) !== undefined; },
      bytes(n) { return new U8(n); },
      run(type, method, b, argsJson, argsBytes) {
        const fn = methodOf(type, method);
        let args;
        if (argsBytes !== undefined) args = [argsBytes];
        else {
          try { args = jsonParse(argsJson); } catch (e) { b.done(4, '', 'INVALID_ARGUMENT', 'arguments are not valid JSON: ' + safeString(get(e, 'message'))); return; }
          if (!isArray(args)) { b.done(4, '', 'INVALID_ARGUMENT', 'arguments must be a JSON array'); return; }
        }
        const call = [makeCtx(b)];
        for (let i = 0; i < args.length; i++) call[i + 1] = args[i];
        let result;
        try {
          result = apply(fn, undefined, call);
        } catch (e) {
          reportError(b, e);
          return;
        }
        // A thenable result is settled with this realm's resolving functions, never the host's.
        let p;
        try { p = apply(promiseResolve, PromiseCtor, [result]); } catch (e) { reportError(b, e); return; }
        apply(promiseThen, p, [(v) => report(b, v), (e) => reportError(b, e)]);
      },
    });
  };
})()
`;

export interface LoadOptions {
  filename?: string;
  /** Limit for evaluating the module's top level (ms). */
  timeoutMs?: number;
  /** Largest accepted source, in bytes. */
  maxBytes?: number;
}

/** Evaluates a module in a fresh realm and lists its types. Throws ModuleLoadError. */
export function loadModule(source: string, opts: LoadOptions = {}): LoadedModule {
  const filename = opts.filename ?? 'module.js';
  if (typeof source !== 'string' || source.length === 0) throw new ModuleLoadError('module source is empty');
  if (opts.maxBytes !== undefined && Buffer.byteLength(source) > opts.maxBytes) {
    throw new ModuleLoadError(`module is larger than ${opts.maxBytes} bytes`);
  }
  const context = vm.createContext(Object.create(null), {
    name: `lambdastore:${filename}`,
    codeGeneration: { strings: false, wasm: false },
  });
  const timeout = opts.timeoutMs ?? 1000;
  // The bootstrap runs first, so it captures the built-ins before the module can patch them.
  const setup = new vm.Script(BOOTSTRAP, { filename: 'lambdastore-bootstrap.js' }).runInContext(context) as (e: unknown, m: string) => RealmInternal;
  let script: vm.Script;
  try {
    // One script runs the module's top level, so vm's timeout bounds it. `module` is realm-made.
    script = new vm.Script(
      `(() => { const module = { exports: {} }; (function (module, exports) {${source}\n})(module, module.exports); return module.exports; })()`,
      { filename },
    );
  } catch (err) {
    throw new ModuleLoadError(`module does not compile: ${(err as Error).message}`);
  }
  let api: RealmInternal;
  let listing: string;
  try {
    const exportsObj = script.runInContext(context, { timeout });
    api = setup(exportsObj, TYPE_MARKER);
    listing = api.list();
  } catch (err) {
    throw new ModuleLoadError(`module throws when loaded: ${describeHostSafe(err)}`);
  }
  const types = new Map<string, LoadedType>();
  if (listing !== '') {
    for (const t of listing.split('\u0002')) {
      const [name, ...ms] = t.split('\u0001');
      const methods: LoadedMethod[] = ms.filter((m) => m !== '').map((m) => {
        const [mn, ro, to] = m.split('\u0000');
        return { name: mn!, readonly: ro === '1', timeoutMs: Number(to) };
      });
      types.set(name!, { name: name!, methods: methods.filter((m) => m.name !== INIT_METHOD), hasInit: methods.some((m) => m.name === INIT_METHOD) });
    }
  }
  if (types.size === 0) throw new ModuleLoadError('module defines no types (export a defineType(...) value)');
  return { context, types, realm: api };
}


interface RealmInternal extends RealmApi {
  list(): string;
}

/** A message from something thrown in the realm, read without trusting it. */
function describeHostSafe(err: unknown): string {
  try {
    if (err && typeof err === 'object' && 'message' in err) {
      const m = (err as { message: unknown }).message;
      if (typeof m === 'string') return m;
    }
    return String(err);
  } catch {
    return 'an unprintable error';
  }
}
