/**
 * Runs inside a Piscina worker thread: loads type modules into their sandbox realms (once per
 * module per thread), builds each method's ctx over the shipped snapshot, runs the method, and
 * returns the buffered writes. Nothing here touches the store: the main thread validates and commits.
 *
 * A call's chain (`ctx.invoke`) runs here too when the callee lives on this worker: the main thread
 * ships the callee object's snapshot over the worker's BroadcastChannel and the callee runs inline,
 * in this thread, as part of the same transaction. Every object the chain touches has one view (its
 * snapshot plus the chain's own writes), so a second call on an object sees the first one's writes.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { loadModule, OUTCOME, type LoadedModule } from '@lambdastore/sdk/runtime';
import { ENCODING, APP_CODE_PATTERN, isSystemCode } from '@lambdastore/proto';
import { PackedEntries } from './snapshot.js';
import type { ExecError, ExecResult, ExecTask, NestedCallTiming, ObjectPart, OpenReply, OpenRequest, PortReply, ThreadBatch } from './task.js';

const modules = new Map<string, Promise<LoadedModule>>();
const TAG_JSON = 1;
const TAG_BYTES = 2;
/** Calls nested deeper than this fail: almost surely unbounded recursion. */
const MAX_DEPTH = 16;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function moduleFor(moduleId: string, modulePath: string, label: string): Promise<LoadedModule> {
  let m = modules.get(moduleId);
  if (!m) {
    m = readFile(modulePath, 'utf8').then((src) => loadModule(src, { filename: `${label}@${moduleId}.js`, timeoutMs: 1000 }));
    modules.set(moduleId, m);
    m.catch(() => modules.delete(moduleId));
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

// ---- the channel to the main thread (only used by chains) -------------------------------------

let channel: BroadcastChannel | undefined;
let openSeq = 0;
const openWaiters = new Map<number, (r: OpenReply) => void>();

/** Wall-clock ms with sub-ms precision, comparable with the main thread's span times. */
const nowMs = () => performance.timeOrigin + performance.now();

type TraceInfo = { method: string; trace: Record<string, string>; tag: number } | undefined;

function openObject(channelName: string, type: string, id: string, create: boolean, traced: TraceInfo): Promise<OpenReply> {
  if (!channel) {
    channel = new BroadcastChannel(channelName);
    channel.unref();
    channel.onmessage = (ev: unknown) => {
      const r = (ev as { data: OpenReply }).data;
      if (r?.kind !== 'opened' || r.thread !== threadId) return;
      const w = openWaiters.get(r.seq);
      openWaiters.delete(r.seq);
      w?.(r);
    };
  }
  const seq = ++openSeq;
  return new Promise((resolve) => {
    openWaiters.set(seq, resolve);
    const req: OpenRequest = traced ? { kind: 'open', thread: threadId, seq, type, id, create, ...traced } : { kind: 'open', thread: threadId, seq, type, id, create };
    channel!.postMessage(req);
  });
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

/** One object as the chain sees it: its snapshot and the chain's writes on top. */
interface View {
  type: string;
  id: string;
  base: PackedEntries | undefined;
  overlay: PackedEntries | undefined;
  writes: Map<string, Uint8Array | null>;
  seenVersion: number;
  /** Entries read, for validation per entry set; undefined once the call scanned (it read them all). */
  reads: Set<string> | undefined;
  /** Created by this chain (ctx.create). */
  create: boolean;
  /** Values fetched on demand (objects too large to ship), and the fetch itself. */
  fetched: Map<string, Uint8Array | null>;
  ask: ((req: { get: string } | { scan: string }) => Promise<PortReply>) | undefined;
}

/** What one call returns to its caller. */
type CallOutcome =
  | { ok: true; kind: number; text: string; bytes: Uint8Array | undefined }
  | { ok: false; error: ExecError };

export async function execute(task: ExecTask): Promise<ExecResult> {
  const startedMs = task.trace ? nowMs() : 0;
  const result = await executeTask(task);
  if (task.trace) result.startedMs = startedMs;
  return result;
}

async function executeTask(task: ExecTask): Promise<ExecResult> {
  let mod: LoadedModule;
  try {
    mod = await moduleFor(task.moduleId, task.modulePath, task.type);
  } catch (err) {
    return failure('TYPE_NOT_LOADED', `cannot load module of ${task.type}: ${(err as Error).message}`);
  }
  if (!mod.realm.has(task.type, task.method)) {
    if (task.create) return { ok: true, writes: [] }; // no init: an empty object
    return failure('UNKNOWN_METHOD', `${task.type} has no method ${task.method}`);
  }
  const chain = new Chain(task);
  try {
    const root = chain.rootView();
    const args = task.argsEncoding === ENCODING.RAW
      ? { bytes: task.args }
      : { json: task.args.length === 0 ? '[]' : fromUtf8.decode(task.args) };
    const out = await chain.call(root, mod, task.type, task.method, task.readonly, args, 0, task.trace);
    if (chain.failure) return chain.timed({ ok: false, error: chain.failure });
    if (!out.ok) return chain.timed({ ok: false, error: out.error });
    const result: ExecResult = {
      ok: true,
      writes: [...root.writes],
      result: out.kind === OUTCOME.BYTES ? out.bytes! : out.kind === OUTCOME.JSON ? utf8.encode(out.text) : new Uint8Array(0),
      resultEncoding: out.kind === OUTCOME.BYTES ? ENCODING.RAW : ENCODING.JSON,
    };
    if (task.trackReads && root.reads) result.reads = [...root.reads];
    const parts = chain.parts();
    if (parts.length > 0) result.parts = parts;
    return chain.timed(result);
  } finally {
    chain.close();
  }
}

/** The calls of one transaction in this thread. */
class Chain {
  private readonly views = new Map<string, View>();
  /** The first failure of any call in the chain: it aborts the chain even if a caller caught it. */
  failure: ExecError | undefined;
  /** Traced chains: when each nested call ended (the main thread made its span when it started). */
  private readonly timings: NestedCallTiming[] = [];

  constructor(private readonly task: ExecTask) {}

  rootView(): View {
    const t = this.task;
    const view = this.newView(t.type, t.id, t.snapshot, t.overlay, 0);
    const port = t.port;
    if (port) {
      let seq = 0;
      const waiting = new Map<number, (r: PortReply) => void>();
      port.on('message', (r: PortReply) => { const w = waiting.get(r.seq); waiting.delete(r.seq); w?.(r); });
      view.ask = (req) => new Promise<PortReply>((resolve) => {
        const s = ++seq;
        waiting.set(s, resolve);
        port.postMessage({ seq: s, ...req });
      });
    }
    this.views.set(`${t.type}\u0000${t.id}`, view);
    return view;
  }

  private newView(type: string, id: string, snapshot: SharedArrayBuffer | undefined, overlay: SharedArrayBuffer | undefined, version: number): View {
    return {
      type,
      id,
      base: snapshot ? new PackedEntries(snapshot) : undefined,
      overlay: overlay ? new PackedEntries(overlay) : undefined,
      writes: new Map(),
      seenVersion: version,
      reads: new Set(),
      create: false,
      fetched: new Map(),
      ask: undefined,
    };
  }

  /** Objects other than the root that the chain touched. */
  parts(): ObjectPart[] {
    const rootKey = `${this.task.type}\u0000${this.task.id}`;
    return [...this.views].filter(([k]) => k !== rootKey).map(([, v]) => {
      const part: ObjectPart = { type: v.type, id: v.id, seenVersion: v.seenVersion, writes: [...v.writes] };
      if (v.reads) part.reads = [...v.reads];
      if (v.create) part.create = true;
      return part;
    });
  }

  close(): void {
    this.task.port?.close();
  }

  /** Adds the nested calls' timings to a traced task's result. */
  timed(result: ExecResult): ExecResult {
    if (this.timings.length > 0) result.calls = this.timings;
    return result;
  }

  private fail(error: ExecError): void {
    this.failure ??= error;
  }

  /** Runs one method on one object view; resolves with its outcome, never rejects. */
  call(view: View, mod: LoadedModule, type: string, method: string, readonly: boolean, args: { json?: string; bytes?: Uint8Array }, depth: number, trace: Record<string, string> | undefined): Promise<CallOutcome> {
    const task = this.task;
    const realm = mod.realm;
    const local = (key: string): Uint8Array | null | undefined => {
      if (view.writes.has(key)) return view.writes.get(key)!;
      const changed = view.overlay?.get(key);
      if (changed !== undefined) return changed;
      if (view.base) return view.base.get(key) ?? null;
      return view.fetched.has(key) ? view.fetched.get(key)! : undefined;
    };

    // The ctx ends with the call: a ctx kept by the module and used later gets an error.
    let live = true;
    let attemptedWrite = false;
    let settle!: (r: CallOutcome) => void;
    const outcome = new Promise<CallOutcome>((resolve) => { settle = resolve; });
    const ENDED = 'INVALID_ARGUMENT\u0000this ctx belongs to a call that has ended';

    /** Calls a realm callback; what it throws is the realm's own business, never the host's. */
    const callback = (cb: unknown, ...cbArgs: unknown[]) => {
      try {
        if (live && typeof cb === 'function') (cb as (...a: unknown[]) => void)(...cbArgs);
      } catch {
        // the callback is bootstrap code; an exception here can only come from a patched built-in
      }
    };

    const bridge = {
      type,
      id: view.id,
      get(key: unknown, cb: unknown): string {
        if (!live) return ENDED;
        try {
          if (typeof key !== 'string') return 'INVALID_ARGUMENT\u0000key must be a string';
          view.reads?.add(key);
          const answer = (v: Uint8Array | null) => {
            if (v === null || v.length === 0) return callback(cb, 0, undefined);
            if (v[0] === TAG_BYTES) return callback(cb, 2, v.length - 1);
            return callback(cb, 1, fromUtf8.decode(v.subarray(1)));
          };
          const v = local(key);
          if (v !== undefined) { answer(v); return ''; }
          if (!view.ask) return 'INTERNAL\u0000no way to read this object';
          view.ask({ get: key }).then((r) => {
            if (r.error) return callback(cb, 0, undefined, 'INTERNAL', r.error);
            const value = r.value ?? null;
            view.fetched.set(key, value);
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
          if (readonly) return `NOT_READONLY\u0000${type}.${method} is readonly and cannot write`;
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
          view.writes.set(key, stored);
          return '';
        } catch (err) {
          return failureText('INVALID_ARGUMENT', err);
        }
      },
      del(key: unknown): string {
        if (!live) return ENDED;
        if (typeof key !== 'string') return 'INVALID_ARGUMENT\u0000key must be a string';
        attemptedWrite = true;
        if (readonly) return `NOT_READONLY\u0000${type}.${method} is readonly and cannot delete`;
        view.writes.set(key, null);
        return '';
      },
      scan(prefix: unknown, limit: unknown, cb: unknown): string {
        if (!live) return ENDED;
        try {
          if (typeof prefix !== 'string') return 'INVALID_ARGUMENT\u0000prefix must be a string';
          view.reads = undefined; // a predicate read: it conflicts with any write of the object
          const max = typeof limit === 'number' && limit > 0 ? limit : 0;
          const finish = (baseKeys: Iterable<string>) => {
            const keys = new Set<string>();
            for (const k of baseKeys) if (k.startsWith(prefix)) keys.add(k);
            for (const [k, v] of view.writes) {
              if (!k.startsWith(prefix)) continue;
              if (v === null) keys.delete(k);
              else keys.add(k);
            }
            let sorted = [...keys].sort();
            if (max > 0) sorted = sorted.slice(0, max);
            callback(cb, sorted.join('\u0000'));
          };
          if (view.base) {
            const keys = new Set<string>();
            for (const [k] of view.base.keys()) keys.add(k);
            if (view.overlay) for (const [k, deleted] of view.overlay.keys()) { if (deleted) keys.delete(k); else keys.add(k); }
            finish(keys);
            return '';
          }
          if (!view.ask) return 'INTERNAL\u0000no way to read this object';
          view.ask({ scan: prefix }).then((r) => {
            if (r.error) return callback(cb, '', 'INTERNAL', r.error);
            finish(r.keys ?? []);
          }, (e: unknown) => callback(cb, '', 'INTERNAL', messageOf(e)));
          return '';
        } catch (err) {
          return failureText('INTERNAL', err);
        }
      },
      invoke: (calleeType: unknown, calleeId: unknown, calleeMethod: unknown, argsJson: unknown, argsBytes: unknown, cb: unknown, create: unknown): string => {
        if (!live) return ENDED;
        if (typeof calleeType !== 'string' || typeof calleeId !== 'string' || typeof calleeMethod !== 'string') return 'INVALID_ARGUMENT\u0000ctx.invoke({ type, id }, method, ...args): type, id and method must be strings';
        if (depth + 1 >= MAX_DEPTH) return `INVALID_ARGUMENT\u0000call chain deeper than ${MAX_DEPTH}`;
        let callArgs: { json?: string; bytes?: Uint8Array };
        try {
          callArgs = typeof argsJson === 'string' ? { json: argsJson } : { bytes: new Uint8Array(argsBytes as Uint8Array) };
        } catch (err) {
          return failureText('INVALID_ARGUMENT', err);
        }
        this.invoke(calleeType, calleeId, calleeMethod, readonly, callArgs, depth + 1, create === true, trace).then((out) => {
          if (!out.ok) return callback(cb, OUTCOME.ERROR, '', out.error.code, out.error.message);
          if (out.kind === OUTCOME.BYTES) return callback(cb, OUTCOME.BYTES, Buffer.from(out.bytes!).toString('latin1'));
          return callback(cb, out.kind, out.text);
        });
        return '';
      },
      done(kind: unknown, payload: unknown, code: unknown, message: unknown): void {
        if (!live) return;
        live = false;
        try {
          settle(outcomeOf(type, method, readonly, kind, payload, code, message, attemptedWrite));
        } catch (err) {
          settle({ ok: false, error: { code: 'METHOD_FAILED', message: `${type}.${method}: ${messageOf(err)}` } });
        }
      },
    };

    try {
      if (args.bytes !== undefined) {
        const b = realm.bytes(args.bytes.length);
        Reflect.apply(hostU8Set, b, [args.bytes]);
        realm.run(type, method, bridge, undefined, b);
      } else {
        realm.run(type, method, bridge, args.json ?? '[]', undefined);
      }
    } catch {
      // run() reports through done(); reaching here means a patched built-in broke the bootstrap
      bridge.done(OUTCOME.ERROR, false, '', 'the method could not be started');
    }
    return outcome.finally(() => { live = false; });
  }

  /** A nested call: opens the callee here (it must live on this worker) and runs it inline. */
  private async invoke(type: string, id: string, method: string, callerReadonly: boolean, args: { json?: string; bytes?: Uint8Array }, depth: number, create: boolean, trace: Record<string, string> | undefined): Promise<CallOutcome> {
    const outcome = await this.invokeChecked(type, id, method, callerReadonly, args, depth, create, trace);
    // A failed callee aborts the whole chain, even when its caller catches the error.
    if (!outcome.ok) this.fail(outcome.error);
    return outcome;
  }

  private async invokeChecked(type: string, id: string, method: string, callerReadonly: boolean, args: { json?: string; bytes?: Uint8Array }, depth: number, create: boolean, trace: Record<string, string> | undefined): Promise<CallOutcome> {
    const key = `${type}\u0000${id}`;
    if (create && this.views.has(key)) return { ok: false, error: { code: 'OBJECT_EXISTS', message: `${type} ${id} already exists` } };
    const tag = this.task.traceTag;
    const reply = await openObject(this.task.channel, type, id, create, trace && tag !== undefined ? { method, trace, tag } : undefined);
    if (!reply.trace) return this.opened(reply, type, id, method, callerReadonly, args, depth, create, undefined);
    // Traced: the main thread started this call's span at the open; it ends when the call does.
    const out = await this.opened(reply, type, id, method, callerReadonly, args, depth, create, reply.trace);
    this.timings.push(out.ok ? { seq: reply.seq, endMs: nowMs() } : { seq: reply.seq, endMs: nowMs(), error: out.error.code });
    return out;
  }

  private async opened(reply: OpenReply, type: string, id: string, method: string, callerReadonly: boolean, args: { json?: string; bytes?: Uint8Array }, depth: number, create: boolean, trace: Record<string, string> | undefined): Promise<CallOutcome> {
    const key = `${type}\u0000${id}`;
    if (reply.error) return { ok: false, error: reply.error };
    const info = create ? { name: method, readonly: false, timeoutMs: 0 } : reply.methods?.find((m) => m.name === method);
    if (!info) return { ok: false, error: { code: 'UNKNOWN_METHOD', message: `${type} has no method ${method}` } };
    if (callerReadonly && !info.readonly) {
      return { ok: false, error: { code: 'NOT_READONLY', message: `a readonly method cannot ${create ? 'create' : 'call'} ${type}${create ? ` ${id}` : `.${method}`}, which may write` } };
    }
    let mod: LoadedModule;
    try {
      mod = await moduleFor(reply.moduleId!, reply.modulePath!, type);
    } catch (err) {
      return { ok: false, error: { code: 'TYPE_NOT_LOADED', message: `cannot load module of ${type}: ${messageOf(err)}` } };
    }
    let view = this.views.get(key);
    if (!view) {
      view = this.newView(type, id, reply.snapshot, reply.overlay, reply.version ?? 0);
      view.create = create;
      this.views.set(key, view);
    }
    // A type without init creates an empty object.
    if (create && !mod.realm.has(type, method)) return { ok: true, kind: OUTCOME.UNDEFINED, text: '', bytes: undefined };
    return this.call(view, mod, type, method, info.readonly, args, depth, trace);
  }
}

/** Turns what the realm reported into an outcome; never trusts the realm's values beyond primitives. */
function outcomeOf(type: string, method: string, readonly: boolean, kind: unknown, payload: unknown, code: unknown, message: unknown, attemptedWrite: boolean): CallOutcome {
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  const err = (c: string, m: string): CallOutcome => ({ ok: false, error: { code: c, message: m } });
  if (kind === OUTCOME.BAD_ARGS) return err('INVALID_ARGUMENT', text(message));
  if (kind === OUTCOME.ERROR) {
    const c = text(code);
    const m = text(message);
    if (payload === true && APP_CODE_PATTERN.test(c) && !isSystemCode(c)) return err(c, m);
    // Codes the platform itself raised inside the chain keep their meaning.
    if (isSystemCode(c) && c !== 'INTERNAL') return err(c, m);
    return err('METHOD_FAILED', `${type}.${method} threw: ${m}`);
  }
  // A readonly method that tried to write fails, even if it caught the error itself.
  if (readonly && attemptedWrite) return err('NOT_READONLY', `${type}.${method} is readonly and tried to write`);
  if (kind === OUTCOME.BYTES) return { ok: true, kind: OUTCOME.BYTES, text: '', bytes: new Uint8Array(payload as Uint8Array) };
  if (kind === OUTCOME.JSON) return { ok: true, kind: OUTCOME.JSON, text: text(payload), bytes: undefined };
  return { ok: true, kind: OUTCOME.UNDEFINED, text: '', bytes: undefined };
}
