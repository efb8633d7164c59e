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
  /** Calls `fn` (defined inside the realm) by type and method name. */
  readonly realm: RealmApi;
}

/** Functions that live inside the realm (see BOOTSTRAP). Arguments and results are realm values. */
export interface RealmApi {
  /** Returns the method function of a type (undefined when missing). */
  method(type: string, method: string): ((...args: unknown[]) => unknown) | undefined;
  /** JSON.parse inside the realm, so parsed values have no host prototypes. */
  parse(text: string): unknown;
  /** JSON.stringify inside the realm (undefined for undefined). */
  stringify(value: unknown): string | undefined;
  /** A realm Uint8Array of `length` bytes for the host to fill. */
  bytes(length: number): Uint8Array;
  /** True for a realm Uint8Array. */
  isBytes(value: unknown): boolean;
  /** A realm Error (with `code`) carrying a host error's text. */
  error(code: string, message: string): Error;
  /** Builds a ctx from a bridge object whose functions take and return primitives only. */
  makeCtx(bridge: unknown): unknown;
  /** Describes an error thrown inside the realm: [code, message, isAppError]. */
  describeError(err: unknown): [string, string, boolean];
}

export class ModuleLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModuleLoadError';
  }
}

// Runs inside the realm. Builds ctx objects whose methods call the host only through a bridge of
// primitive-in/primitive-out functions, captured in closures the user cannot reach.
const BOOTSTRAP = String.raw`
(function (exportsObj, TYPE_MARKER) {
  'use strict';
  const types = new Map();
  const candidates = [];
  if (exportsObj && typeof exportsObj === 'object') {
    if (exportsObj[TYPE_MARKER] === 1) candidates.push(exportsObj);
    for (const k of Object.keys(exportsObj)) candidates.push(exportsObj[k]);
  }
  for (const c of candidates) {
    if (c && typeof c === 'object' && c[TYPE_MARKER] === 1 && typeof c.name === 'string' && c.methods) {
      if (types.has(c.name) && types.get(c.name) !== c) throw new Error('type ' + c.name + ' is defined twice');
      types.set(c.name, c);
    }
  }
  const fnOf = (def) => (typeof def === 'function' ? def : def && def.run);
  const api = {
    list() {
      const out = [];
      for (const [name, t] of types) {
        const methods = [];
        for (const m of Object.keys(t.methods)) {
          const def = t.methods[m];
          if (typeof fnOf(def) !== 'function') throw new Error('method ' + name + '.' + m + ' is not a function');
          const readonly = typeof def === 'object' && def.readonly === true;
          const timeoutMs = typeof def === 'object' && typeof def.timeoutMs === 'number' ? def.timeoutMs : 0;
          methods.push(m + '\u0000' + (readonly ? 1 : 0) + '\u0000' + timeoutMs);
        }
        out.push(name + '\u0001' + methods.join('\u0001'));
      }
      return out.join('\u0002');
    },
    method(type, method) {
      const t = types.get(type);
      if (!t || !Object.prototype.hasOwnProperty.call(t.methods, method)) return undefined;
      const fn = fnOf(t.methods[method]);
      return typeof fn === 'function' ? fn : undefined;
    },
    parse: (text) => JSON.parse(text),
    stringify: (v) => JSON.stringify(v),
    bytes: (n) => new Uint8Array(n),
    isBytes: (v) => v instanceof Uint8Array,
    error(code, message) { const e = new Error(message); e.code = code; return e; },
    describeError(err) {
      if (err && typeof err === 'object') {
        const code = typeof err.code === 'string' ? err.code : '';
        const msg = typeof err.message === 'string' ? err.message : String(err);
        return [code, msg, err.name === 'AppError'];
      }
      return ['', String(err), false];
    },
    makeCtx(bridge) {
      // bridge (host functions that take and return primitives and never throw):
      //   type, id: strings
      //   get(key, cb(kind, payload, errCode, errMsg)): kind 0 missing, 1 JSON (payload = text),
      //       2 bytes (payload = length; then copy(key, buf) fills a realm Uint8Array)
      //   put(key, kind, text|bytes) / del(key): '' or "CODE\u0000message"
      //   scan(prefix, limit, cb(keysJoinedByNul, errCode, errMsg))
      const b = bridge;
      const decode = (key, kind, payload) => {
        if (kind === 0) return undefined;
        if (kind === 1) return JSON.parse(payload);
        const buf = new Uint8Array(payload);
        b.copy(key, buf);
        return buf;
      };
      const read = (key) => new Promise((resolve, reject) => {
        b.get(key, (kind, payload, errCode, errMsg) => {
          if (errCode) { const e = new Error(errMsg); e.code = errCode; reject(e); return; }
          try { resolve(decode(key, kind, payload)); } catch (e) { reject(e); }
        });
      });
      const self = Object.freeze({ type: b.type, id: b.id });
      // Host bridge functions never throw; they return "CODE\u0000message" on failure.
      const fail = (failure) => {
        const i = failure.indexOf('\u0000');
        const e = new Error(failure.slice(i + 1));
        e.code = failure.slice(0, i);
        throw e;
      };
      return Object.freeze({
        self,
        get(key) {
          if (typeof key !== 'string') return Promise.reject(new TypeError('ctx.get: key must be a string'));
          return read(key);
        },
        put(key, value) {
          if (typeof key !== 'string') throw new TypeError('ctx.put: key must be a string');
          let failure;
          if (value === undefined) failure = b.del(key);
          else if (value instanceof Uint8Array) failure = b.put(key, 2, value);
          else {
            const text = JSON.stringify(value);
            if (text === undefined) throw new TypeError('ctx.put: value is not JSON-serializable');
            failure = b.put(key, 1, text);
          }
          if (failure) fail(failure);
        },
        delete(key) {
          if (typeof key !== 'string') throw new TypeError('ctx.delete: key must be a string');
          const failure = b.del(key);
          if (failure) fail(failure);
        },
        scan(prefix, options) {
          const p = prefix === undefined ? '' : prefix;
          if (typeof p !== 'string') return Promise.reject(new TypeError('ctx.scan: prefix must be a string'));
          const limit = options && typeof options.limit === 'number' ? options.limit : 0;
          return new Promise((resolve, reject) => {
            b.scan(p, limit, (joined, errCode, errMsg) => {
              if (errCode) { const e = new Error(errMsg); e.code = errCode; reject(e); return; }
              const keys = joined === '' ? [] : joined.split('\u0000');
              Promise.all(keys.map((k) => read(k))).then((vals) => resolve(keys.map((k, i) => [k, vals[i]])), reject);
            });
          });
        },
      });
    },
  };
  return api;
})
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
  let api: Record<string, (...a: unknown[]) => unknown>;
  let listing: string;
  try {
    const exportsObj = script.runInContext(context, { timeout });
    const boot = new vm.Script(BOOTSTRAP, { filename: 'lambdastore-bootstrap.js' }).runInContext(context) as (e: unknown, m: string) => typeof api;
    api = boot(exportsObj, TYPE_MARKER);
    listing = api.list!() as string;
  } catch (err) {
    const msg = err && typeof err === 'object' && 'message' in err ? String((err as Error).message) : String(err);
    throw new ModuleLoadError(`module throws when loaded: ${msg}`);
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
  return { context, types, realm: api as unknown as RealmApi };
}

