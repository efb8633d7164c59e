/**
 * Runs inside a Piscina worker thread: loads a type module into its sandbox realm (once per module
 * per thread), builds the method's ctx over the shipped snapshot, runs the method, and returns the
 * buffered writes. Nothing here touches the store: the main thread validates and commits.
 */
import { readFile } from 'node:fs/promises';
import { loadModule, type LoadedModule } from '@lambdastore/sdk/runtime';
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
  const fn = realm.method(task.type, task.method);
  if (!fn) {
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

  const bridge = {
    type: task.type,
    id: task.id,
    get(key: string, cb: (kind: number, payload: unknown, code?: string, msg?: string) => void) {
      const answer = (v: Uint8Array | null) => {
        if (v === null || v.length === 0) return cb(0, undefined);
        if (v[0] === TAG_BYTES) return cb(2, v.length - 1);
        return cb(1, fromUtf8.decode(v.subarray(1)));
      };
      const v = local(key);
      if (v !== undefined) { answer(v); return; }
      ask({ get: key }).then((r) => {
        if (r.error) return cb(0, undefined, 'INTERNAL', r.error);
        const value = r.value ?? null;
        fetched.set(key, value);
        answer(value);
      }, (e: Error) => cb(0, undefined, 'INTERNAL', e.message));
    },
    copy(key: string, buf: Uint8Array) {
      const v = local(key);
      if (v) buf.set(v.subarray(1, 1 + buf.length));
    },
    put(key: string, kind: number, value: string | Uint8Array): string {
      if (task.readonly) return `NOT_READONLY\u0000${task.type}.${task.method} is readonly and cannot write`;
      let stored: Uint8Array;
      if (kind === 1) {
        const body = utf8.encode(value as string);
        stored = new Uint8Array(body.length + 1);
        stored[0] = TAG_JSON;
        stored.set(body, 1);
      } else {
        const src = value as Uint8Array;
        stored = new Uint8Array(src.length + 1);
        stored[0] = TAG_BYTES;
        stored.set(src, 1);
      }
      if (stored.length - 1 > task.maxValueBytes) return `PAYLOAD_TOO_LARGE\u0000value of entry ${key} is ${stored.length - 1} bytes; the limit is ${task.maxValueBytes}`;
      if (key.length === 0 || key.includes('\u0000')) return `INVALID_ARGUMENT\u0000entry keys must be non-empty and contain no NUL`;
      writes.set(key, stored);
      return '';
    },
    del(key: string): string {
      if (task.readonly) return `NOT_READONLY\u0000${task.type}.${task.method} is readonly and cannot delete`;
      writes.set(key, null);
      return '';
    },
    scan(prefix: string, limit: number, cb: (keys: string, code?: string, msg?: string) => void) {
      const finish = (base: Iterable<string>) => {
        const keys = new Set<string>();
        for (const k of base) if (k.startsWith(prefix)) keys.add(k);
        for (const [k, v] of writes) {
          if (!k.startsWith(prefix)) continue;
          if (v === null) keys.delete(k);
          else keys.add(k);
        }
        let sorted = [...keys].sort();
        if (limit > 0) sorted = sorted.slice(0, limit);
        cb(sorted.join('\u0000'));
      };
      if (base) {
        const keys = new Set<string>();
        for (const [k] of base.keys()) keys.add(k);
        if (overlay) for (const [k, deleted] of overlay.keys()) { if (deleted) keys.delete(k); else keys.add(k); }
        finish(keys);
        return;
      }
      ask({ scan: prefix }).then((r) => {
        if (r.error) return cb('', 'INTERNAL', r.error);
        finish(r.keys ?? []);
      }, (e: Error) => cb('', 'INTERNAL', e.message));
    },
  };

  let args: unknown[];
  try {
    if (task.argsEncoding === ENCODING.RAW) {
      const b = realm.bytes(task.args.length);
      b.set(task.args);
      args = [b];
    } else {
      // Parse inside the realm so argument objects carry no host prototypes.
      const parsed = realm.parse(task.args.length === 0 ? '[]' : fromUtf8.decode(task.args));
      if (!Array.isArray(parsed)) return failure('INVALID_ARGUMENT', 'arguments must be a JSON array');
      args = parsed;
    }
  } catch (err) {
    return failure('INVALID_ARGUMENT', `arguments are not valid JSON: ${realm.describeError(err)[1]}`);
  }

  try {
    const ctx = realm.makeCtx(bridge);
    const value = await fn(ctx, ...args);
    return { ok: true, writes: [...writes], ...encodeRealmResult(realm, value) };
  } catch (err) {
    const [code, message, isApp] = realm.describeError(err);
    if (isApp && APP_CODE_PATTERN.test(code) && !isSystemCode(code)) return failure(code, message);
    if (code === 'NOT_READONLY' || code === 'PAYLOAD_TOO_LARGE' || code === 'INVALID_ARGUMENT') return failure(code, message);
    return failure('METHOD_FAILED', `${task.type}.${task.method} threw: ${message}`);
  } finally {
    port?.close();
  }
}

function encodeRealmResult(realm: LoadedModule['realm'], value: unknown): { result: Uint8Array; resultEncoding: number } {
  if (realm.isBytes(value)) return { result: new Uint8Array(value as Uint8Array), resultEncoding: ENCODING.RAW };
  const text = value === undefined ? undefined : realm.stringify(value);
  return { result: text === undefined ? new Uint8Array(0) : utf8.encode(text), resultEncoding: ENCODING.JSON };
}
