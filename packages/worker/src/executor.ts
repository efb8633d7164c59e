/**
 * One call, start to finish, on the worker that serves the object's shard:
 *
 *   dedup check -> load object -> run the method in a thread (snapshot shipped along) ->
 *   validate (OCC) and apply in memory -> queue the commit record (writes + meta + dedup record)
 *   -> reply once the record is durable.
 *
 * Aborted attempts (the object changed underneath) re-run with backoff up to maxTxnAttempts.
 * Every failure becomes an error response with a stable code; this never throws.
 */
import { BroadcastChannel, MessageChannel, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { randomUUID, createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { context, trace, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import {
  lambdastore,
  LambdaStoreError,
  asLambdaStoreError,
  errorResponse,
  errorFromWire,
  checkObjectId,
  TYPE_NAME_PATTERN,
  METHOD_NAME_PATTERN,
  SPAN_ATTRS,
  SPAN_NAMES,
  type Subjects,
  type WorkerMetrics,
} from '@lambdastore/proto';
import type { Store, CommitRecord } from '@lambdastore/storage';
import { LockTable, commitOcc, retryBackoffMs, unchangedSince, type LayoutDecision, type ReadSet, type ReadStamp } from '@lambdastore/txn';
import { EMPTY_SNAPSHOT, copyBytes } from './snapshot.js';
import { ObjectCache, objectCacheKey, entryOf, keysOf, type CachedObject } from './objects.js';
import type { ModuleFiles } from './modules.js';
import type { TaskDispatcher } from './dispatch.js';
import { TwoPhase, type LocalPart, type Transport } from './twophase.js';
import type { ResolvedWorkerOptions } from './options.js';
import type { ExecResult, ExecTask, ObjectPart, OpenReply, OpenRequest, PortRequest, PortReply } from './task.js';
import { CallSpans, tracer } from './call-spans.js';
import { chainHop } from './chain-hop.js';

const INIT = 'init';

export interface ExecutorDeps {
  options: ResolvedWorkerOptions;
  store: Store;
  cache: ObjectCache;
  dispatcher: TaskDispatcher;
  modules: ModuleFiles;
  /** Current deployed type by name. */
  typeInfo: (name: string) => lambdastore.ITypeInfo | undefined;
  /** True when this worker serves the object's shard. */
  serves: (type: string, id: string) => boolean;
  /** The object's shard under the current map (undefined without a map). */
  shardFor: (type: string, id: string) => number | undefined;
  /** The worker serving a shard (head of its chain). */
  ownerOf: (shard: number) => string | undefined;
  /** Resolves once this worker is confirmed head of the object's chain after the read began (strict reads). */
  confirmHead?: (ref: { type: string; id: string }) => Promise<void>;
  /** NATS requests to other workers (two-phase commit). */
  transport: Transport;
  subjects: Subjects;
  /** Called when memory and disk may have diverged (a durable write failed): the worker must stop. */
  onFatal: (err: Error) => void;
  /** Notable events (a method aborted, a thread lost), one line each. */
  log: (line: string) => void;
  metrics: WorkerMetrics;
  /** The epoch of a shard's chain under the current map (span attribute). */
  epochOf: (shard: number) => number | undefined;
  /** The head's successor in a shard's chain (undefined: no chain beyond this worker). */
  successorOf?: (shard: number) => string | undefined;
}

export interface ExecutorStats {
  calls: number;
  commits: number;
  conflicts: number;
  timeouts: number;
  inflight: number;
  /** Objects split into one entry set per entry, and merged back into one set. */
  entrySetSplits: number;
  entrySetMerges: number;
}

type Outcome = {
  response: lambdastore.InvokeResponse;
  bytes?: Uint8Array;
  /** Resolves when the call's commit is durable; the reply waits for it. */
  durable?: Promise<void>;
};

export class Executor {
  readonly locks = new LockTable();
  /** Why the latest attempt of any chain aborted, for the message of a final TXN_ABORTED. */
  private lastAbort: string | undefined;
  private readonly inflightByKey = new Map<string, { outcome: Promise<Outcome>; fingerprint: Uint8Array }>();
  readonly stats: ExecutorStats = { calls: 0, commits: 0, conflicts: 0, timeouts: 0, inflight: 0, entrySetSplits: 0, entrySetMerges: 0 };

  private readonly channel: BroadcastChannel;
  private readonly channelName: string;

  readonly twoPhase: TwoPhase;
  private readonly callSpans = new CallSpans();

  constructor(private readonly d: ExecutorDeps) {
    this.twoPhase = new TwoPhase({ store: d.store, cache: d.cache, locks: this.locks, subjects: d.subjects, transport: d.transport, log: d.log, onFatal: d.onFatal });
    // Threads ask here about the objects a chain calls (ctx.invoke); one channel per worker process.
    this.channelName = `lambdastore-open-${process.pid}-${randomUUID()}`;
    this.channel = new BroadcastChannel(this.channelName);
    this.channel.unref();
    this.channel.onmessage = (ev: unknown) => {
      const req = (ev as { data: OpenRequest }).data;
      if (req?.kind === 'open') void this.answerOpen(req);
    };
  }

  close(): void {
    this.channel.close();
    this.twoPhase.close();
  }

  /** A chain's thread wants a callee object: its snapshot, version and code (this worker only). */
  private async answerOpen(req: OpenRequest): Promise<void> {
    const traced = req.trace ? this.callSpans.startNested(req, { [SPAN_ATTRS.type]: req.type, [SPAN_ATTRS.objectId]: req.id }) : undefined;
    let reply: OpenReply;
    try {
      reply = await this.open(req, traced?.ctx);
    } catch (err) {
      const e = asLambdaStoreError(err);
      if (traced) this.callSpans.failNested(req, e.code);
      reply = { kind: 'opened', thread: req.thread, seq: req.seq, error: { code: e.code, message: e.message } };
    }
    if (traced) reply.trace = traced.carrier;
    this.channel.postMessage(reply);
  }

  private async open(req: OpenRequest, traceCtx: Context | undefined): Promise<OpenReply> {
    const { type, id } = req;
    if (typeof type !== 'string' || !TYPE_NAME_PATTERN.test(type)) throw new LambdaStoreError('INVALID_ARGUMENT', `invalid type name ${JSON.stringify(type)}`);
    const idProblem = checkObjectId(id);
    if (idProblem) throw new LambdaStoreError('INVALID_ARGUMENT', idProblem);
    const info = this.d.typeInfo(type);
    if (!info) throw new LambdaStoreError('UNKNOWN_TYPE', `no type ${type} has been deployed`);
    const modulePath = await this.d.modules.path(info.moduleId ?? '');
    const methods = (info.methods ?? []).map((m) => ({ name: m.name ?? '', readonly: !!m.readonly, timeoutMs: m.timeoutMs ?? 0 }));
    const create = req.create === true;
    if (this.d.serves(type, id)) await this.locks.whenFree(objectCacheKey({ type, id }), LOCK_WAIT_MS);
    if (!this.d.serves(type, id)) {
      // Served elsewhere: read it from its owner; the commit goes through two-phase commit.
      const shard = this.d.shardFor(type, id);
      if (shard === undefined) throw new LambdaStoreError('NO_WORKERS', 'the cluster has no shard map yet', { retryAfterMs: 200 });
      let raw: Uint8Array;
      try {
        raw = await this.d.transport.request(this.d.subjects.shardTxn(shard, 'snapshot'), lambdastore.TxnSnapshotRequest.encode({ object: { type, id }, create }).finish(), remoteOpenTimeoutMs(req.deadlineMs), traceCtx);
      } catch (err) {
        throw new LambdaStoreError('SHARD_UNAVAILABLE', `shard ${shard} did not answer: ${(err as Error).message}`, { retryAfterMs: 250 });
      }
      const snap = lambdastore.TxnSnapshotResponse.decode(raw);
      if (!snap.ok) throw errorFromWire(snap.error);
      const reply: OpenReply = { kind: 'opened', thread: req.thread, seq: req.seq, modulePath, moduleId: info.moduleId ?? '', methods, version: Number(snap.version), snapshot: toShared(snap.snapshot) };
      if (snap.overlay && snap.overlay.length > 0) reply.overlay = toShared(snap.overlay);
      return reply;
    }
    const obj = await this.d.cache.get({ type, id });
    if (create) {
      if (obj || this.locks.holder(objectCacheKey({ type, id })) !== undefined) throw new LambdaStoreError('OBJECT_EXISTS', `${type} ${id} already exists (or is being created)`);
      return { kind: 'opened', thread: req.thread, seq: req.seq, modulePath, moduleId: info.moduleId ?? '', methods, version: 0, snapshot: EMPTY_SNAPSHOT };
    }
    if (!obj) throw new LambdaStoreError('OBJECT_NOT_FOUND', `${type} ${id} does not exist`);
    const snap = this.d.cache.snapshot(obj, this.d.options.shipObjectMaxBytes);
    if (!snap) throw new LambdaStoreError('NOT_SUPPORTED', `${type} ${id} is larger than shipObjectMaxBytes; such objects cannot be called through ctx.invoke yet`);
    const reply: OpenReply = { kind: 'opened', thread: req.thread, seq: req.seq, modulePath, moduleId: info.moduleId ?? '', methods, version: obj.version, snapshot: snap.base };
    if (snap.overlay) reply.overlay = snap.overlay;
    return reply;
  }

  /**
   * Runs a call; resolves with the response and, when available, its encoded bytes. `traceCtx` is
   * the caller's span context (passed explicitly: processes without the OTel SDK have no context
   * manager to carry it across awaits).
   */
  async invoke(req: lambdastore.IInvokeRequest, traceCtx?: Context, replica = false): Promise<Outcome> {
    this.stats.calls++;
    this.stats.inflight++;
    const startedMs = performance.now();
    let outcome: Outcome;
    try {
      outcome = await this.invokeChecked(req, traceCtx, replica);
    } catch (err) {
      if (err instanceof NeedsHead) throw err;
      outcome = { response: errorResponse(asLambdaStoreError(err)) };
    } finally {
      this.stats.inflight--;
    }
    const r = outcome.response;
    this.d.metrics.call(req.target?.type ?? '', req.target?.id ?? '', req.create ? INIT : req.method ?? '', r.ok ? 'ok' : r.error?.code ?? 'INTERNAL', performance.now() - startedMs);
    return outcome;
  }

  private async invokeChecked(req: lambdastore.IInvokeRequest, traceCtx: Context | undefined, replica: boolean): Promise<Outcome> {
    const type = req.target?.type ?? '';
    const id = req.target?.id ?? '';
    const create = !!req.create;
    if (!TYPE_NAME_PATTERN.test(type)) throw new LambdaStoreError('INVALID_ARGUMENT', `invalid type name ${JSON.stringify(type)}`);
    const idProblem = checkObjectId(id);
    if (idProblem) throw new LambdaStoreError('INVALID_ARGUMENT', idProblem);
    const info = this.d.typeInfo(type);
    if (!info) throw new LambdaStoreError('UNKNOWN_TYPE', `no type ${type} has been deployed`);
    let method = req.method ?? '';
    let readonly = false;
    let timeoutMs = this.d.options.defaultMethodTimeoutMs;
    if (create) {
      method = INIT;
    } else {
      if (!METHOD_NAME_PATTERN.test(method)) throw new LambdaStoreError('INVALID_ARGUMENT', `invalid method name ${JSON.stringify(method)}`);
      const m = info.methods?.find((x) => x.name === method);
      if (!m) throw new LambdaStoreError('UNKNOWN_METHOD', `${type} has no method ${method}`);
      readonly = !!m.readonly;
      if (m.timeoutMs) timeoutMs = Math.min(m.timeoutMs, this.d.options.maxMethodTimeoutMs);
    }
    if (replica && !readonly) throw new NeedsHead('the method writes');
    const ref = { type, id };
    const key = req.idempotencyKey ?? '';
    const call: Call = { ref, objKey: objectCacheKey(ref), method, create, readonly, timeoutMs, info, req, trace: traceCtx, attempt: 1, replica };
    if (readonly || key === '') return this.run(call, undefined);

    // Exactly-once: a duplicate in flight waits for the original; a finished one gets the stored reply.
    // Either must be the same call: a key reused for another method or other arguments is refused.
    const dedupKey = call.objKey + '\u0000' + key;
    const fingerprint = fingerprintOf(call);
    const running = this.inflightByKey.get(dedupKey);
    if (running) {
      if (!sameBytes(running.fingerprint, fingerprint)) throw keyReused(key);
      return running.outcome;
    }
    const p = (async () => {
      // A key minted for this very send cannot be stored yet: skip the read (it costs a LevelDB get).
      const stored = req.freshKey ? undefined : await this.d.store.getDedup(ref, key);
      if (stored) {
        if (!sameBytes(stored.fingerprint, fingerprint)) throw keyReused(key);
        return { response: lambdastore.InvokeResponse.decode(stored.response), bytes: stored.response };
      }
      return this.run(call, { key, fingerprint });
    })();
    this.inflightByKey.set(dedupKey, { outcome: p, fingerprint });
    try {
      return await p;
    } finally {
      this.inflightByKey.delete(dedupKey);
    }
  }

  private async run(call: Call, idempotencyKey: DedupKey | undefined): Promise<Outcome> {
    const modulePath = await this.d.modules.path(call.info.moduleId ?? '');
    let outcome: Outcome;
    if (call.readonly || this.d.cache.peek(call.objKey)?.sets.fine) {
      // Readers, and writers of an object split into entry sets, run side by side (OCC per set).
      outcome = await this.attempts(call, idempotencyKey, modulePath, false);
    } else {
      // The turn passes on once the commit is applied in memory; durability is waited for outside
      // it, so the next writer of the object runs while this commit's batch is being written.
      const turn = await this.d.dispatcher.writeTurn(call.objKey);
      try {
        outcome = await this.attempts(call, idempotencyKey, modulePath, turn.waited);
      } finally {
        turn.release();
      }
    }
    if (outcome.durable) await outcome.durable;
    return outcome;
  }

  /** `waited`: this writer had to wait for the object's write turn (coarse layout). */
  private async attempts(call: Call, idempotencyKey: DedupKey | undefined, modulePath: string, waited: boolean): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      call.attempt = attempt;
      // A transaction prepared on this object has committed or will soon be decided: read its
      // outcome, not the state before it (a caller that was told "committed" must see it).
      await this.locks.whenFree(call.objKey, LOCK_WAIT_MS);
      const obj = await this.d.cache.get(call.ref);
      if (call.create && obj) throw new LambdaStoreError('OBJECT_EXISTS', `${call.ref.type} ${call.ref.id} already exists`);
      if (!call.create && !obj) throw new LambdaStoreError('OBJECT_NOT_FOUND', `${call.ref.type} ${call.ref.id} does not exist`);
      const seenVersion = obj ? obj.version : 0;
      const writer = obj !== undefined && !call.readonly;
      if (writer && obj.sets.fine) this.relayout(obj, obj.policy?.starting(Date.now()));
      if (writer) obj.writersRunning++;
      let result: ExecResult;
      try {
        result = await this.execute(call, obj, modulePath);
      } finally {
        if (writer) obj.writersRunning--;
      }
      if (!result.ok) {
        const e = result.error!;
        throw new LambdaStoreError(e.code, e.message);
      }
      if ((result.result?.length ?? 0) > this.d.options.maxResultBytes) {
        throw new LambdaStoreError('PAYLOAD_TOO_LARGE', `result is ${result.result!.length} bytes; the limit is ${this.d.options.maxResultBytes}`);
      }
      const response = lambdastore.InvokeResponse.create({
        ok: true,
        result: result.result ?? new Uint8Array(0),
        resultEncoding: result.resultEncoding ?? 0,
      });
      const writes = result.writes ?? [];
      const parts = result.parts ?? [];
      const reads: ReadSet = result.reads ?? 'all';
      if (writer && obj.policy && !obj.sets.fine && waited && attempt === 1) {
        // Coarse: would this writer have conflicted with the writer just before it, had the two run
        // side by side (true contention), or did they only share the object (false)? Only the one
        // before, not the whole queue it waited behind: split writers overlap a few at a time (one
        // per method thread). See ARCHITECTURE.md, Entry sets.
        this.relayout(obj, obj.policy.waitedForTurn(wouldConflict(reads, writes, obj, seenVersion - 1), Date.now()));
      }
      // A replica serves reads of one object; a chain of calls reads its other objects at their heads.
      if (call.replica && parts.length > 0) throw new NeedsHead('the method calls other objects');
      const remote = parts.filter((p) => !this.d.serves(p.type, p.id));
      if (remote.length > 0) {
        const committed = await this.commitAcrossWorkers({ call, obj, seenVersion, reads, writes, parts, response, idempotencyKey });
        if (committed) return committed;
      } else if (call.readonly) {
        // A chain read several objects at different moments: it stands only if none of them moved
        // since (no locks needed: it writes nothing).
        const others = parts.map((p) => this.d.cache.peek(objectCacheKey(p)));
        const moved = parts.some((p, i) => !others[i] || !unchangedSince(others[i]!, { version: p.seenVersion, entries: p.reads })) || (parts.length > 0 && obj?.version !== seenVersion);
        if (moved) this.d.metrics.abort('VERSION_CHANGED');
        if (!moved) {
          // What it read may still be on its way to disk: answer only once it is durable.
          for (const o of [obj, ...others]) if (o?.durable) await o.durable;
          // A replica caught up with the head before the call began (worker: replica reads).
          if (!call.replica) await this.d.confirmHead?.(call.ref);
          response.objectVersion = seenVersion;
          return { response };
        }
      } else {
        const overlapped = writer && obj.sets.fine && (obj.writersRunning > 0 || obj.version !== seenVersion);
        const committed = this.commit({ call, obj, seenVersion, reads, writes, parts, response, idempotencyKey });
        if (writer && obj.sets.fine) this.relayout(obj, obj.policy?.attempted(overlapped, !committed, Date.now()));
        if (committed) return { ...committed.outcome, durable: committed.durable };
      }
      this.stats.conflicts++;
      if (attempt >= this.d.options.maxTxnAttempts) {
        const why = this.lastAbort ? `; last: ${this.lastAbort}` : '';
        throw new LambdaStoreError('TXN_ABORTED', `${call.ref.type} ${call.ref.id}: gave up after ${attempt} attempts that conflicted with concurrent transactions${why}`, { retryAfterMs: 10 });
      }
      this.d.metrics.retry();
      await new Promise((r) => setTimeout(r, retryBackoffMs(attempt)));
    }
  }

  /** Applies the adaptive policy's decision to an object (still in the cache) and counts it. */
  private relayout(obj: CachedObject, decision: LayoutDecision): void {
    if (!decision || this.d.cache.peek(obj.key) !== obj) return;
    obj.sets.relayout(decision === 'split', obj.version);
    obj.policy?.reset();
    obj.recentWrites.length = 0; // a fine object does not record them: the ring would have a gap
    if (decision === 'split') {
      this.stats.entrySetSplits++;
      this.d.metrics.entrySetSplits.add(1, { [SPAN_ATTRS.type]: obj.ref.type });
    } else {
      this.stats.entrySetMerges++;
      this.d.metrics.entrySetMerges.add(1, { [SPAN_ATTRS.type]: obj.ref.type });
    }
  }

  /** Validate and apply in memory (synchronously: atomic on this event loop), then queue durability. */
  private commit(done: Executed): { durable: Promise<void>; outcome: Outcome } | undefined {
    const { call, obj, seenVersion, reads, writes, parts, response, idempotencyKey } = done;
    const span = tracer.startSpan(SPAN_NAMES.commit, { attributes: { [SPAN_ATTRS.object]: call.objKey.replace('\u0000', '/'), [SPAN_ATTRS.writes]: writes.length, [SPAN_ATTRS.attempt]: call.attempt } }, call.trace);
    try {
      let target = obj;
      if (call.create) {
        if (this.d.cache.peek(call.objKey)) throw new LambdaStoreError('OBJECT_EXISTS', `${call.ref.type} ${call.ref.id} already exists`);
        if (this.locks.holder(call.objKey) !== undefined) return undefined; // a transaction is creating it
        target = this.d.cache.newObject(call.ref);
        this.d.cache.insert(target);
      }
      const t = target!;
      // The chain's other objects (ctx.invoke on this worker): all validated, all applied, one record.
      // Objects the chain creates must still not exist (nor be being created by someone else).
      const partObjects = parts.map((p) => {
        const key = objectCacheKey(p);
        if (!p.create) return this.d.cache.peek(key);
        return this.d.cache.peek(key) === undefined ? this.d.cache.newObject(p) : undefined;
      });
      if (partObjects.some((o) => o === undefined)) return undefined; // evicted, or created meanwhile: run again
      const writesOf = new Map<string, Array<[string, Uint8Array | null]>>([[t.key, writes]]);
      const writeSet = new Map<string, CachedObject>([[t.key, t]]);
      parts.forEach((p, i) => {
        if (p.writes.length === 0) return;
        const o = partObjects[i]!;
        writesOf.set(o.key, p.writes);
        writeSet.set(o.key, o);
      });
      const stamps: ReadStamp[] = [{ key: t.key, version: seenVersion, entries: reads }, ...parts.flatMap((p, i) => (p.create ? [] : [{ key: partObjects[i]!.key, version: p.seenVersion, entries: p.reads ?? 'all' as const }]))];
      parts.forEach((p, i) => {
        // a created object is written even when its init wrote nothing: its meta is its existence
        if (p.create && !writeSet.has(partObjects[i]!.key)) {
          writeSet.set(partObjects[i]!.key, partObjects[i]!);
          writesOf.set(partObjects[i]!.key, []);
        }
      });
      const versions = new Map<string, number>();
      const v = commitOcc(
        { owner: randomUUID(), reads: stamps, writes: writeSet },
        (k) => this.d.cache.peek(k),
        this.locks,
        (k, o, nv) => { this.d.cache.apply(o, writesOf.get(k)!, nv); versions.set(k, nv); },
      );
      if (v.ok) {
        parts.forEach((p, i) => { if (p.create) this.d.cache.insert(partObjects[i]!); });
      }
      if (!v.ok) {
        span.setAttribute(SPAN_ATTRS.abortReason, v.reason);
        this.d.metrics.abort(v.reason);
        this.lastAbort = `${v.reason === 'LOCKED' ? 'locked by another transaction' : v.reason === 'MISSING' ? 'no longer in memory' : 'changed since read'}: ${v.key.replace('\u0000', ' ')}`;
        return undefined;
      }
      const newVersion = versions.get(t.key)!;
      response.objectVersion = newVersion;
      const bytes = lambdastore.InvokeResponse.encode(response).finish();
      const rec: CommitRecord = {
        changes: [...writeSet.values()].map((o) => ({ object: o.ref, meta: { version: versions.get(o.key)!, createdAtMs: o.createdAtMs }, writes: writesOf.get(o.key)! })),
      };
      if (idempotencyKey) rec.dedup = this.dedupRecord(call, idempotencyKey, bytes);
      const durable = this.replicated(call, span, this.d.store.commit(rec));
      for (const o of writeSet.values()) o.durable = durable;
      this.stats.commits++;
      durable.then(
        () => { for (const o of writeSet.values()) if (o.durable === durable) o.durable = undefined; span.end(); },
        (err: Error) => { span.setStatus({ code: SpanStatusCode.ERROR, message: err.message }); span.end(); this.d.onFatal(err); },
      );
      return { durable, outcome: { response, bytes } };
    } catch (err) {
      span.end();
      throw err;
    }
  }

  /**
   * A commit the chain replicates goes through `chainHop`: its lag is a metric, and a traced call
   * gets a chain.append span (under the commit span) covering the trip to the tail.
   */
  private replicated(call: Call, commitSpan: Span, durable: Promise<void>): Promise<void> {
    const shard = this.d.shardFor(call.ref.type, call.ref.id);
    const successor = shard === undefined ? undefined : this.d.successorOf?.(shard);
    if (shard === undefined || successor === undefined) return durable;
    const parent = commitSpan.isRecording() ? trace.setSpan(call.trace ?? context.active(), commitSpan) : undefined;
    return chainHop(this.d.metrics, parent, { shard, epoch: this.d.epochOf(shard) ?? 0, successor }, durable);
  }

  private dedupRecord(call: Call, key: DedupKey, bytes: Uint8Array): NonNullable<CommitRecord['dedup']> {
    return { object: call.ref, key: key.key, record: { response: bytes, expiresAtMs: Date.now() + this.d.options.dedupRetentionMs, fingerprint: key.fingerprint } };
  }

  /**
   * A chain that touched objects of other workers: two-phase commit with this worker as root, or,
   * for a read-only chain, one lock-free validation round.
   */
  private async commitAcrossWorkers(done: Executed): Promise<Outcome | undefined> {
    const { call, obj, seenVersion, reads, writes, parts } = done;
    if (call.create || !obj) {
      throw new LambdaStoreError('NOT_SUPPORTED', 'an init that calls objects on other workers is not supported yet');
    }
    const local: LocalPart[] = [{ obj, seenVersion, reads, writes }];
    const remote = new Map<number, ObjectPart[]>();
    const viaShard = new Map<string, number>();
    for (const p of parts) {
      if (this.d.serves(p.type, p.id)) {
        const key = objectCacheKey(p);
        if (p.create) {
          if (this.d.cache.peek(key)) return undefined; // created meanwhile: run again (then OBJECT_EXISTS)
          local.push({ obj: this.d.cache.newObject(p), seenVersion: 0, writes: p.writes, create: true });
          continue;
        }
        const o = this.d.cache.peek(key);
        if (!o) return undefined; // evicted meanwhile: run again
        local.push({ obj: o, seenVersion: p.seenVersion, reads: p.reads ?? 'all', writes: p.writes });
      } else {
        // One PREPARE per participating worker (a transaction has one part per worker, whatever
        // number of its shards it touches): addressed through the first of its shards seen.
        const shard = this.d.shardFor(p.type, p.id)!;
        const owner = this.d.ownerOf(shard) ?? `shard-${shard}`;
        let via = viaShard.get(owner);
        if (via === undefined) {
          via = shard;
          viaShard.set(owner, shard);
        }
        remote.set(via, [...(remote.get(via) ?? []), p]);
      }
    }
    const onAbort = (why: string, reason: string) => {
      this.lastAbort = why;
      this.d.metrics.abort(reason);
      span.setAttribute(SPAN_ATTRS.abortReason, reason);
    };
    const span = tracer.startSpan(call.readonly ? SPAN_NAMES.validate : SPAN_NAMES.twoPhase, { attributes: { [SPAN_ATTRS.object]: call.objKey.replace('\u0000', '/'), [SPAN_ATTRS.attempt]: call.attempt } }, call.trace);
    const traceCtx = span.isRecording() ? trace.setSpan(call.trace ?? context.active(), span) : undefined;
    try {
      return await this.commitRemote(done, local, remote, onAbort, traceCtx);
    } finally {
      span.end();
    }
  }

  private async commitRemote(
    done: Executed,
    local: Parameters<TwoPhase['commit']>[0]['local'],
    remote: Map<number, ObjectPart[]>,
    onAbort: (why: string, reason: string) => void,
    traceCtx: Context | undefined,
  ): Promise<Outcome | undefined> {
    const { call, obj, seenVersion, response, idempotencyKey } = done;
    if (!obj) throw new LambdaStoreError('INTERNAL', 'a chain across workers without its root object');
    if (call.readonly) {
      // Read-only chains validate without locks and write nothing durable.
      if (!(await this.twoPhase.validateReadOnly({ local, remote, onAbort, trace: traceCtx }))) return undefined;
      for (const l of local) if (l.obj.durable) await l.obj.durable;
      response.objectVersion = seenVersion;
      return { response };
    }
    let bytes: Uint8Array | undefined;
    const r = await this.twoPhase.commit({
      txnId: randomUUID(),
      rootShard: this.d.shardFor(call.ref.type, call.ref.id)!,
      local,
      remote,
      readonly: call.readonly,
      onAbort,
      trace: traceCtx,
      finish: (versions) => {
        response.objectVersion = versions.get(obj.key) ?? seenVersion;
        bytes = lambdastore.InvokeResponse.encode(response).finish();
        if (call.readonly) return { changes: [] };
        const changes = local
          .filter((l) => versions.has(l.obj.key))
          .map((l) => ({ object: l.obj.ref, meta: { version: versions.get(l.obj.key)!, createdAtMs: l.obj.createdAtMs }, writes: l.writes }));
        return idempotencyKey ? { changes, dedup: this.dedupRecord(call, idempotencyKey, bytes) } : { changes };
      },
    });
    if (!r) return undefined;
    this.stats.commits++;
    return { response, bytes: bytes!, durable: r.durable };
  }

  /** Runs the method in a thread, bounded by its time limit. */
  private async execute(call: Call, obj: CachedObject | undefined, modulePath: string): Promise<ExecResult> {
    const snapshot = obj ? this.d.cache.snapshot(obj, this.d.options.shipObjectMaxBytes) : undefined;
    const task: ExecTask = {
      modulePath,
      moduleId: call.info.moduleId ?? '',
      type: call.ref.type,
      id: call.ref.id,
      method: call.method,
      // Only the argument bytes, not the NATS read buffer they view (see copyBytes).
      args: call.req.args ? copyBytes(call.req.args) : new Uint8Array(0),
      argsEncoding: call.req.argsEncoding ?? 0,
      readonly: call.readonly,
      create: call.create,
      maxValueBytes: this.d.options.maxValueBytes,
      channel: this.channelName,
      // Writers' commits validate what they read, per entry set.
      trackReads: !call.readonly,
      timeoutMs: call.timeoutMs,
    };
    if (snapshot) {
      task.snapshot = snapshot.base;
      if (snapshot.overlay) task.overlay = snapshot.overlay;
    } else if (obj === undefined) task.snapshot = EMPTY_SNAPSHOT;
    const transferList: TransferListItem[] = [];
    let readPort: MessagePort | undefined;
    if (!task.snapshot && obj) {
      const { port1, port2 } = new MessageChannel();
      readPort = port1;
      serveReads(port1, obj);
      task.port = port2;
      transferList.push(port2);
    }
    const span: Span = tracer.startSpan(SPAN_NAMES.execute, undefined, call.trace);
    if (span.isRecording()) span.setAttributes(this.callAttributes(call));
    const traced = this.callSpans.begin(task, span);
    let r: Awaited<ReturnType<TaskDispatcher['run']>> | undefined;
    try {
      r = await this.d.dispatcher.run(task, call.timeoutMs, transferList);
      if (r.value) {
        if (!r.value.ok && span.isRecording()) span.setAttribute(SPAN_ATTRS.error, r.value.error?.code ?? '');
        return r.value;
      }
      span.setAttribute(SPAN_ATTRS.error, r.timedOut ? 'METHOD_TIMEOUT' : 'WORKER_CRASHED');
      if (r.timedOut) {
        this.stats.timeouts++;
        this.d.log(`${call.ref.type}.${call.method} on ${call.ref.id} ran past ${call.timeoutMs} ms: aborted, thread replaced`);
        return { ok: false, error: { code: 'METHOD_TIMEOUT', message: `${call.ref.type}.${call.method} ran longer than ${call.timeoutMs} ms and was aborted; its writes were discarded` } };
      }
      this.d.log(`${call.ref.type}.${call.method} on ${call.ref.id} lost its thread: ${r.error?.message}`);
      return { ok: false, error: { code: 'WORKER_CRASHED', message: `the thread running ${call.ref.type}.${call.method} died (it was replaced; writes discarded): ${r.error?.message}` } };
    } finally {
      if (traced) this.callSpans.end(traced, r?.value);
      span.end();
      readPort?.close();
    }
  }

  private callAttributes(call: Call): Record<string, string | number> {
    const a: Record<string, string | number> = { [SPAN_ATTRS.type]: call.ref.type, [SPAN_ATTRS.method]: call.method, [SPAN_ATTRS.objectId]: call.ref.id, [SPAN_ATTRS.attempt]: call.attempt };
    const shard = this.d.shardFor(call.ref.type, call.ref.id);
    if (shard !== undefined) {
      a[SPAN_ATTRS.shard] = shard;
      const epoch = this.d.epochOf(shard);
      if (epoch !== undefined) a[SPAN_ATTRS.epoch] = epoch;
    }
    return a;
  }
}

/** How long a call waits for a prepared transaction on its object to be decided (ms). */
const LOCK_WAIT_MS = 5000;

/** Bytes from the wire into shared memory, so they can travel to a thread without copies. */
function toShared(bytes: Uint8Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(bytes.length);
  new Uint8Array(sab).set(bytes);
  return sab;
}


/** One executed attempt of a call, ready to commit. */
interface Executed {
  call: Call;
  /** The call's own object (undefined for a create). */
  obj: CachedObject | undefined;
  /** Its commit counter when the attempt read it, and which of its entries it read. */
  seenVersion: number;
  reads: ReadSet;
  writes: Array<[string, Uint8Array | null]>;
  /** Other objects the chain touched. */
  parts: ObjectPart[];
  response: lambdastore.InvokeResponse;
  idempotencyKey: DedupKey | undefined;
}

interface DedupKey {
  key: string;
  fingerprint: Uint8Array;
}

/** What a call asks for, digested: method (or create) and its arguments exactly as sent. */
function fingerprintOf(call: Call): Uint8Array {
  const h = createHash('sha256');
  h.update(`${call.create ? '+' : ''}${call.method}\u0000${call.req.argsEncoding ?? 0}\u0000`);
  if (call.req.args) h.update(call.req.args);
  return h.digest().subarray(0, 16);
}

/**
 * Whether a writer read or wrote an entry that a commit after counter `since` wrote. Unknown (the
 * object does not remember that far back: many writers went first) counts as a conflict.
 */
function wouldConflict(reads: ReadSet, writes: ReadonlyArray<readonly [string, unknown]>, obj: CachedObject, since: number): boolean {
  if (obj.version <= since) return false; // the writers it waited for committed nothing
  const recent = obj.recentWrites;
  if (recent.length === 0 || recent[0]!.version > since + 1) return true;
  const later = recent.filter((c) => c.version > since);
  if (reads === 'all') return later.some((c) => c.writes.length > 0);
  const keys = new Set(reads);
  for (const [k] of writes) keys.add(k);
  return later.some((c) => c.writes.some(([k]) => keys.has(k)));
}

/**
 * How long a nested call waits for a callee's owner (another worker) to send its state: 5 s, but
 * ending a little before the calling method's own time limit, so that an owner that died or is
 * failing over shows as a retryable SHARD_UNAVAILABLE rather than as the caller timing out.
 */
function remoteOpenTimeoutMs(deadlineMs: number | undefined): number {
  if (deadlineMs === undefined) return 5000;
  const margin = 150; // the reply still has to reach the thread before the watchdog fires
  return Math.max(50, Math.min(5000, deadlineMs - Date.now() - margin));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function keyReused(key: string): LambdaStoreError {
  return new LambdaStoreError('IDEMPOTENCY_KEY_REUSED', `idempotency key ${JSON.stringify(key)} was already used on this object for a different call`);
}

interface Call {
  ref: { type: string; id: string };
  objKey: string;
  method: string;
  create: boolean;
  readonly: boolean;
  timeoutMs: number;
  info: lambdastore.ITypeInfo;
  req: lambdastore.IInvokeRequest;
  /** The caller's span context (undefined: not traced or no tracer). */
  trace: Context | undefined;
  /** OCC attempt running now (1 first). */
  attempt: number;
  /** A read-only call served on a replica of the object's shard (not at its head). */
  replica: boolean;
}

/** A call a replica cannot serve on its own: the worker hands it to the shard's head. */
export class NeedsHead extends Error {
  constructor(why: string) {
    super(`a replica cannot serve this call: ${why}`);
  }
}

/** Answers a thread's on-demand reads of a large object from the cached state. */
function serveReads(port: MessagePort, obj: CachedObject): void {
  port.on('message', (m: PortRequest) => {
    let reply: PortReply;
    if ('get' in m) {
      const v = entryOf(obj, m.get);
      reply = v ? { seq: m.seq, value: v } : { seq: m.seq };
    } else {
      const keys: string[] = [];
      for (const k of keysOf(obj)) if (k.startsWith(m.scan)) keys.push(k);
      reply = { seq: m.seq, keys };
    }
    port.postMessage(reply);
  });
}
