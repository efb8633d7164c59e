/**
 * Runs inside a Piscina worker thread: loads a type module into its sandbox realm (once per module
 * per thread), builds the method's ctx over the shipped snapshot, runs the method, and returns the
 * buffered writes. Nothing here touches the store: the main thread validates and commits.
 */
import { readFile } from 'node:fs/promises';
import { loadModule, OUTCOME, type LoadedModule } from '@lambdastore/sdk/runtime';
import { ENCODING, APP_CODE_PATTERN, isSystemCode } from '@lambdastore/proto';
import { PackedEntries } from './snapshot.js';
import type { ExecResult, ExecTask, PortReply, ThreadBatch } from './task.js';

const modules = new Map<string, Promise<LoadedModule>>();
const TAG_JSON = 1;
const TAG_BYTES = 2;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function moduleFor(task: ExecTask): Promise<LoadedModule> {
  let m = modules.get(task.moduleId);
  if (!m) {
    m = readFile(task.modulePath, 'utf8').then((src) => loadModule(src, { filename: `${task.type}@${task.moduleId}.js`, timeoutMs: 1000 }));
    modules.set(task.moduleId, m);
    m.catch(() => modules.delete(task.moduleId));
  }
  return m;
}

const failure = (code: string, message: string): ExecResult => ({ ok: false, error: { code, message } });

/** The host's own typed-array copy: never look up `set` on a realm object (user code may patch it). */
const hostU8Set = Uint8Array.prototype.set;

/** A host error as text for the realm: bridge functions return strings, they never throw. */
function failureText(code: string, err: unknown): string {
  return `${code}\u0000${messageOf(err)}`;
}

function messageOf(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable error';
  }
}

/** The Piscina entry: runs a batch of calls in order, reporting progress for their time limits. */
export default async function runBatch(batch: ThreadBatch): Promise<ExecResult[]> {
  const progress = new Int32Array(batch.progress);
  const results: ExecResult[] = [];
  for (let i = 0; i < batch.tasks.length; i++) {
    progress[1] = Date.now() - batch.baseMs;
    Atomics.store(progress, 0, i + 1);
    results.push(await execute(batch.tasks[i]!));
  }
  return results;
}

export async function execute(task: ExecTask): Promise<ExecResult> {
  let mod: LoadedModule;
  try {
    mod = await moduleFor(task);
  } catch (err) {
    return failure('TYPE_NOT_LOADED', `cannot load module of ${task.type}: ${(err as Error).message}`);
  }
  const realm = mod.realm;
  if (!realm.has(task.type, task.method)) {
    if (task.create) return { ok: true, writes: [] }; // no init: an empty object
    return failure('UNKNOWN_METHOD', `${task.type} has no method ${task.method}`);
  }

  const writes = new Map<string, Uint8Array | null>();
  const base = task.snapshot ? new PackedEntries(task.snapshot) : undefined;
  const overlay = task.overlay ? new PackedEntries(task.overlay) : undefined;
  const fetched = new Map<string, Uint8Array | null>();
  const port = task.port;
  let seq = 0;
  const waiting = new Map<number, (r: PortReply) => void>();
  if (port) port.on('message', (r: PortReply) => { const w = waiting.get(r.seq); waiting.delete(r.seq); w?.(r); });
  const ask = (req: { get: string } | { scan: string }) =>
    new Promise<PortReply>((resolve) => {
      const s = ++seq;
      waiting.set(s, resolve);
      port!.postMessage({ seq: s, ...req });
    });

  /** The stored value (tag + payload) as this call sees it, or null when absent; undefined = must fetch. */
  const local = (key: string): Uint8Array | null | undefined => {
    if (writes.has(key)) return writes.get(key)!;
    const changed = overlay?.get(key);
    if (changed !== undefined) return changed;
    if (base) return base.get(key) ?? null;
    return fetched.has(key) ? fetched.get(key)! : undefined;
  };

  // The ctx ends with the call: a ctx kept by the module and used later gets an error.
  let live = true;
  let attemptedWrite = false;
  let settle!: (r: ExecResult) => void;
  const outcome = new Promise<ExecResult>((resolve) => { settle = resolve; });
  const ENDED = 'INVALID_ARGUMENT\u0000this ctx belongs to a call that has ended';

  /** Calls a realm callback; what it throws is the realm's own business, never the host's. */
  const callback = (cb: unknown, ...args: unknown[]) => {
    try {
      if (live && typeof cb === 'function') (cb as (...a: unknown[]) => void)(...args);
    } catch {
      // the callback is bootstrap code; an exception here can only come from a patched built-in
    }
  };

  const bridge = {
    type: task.type,
    id: task.id,
    get(key: unknown, cb: unknown): string {
      if (!live) return ENDED;
      try {
        if (typeof key !== 'string') return 'INVALID_ARGUMENT\u0000key must be a string';
        const answer = (v: Uint8Array | null) => {
          if (v === null || v.length === 0) return callback(cb, 0, undefined);
          if (v[0] === TAG_BYTES) return callback(cb, 2, v.length - 1);
          return callback(cb, 1, fromUtf8.decode(v.subarray(1)));
        };
        const v = local(key);
        if (v !== undefined) { answer(v); return ''; }
        ask({ get: key }).then((r) => {
          if (r.error) return callback(cb, 0, undefined, 'INTERNAL', r.error);
          const value = r.value ?? null;
          fetched.set(key, value);
          answer(value);
        }, (e: unknown) => callback(cb, 0, undefined, 'INTERNAL', messageOf(e)));
        return '';
      } catch (err) {
        return failureText('INTERNAL', err);
      }
    },
    copy(key: unknown, buf: unknown): string {
      if (!live) return ENDED;
      try {
        const v = typeof key === 'string' ? local(key) : undefined;
        if (v) Reflect.apply(hostU8Set, buf, [v.subarray(1)]);
        return '';
      } catch (err) {
        return failureText('INTERNAL', err);
      }
    },
    put(key: unknown, kind: unknown, value: unknown): string {
      if (!live) return ENDED;
      try {
        if (typeof key !== 'string' || key.length === 0 || key.includes('\u0000')) return 'INVALID_ARGUMENT\u0000entry keys must be non-empty strings without NUL';
        attemptedWrite = true;
        if (task.readonly) return `NOT_READONLY\u0000${task.type}.${task.method} is readonly and cannot write`;
        let stored: Uint8Array;
        if (kind === 1 && typeof value === 'string') {
          const body = utf8.encode(value);
          stored = new Uint8Array(body.length + 1);
          stored[0] = TAG_JSON;
          stored.set(body, 1);
        } else if (kind === 2) {
          // The host's constructor copies a (brand-checked) realm Uint8Array through its internal
          // slots; no property of the realm object is read.
          const src = new Uint8Array(value as Uint8Array);
          stored = new Uint8Array(src.length + 1);
          stored[0] = TAG_BYTES;
          stored.set(src, 1);
        } else {
          return 'INVALID_ARGUMENT\u0000value must be JSON or a Uint8Array';
        }
        if (stored.length - 1 > task.maxValueBytes) return `PAYLOAD_TOO_LARGE\u0000value of entry ${key} is ${stored.length - 1} bytes; the limit is ${task.maxValueBytes}`;
        writes.set(key, stored);
        return '';
      } catch (err) {
        return failureText('INVALID_ARGUMENT', err);
      }
    },
    del(key: unknown): string {
      if (!live) return ENDED;
      if (typeof key !== 'string') return 'INVALID_ARGUMENT\u0000key must be a string';
      attemptedWrite = true;
      if (task.readonly) return `NOT_READONLY\u0000${task.type}.${task.method} is readonly and cannot delete`;
      writes.set(key, null);
      return '';
    },
    scan(prefix: unknown, limit: unknown, cb: unknown): string {
      if (!live) return ENDED;
      try {
        if (typeof prefix !== 'string') return 'INVALID_ARGUMENT\u0000prefix must be a string';
        const max = typeof limit === 'number' && limit > 0 ? limit : 0;
        const finish = (baseKeys: Iterable<string>) => {
          const keys = new Set<string>();
          for (const k of baseKeys) if (k.startsWith(prefix)) keys.add(k);
          for (const [k, v] of writes) {
            if (!k.startsWith(prefix)) continue;
            if (v === null) keys.delete(k);
            else keys.add(k);
          }
          let sorted = [...keys].sort();
          if (max > 0) sorted = sorted.slice(0, max);
          callback(cb, sorted.join('\u0000'));
        };
        if (base) {
          const keys = new Set<string>();
          for (const [k] of base.keys()) keys.add(k);
          if (overlay) for (const [k, deleted] of overlay.keys()) { if (deleted) keys.delete(k); else keys.add(k); }
          finish(keys);
          return '';
        }
        ask({ scan: prefix }).then((r) => {
          if (r.error) return callback(cb, '', 'INTERNAL', r.error);
          finish(r.keys ?? []);
        }, (e: unknown) => callback(cb, '', 'INTERNAL', messageOf(e)));
        return '';
      } catch (err) {
        return failureText('INTERNAL', err);
      }
    },
    done(kind: unknown, payload: unknown, code: unknown, message: unknown): void {
      if (!live) return;
      live = false;
      try {
        const result = outcomeOf(task, kind, payload, code, message, attemptedWrite);
        if (result.ok) result.writes = [...writes];
        settle(result);
      } catch (err) {
        settle(failure('METHOD_FAILED', `${task.type}.${task.method}: ${messageOf(err)}`));
      }
    },
  };

  try {
    if (task.argsEncoding === ENCODING.RAW) {
      const b = realm.bytes(task.args.length);
      Reflect.apply(hostU8Set, b, [task.args]);
      realm.run(task.type, task.method, bridge, undefined, b);
    } else {
      realm.run(task.type, task.method, bridge, task.args.length === 0 ? '[]' : fromUtf8.decode(task.args), undefined);
    }
  } catch {
    // run() reports through done(); reaching here means a patched built-in broke the bootstrap
    bridge.done(OUTCOME.ERROR, false, '', 'the method could not be started');
  }
  try {
    return await outcome;
  } finally {
    live = false;
    port?.close();
  }
}

/** Turns what the realm reported into a result; never trusts the realm's values beyond primitives. */
function outcomeOf(task: ExecTask, kind: unknown, payload: unknown, code: unknown, message: unknown, attemptedWrite: boolean): ExecResult {
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  if (kind === OUTCOME.BAD_ARGS) return failure('INVALID_ARGUMENT', text(message));
  if (kind === OUTCOME.ERROR) {
    const c = text(code);
    const m = text(message);
    if (payload === true && APP_CODE_PATTERN.test(c) && !isSystemCode(c)) return failure(c, m);
    if (c === 'NOT_READONLY' || c === 'PAYLOAD_TOO_LARGE' || c === 'INVALID_ARGUMENT') return failure(c, m);
    return failure('METHOD_FAILED', `${task.type}.${task.method} threw: ${m}`);
  }
  // A readonly method that tried to write fails, even if it caught the error itself.
  if (task.readonly && attemptedWrite) return failure('NOT_READONLY', `${task.type}.${task.method} is readonly and tried to write`);
  if (kind === OUTCOME.BYTES) return { ok: true, writes: [], result: new Uint8Array(payload as Uint8Array), resultEncoding: ENCODING.RAW };
  if (kind === OUTCOME.JSON) return { ok: true, writes: [], result: utf8.encode(text(payload)), resultEncoding: ENCODING.JSON };
  return { ok: true, writes: [], result: new Uint8Array(0), resultEncoding: ENCODING.JSON };
}
