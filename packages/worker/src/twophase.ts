/**
 * Two-phase commit across workers. The root worker runs the whole chain (objects served elsewhere
 * are read from their owners as snapshots) and then coordinates the commit:
 *
 *   root: lock + validate its own objects -> PREPARE to each other shard -> all YES: write the
 *   decision (with its own writes and the dedup record, one durable batch) -> reply -> DECIDE(commit)
 *   to the participants until each acknowledges -> forget the decision.
 *
 *   participant: PREPARE -> lock read and write set (try-locks), validate versions, write a durable
 *   prepare record (when it has writes) -> YES. DECIDE -> apply and delete the prepare record in
 *   one batch (or just release on abort) -> ACK. A participant left with a prepared part asks the
 *   root (DECISION query) until it learns the outcome; after a restart it re-locks every prepared
 *   part from its records first. The root answers "commit" while it holds a decision record,
 *   "undecided" while the transaction is in flight, and otherwise "abort" (presumed abort: no abort
 *   record is ever written).
 *
 * What is durable before which message leaves: YES after the prepare record; the client's reply
 * after the decision record; ACK after the applied writes.
 */
import type { Context } from '@opentelemetry/api';
import { lambdastore, LambdaStoreError, errorFromWire, type Subjects } from '@lambdastore/proto';
import type { Store, ObjectChange } from '@lambdastore/storage';
import { unchangedSince, type LockTable, type ReadSet } from '@lambdastore/txn';
import { objectCacheKey, type CachedObject, type ObjectCache } from './objects.js';
import type { ObjectPart } from './task.js';
import { EMPTY_SNAPSHOT, copyBytes } from './snapshot.js';
import { failpoints } from './failpoints.js';

/** Test-only: how long a participant holds its YES after a durable prepare (see failpoints.ts). */
const HOLD_PREPARED_MS = failpoints.get('prepared.hold') ?? 0;

/** One of this worker's objects in a chain: the commit counter read at, what was read and written. */
export interface LocalPart {
  obj: CachedObject;
  seenVersion: number;
  /** Entries read (default: all). */
  reads?: ReadSet;
  writes: Array<[string, Uint8Array | null]>;
  create?: boolean;
}

export interface Transport {
  /** `trace`: the span context the request belongs to (traced transactions only; sent as headers). */
  request(subject: string, data: Uint8Array, timeoutMs: number, trace?: Context): Promise<Uint8Array>;
}

export interface TwoPhaseDeps {
  store: Store;
  cache: ObjectCache;
  locks: LockTable;
  subjects: Subjects;
  transport: Transport;
  log: (line: string) => void;
  onFatal: (err: Error) => void;
}

/** Outcome codes of a decision query. */
const UNDECIDED = 0;
const COMMIT = 1;
const ABORT = 2;

const PREPARE_TIMEOUT_MS = 3000;
const DECIDE_RETRY_MS = 500;
/** A prepared part older than this asks its root for the decision. */
const ASK_AFTER_MS = 2000;

interface PreparedPart {
  txnId: string;
  rootShard: number;
  parts: lambdastore.ITxnObjectPart[];
  lockKeys: string[];
  since: number;
  durable: boolean;
}

export class TwoPhase {
  /** Transactions this worker roots that are between PREPARE and their decision. */
  private readonly inFlight = new Set<string>();
  /** Committed transactions whose participants have not all acknowledged: txn -> shards left. */
  private readonly decided = new Map<string, Set<number>>();
  /** Parts prepared here for other roots. */
  private readonly prepared = new Map<string, PreparedPart>();
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly d: TwoPhaseDeps) {}

  // ---- startup and shutdown --------------------------------------------------------------------

  /**
   * Restores prepared parts (re-locked) and resumes delivering decisions, after a restart or when
   * this worker becomes head of shards whose records it holds as a replica (again: what is known
   * already is skipped). Only parts on objects `owns` says this worker serves: a replica's copy of
   * another head's prepared part is that head's to finish.
   */
  async recover(owns: (type: string, id: string) => boolean = () => true): Promise<void> {
    for (const { txnId, value } of await this.d.store.loadTxnRecords('prepare')) {
      if (this.prepared.has(txnId)) continue;
      const msg = lambdastore.TxnPrepare.decode(value);
      if (!msg.parts.every((p) => owns(p.object?.type ?? '', p.object?.id ?? ''))) continue;
      const lockKeys = msg.parts.map((p) => objectCacheKey({ type: p.object!.type!, id: p.object!.id! }));
      for (const k of lockKeys) this.d.locks.tryLock(k, txnId);
      this.prepared.set(txnId, { txnId, rootShard: msg.rootShard, parts: msg.parts, lockKeys, since: 0, durable: true });
      this.d.log(`recovered prepared transaction ${txnId}; asking shard ${msg.rootShard} for its decision`);
    }
    for (const { txnId, value } of await this.d.store.loadTxnRecords('decision')) {
      if (this.decided.has(txnId)) continue;
      const shards = new Set(decodeShards(value));
      this.decided.set(txnId, shards);
      this.deliver(txnId, shards);
    }
    this.pollTimer ??= setInterval(() => this.askRoots(), 1000);
    this.pollTimer.unref();
  }

  /** Drops prepared parts on objects this worker no longer serves (their new head finishes them). */
  forget(owns: (type: string, id: string) => boolean): void {
    for (const part of [...this.prepared.values()]) {
      if (part.parts.every((p) => owns(p.object?.type ?? '', p.object?.id ?? ''))) continue;
      this.prepared.delete(part.txnId);
      this.d.locks.unlockAll(part.lockKeys, part.txnId);
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.pollTimer);
  }

  // ---- the root's side -------------------------------------------------------------------------

  /**
   * Commits a chain with parts on other shards. `local` are this worker's objects of the chain (the
   * root's first) with the version read and the writes; `remote` the other parts by shard. Returns
   * the durable promise of the decision, or undefined when the transaction must run again.
   */
  async commit(args: {
    txnId: string;
    rootShard: number;
    local: LocalPart[];
    remote: Map<number, ObjectPart[]>;
    /** A read-only chain: nothing is applied or written here; participants only validate. */
    readonly: boolean;
    /** Told why an attempt aborts (to name it if the chain finally gives up), and a reason code. */
    onAbort: (why: string, reason: string) => void;
    /** The transaction's span context (traced transactions only). */
    trace?: Context | undefined;
    finish: (versions: Map<string, number>) => { changes: ObjectChange[]; dedup?: Parameters<Store['commit']>[0]['dedup'] };
  }): Promise<{ durable: Promise<void>; versions: Map<string, number> } | undefined> {
    const { txnId, local, remote } = args;
    const localKeys = local.map((l) => l.obj.key);
    if (!this.d.locks.tryLockAll(localKeys, txnId)) {
      args.onAbort('an object of this worker is locked by another transaction', 'LOCKED');
      return undefined;
    }
    try {
      for (const l of local) {
        if (l.create ? this.d.cache.peek(l.obj.key) !== undefined : this.d.cache.peek(l.obj.key) !== l.obj || !unchangedSince(l.obj, { version: l.seenVersion, entries: l.reads })) {
          args.onAbort(`changed since read: ${l.obj.ref.type} ${l.obj.ref.id}`, 'VERSION_CHANGED');
          return undefined;
        }
      }
      this.inFlight.add(txnId);
      const shards = [...remote.keys()];
      const votes = await Promise.allSettled(shards.map((shard) => this.prepareAt(shard, txnId, args.rootShard, remote.get(shard)!, args.trace)));
      const refused = votes.find((v) => v.status === 'rejected') as PromiseRejectedResult | undefined;
      if (refused) {
        this.inFlight.delete(txnId);
        for (const shard of shards) void this.decide(shard, txnId, false, args.trace);
        const e = refused.reason as LambdaStoreError;
        // A conflict or an unreachable participant: run the chain again. Anything else is final.
        if (e instanceof LambdaStoreError && !e.retryable) throw e;
        args.onAbort(e instanceof Error ? e.message : String(e), e instanceof LambdaStoreError ? e.code : 'PREPARE_FAILED');
        return undefined;
      }
      // Decided: apply here, make the decision durable with our writes, then tell the others.
      const versions = new Map<string, number>();
      for (const l of local) {
        // The root's version moves with every writing call (as on the one-worker path); others only
        // when written or created.
        if (args.readonly || (l.writes.length === 0 && l !== local[0] && !l.create)) continue;
        if (l.create) this.d.cache.insert(l.obj);
        const nv = l.obj.version + 1;
        this.d.cache.apply(l.obj, l.writes, nv);
        versions.set(l.obj.key, nv);
      }
      const { changes, dedup } = args.finish(versions);
      const writers = new Set(shards.filter((s) => remote.get(s)!.some((p) => p.writes.length > 0 || p.create)));
      const rec: Parameters<Store['commit']>[0] = { changes, txn: writers.size > 0 ? [{ kind: 'decision', txnId, value: encodeShards(writers) }] : [] };
      if (dedup) rec.dedup = dedup;
      const durable = this.d.store.commit(rec);
      for (const l of local) if (versions.has(l.obj.key)) l.obj.durable = durable;
      this.inFlight.delete(txnId);
      if (writers.size > 0) this.decided.set(txnId, writers);
      durable.then(
        () => {
          for (const l of local) if (l.obj.durable === durable) l.obj.durable = undefined;
          this.deliver(txnId, new Set(shards), args.trace);
        },
        (err: Error) => this.d.onFatal(err),
      );
      return { durable, versions };
    } finally {
      // Applied in memory (or abandoned): later transactions validate against the new versions.
      this.d.locks.unlockAll(localKeys, txnId);
    }
  }

  /**
   * A read-only chain across workers needs no locks: it stands if, after all its reads, each object
   * it read is checked once to be still at the version read and not locked by a prepared writer.
   * Every read version is then current at the moment of the first check, so the chain read a
   * consistent state; a locked object may belong to a writer already decided, so it counts as moved.
   */
  async validateReadOnly(args: {
    local: LocalPart[];
    remote: Map<number, ObjectPart[]>;
    onAbort: (why: string, reason: string) => void;
    trace?: Context | undefined;
  }): Promise<boolean> {
    for (const l of args.local) {
      if (this.d.cache.peek(l.obj.key) !== l.obj || !unchangedSince(l.obj, { version: l.seenVersion, entries: l.reads }) || this.d.locks.holder(l.obj.key) !== undefined) {
        args.onAbort(`changed or locked since read: ${l.obj.ref.type} ${l.obj.ref.id}`, 'VERSION_CHANGED');
        return false;
      }
    }
    const checks = await Promise.allSettled([...args.remote].map(async ([shard, parts]) => {
      const msg = lambdastore.TxnPrepare.encode({ txnId: '', parts: parts.map((p) => ({ object: { type: p.type, id: p.id }, seenVersion: p.seenVersion, ...readsOnWire(p) })) }).finish();
      const vote = lambdastore.TxnVote.decode(await this.d.transport.request(this.d.subjects.shardTxn(shard, 'validate'), msg, PREPARE_TIMEOUT_MS, args.trace));
      if (!vote.yes) throw errorFromWire(vote.error);
    }));
    const refused = checks.find((c) => c.status === 'rejected') as PromiseRejectedResult | undefined;
    if (refused) {
      const e = refused.reason as Error;
      if (e instanceof LambdaStoreError && !e.retryable) throw e;
      args.onAbort(e.message, e instanceof LambdaStoreError ? e.code : 'VALIDATE_FAILED');
      return false;
    }
    return true;
  }

  private async prepareAt(shard: number, txnId: string, rootShard: number, parts: ObjectPart[], trace: Context | undefined): Promise<void> {
    const msg = lambdastore.TxnPrepare.encode({
      txnId,
      rootShard,
      parts: parts.map((p) => ({
        object: { type: p.type, id: p.id },
        seenVersion: p.seenVersion,
        ...readsOnWire(p),
        create: !!p.create,
        writes: p.writes.map(([key, v]) => (v === null ? { key, deleted: true } : { key, value: v })),
      })),
    }).finish();
    let reply: Uint8Array;
    try {
      reply = await this.d.transport.request(this.d.subjects.shardTxn(shard, 'prepare'), msg, PREPARE_TIMEOUT_MS, trace);
    } catch (err) {
      throw new LambdaStoreError('SHARD_UNAVAILABLE', `shard ${shard} did not answer PREPARE: ${(err as Error).message}`, { retryable: true });
    }
    const vote = lambdastore.TxnVote.decode(reply);
    if (!vote.yes) throw errorFromWire(vote.error);
  }

  /** Sends DECIDE until every shard acknowledged, then forgets the decision record. */
  private deliver(txnId: string, shards: Set<number>, trace?: Context): void {
    if (this.closed) return;
    void Promise.allSettled([...shards].map(async (shard) => {
      if (await this.decide(shard, txnId, true, trace)) shards.delete(shard);
    })).then(() => {
      const left = this.decided.get(txnId);
      if (left) for (const s of [...left]) if (!shards.has(s)) left.delete(s);
      if (shards.size === 0) {
        if (this.decided.delete(txnId)) void this.d.store.commit({ changes: [], txn: [{ kind: 'decision', txnId, value: null }] }).catch(() => {});
      } else {
        setTimeout(() => this.deliver(txnId, shards), DECIDE_RETRY_MS).unref();
      }
    });
  }

  private async decide(shard: number, txnId: string, commit: boolean, trace?: Context): Promise<boolean> {
    try {
      const reply = await this.d.transport.request(this.d.subjects.shardTxn(shard, 'decide'), lambdastore.TxnDecide.encode({ txnId, commit }).finish(), PREPARE_TIMEOUT_MS, trace);
      return lambdastore.TxnAck.decode(reply).ok;
    } catch {
      return false;
    }
  }

  /** A participant asks how a transaction rooted here ended. */
  answerDecisionQuery(data: Uint8Array): Uint8Array {
    const q = lambdastore.TxnDecisionQuery.decode(data);
    const outcome = this.decided.has(q.txnId) ? COMMIT : this.inFlight.has(q.txnId) ? UNDECIDED : ABORT;
    return lambdastore.TxnDecisionAnswer.encode({ outcome }).finish();
  }

  // ---- the participant's side ------------------------------------------------------------------

  /** SNAPSHOT: a root wants to run a method of one of our objects inside its chain. */
  async answerSnapshot(data: Uint8Array, shipMaxBytes: number): Promise<Uint8Array> {
    const fail = (e: LambdaStoreError) => lambdastore.TxnSnapshotResponse.encode({ ok: false, error: { code: e.code, message: e.message, retryable: e.retryable } }).finish();
    try {
      const q = lambdastore.TxnSnapshotRequest.decode(data);
      const ref = { type: q.object?.type ?? '', id: q.object?.id ?? '' };
      // A prepared transaction on it is about to be decided: serve its outcome, not the state before.
      await this.d.locks.whenFree(objectCacheKey(ref), 5000);
      const obj = await this.d.cache.get(ref);
      if (q.create) {
        if (obj || this.d.locks.holder(objectCacheKey(ref)) !== undefined) return fail(new LambdaStoreError('OBJECT_EXISTS', `${ref.type} ${ref.id} already exists (or is being created)`));
        return lambdastore.TxnSnapshotResponse.encode({ ok: true, version: 0, snapshot: new Uint8Array(EMPTY_SNAPSHOT), overlay: new Uint8Array(0) }).finish();
      }
      if (!obj) return fail(new LambdaStoreError('OBJECT_NOT_FOUND', `${ref.type} ${ref.id} does not exist`));
      // Never hand out state a crash could still take back.
      if (obj.durable) await obj.durable;
      const snap = this.d.cache.snapshot(obj, shipMaxBytes);
      if (!snap) return fail(new LambdaStoreError('NOT_SUPPORTED', `${ref.type} ${ref.id} is larger than shipObjectMaxBytes; such objects cannot be called through ctx.invoke yet`));
      return lambdastore.TxnSnapshotResponse.encode({
        ok: true,
        version: obj.version,
        snapshot: new Uint8Array(snap.base),
        overlay: snap.overlay ? new Uint8Array(snap.overlay) : new Uint8Array(0),
      }).finish();
    } catch (err) {
      return fail(new LambdaStoreError('MALFORMED_REQUEST', `bad TxnSnapshotRequest: ${(err as Error).message}`));
    }
  }

  /** VALIDATE (read-only chains): are these objects still at the versions read, and unlocked? */
  async answerValidate(data: Uint8Array): Promise<Uint8Array> {
    const msg = lambdastore.TxnPrepare.decode(data);
    for (const p of msg.parts) {
      const ref = { type: p.object?.type ?? '', id: p.object?.id ?? '' };
      const obj = await this.d.cache.get(ref);
      if (!obj || !unchangedSince(obj, stampOf(p)) || this.d.locks.holder(obj.key) !== undefined) {
        const e = new LambdaStoreError('TXN_ABORTED', `changed or locked since read: ${ref.type} ${ref.id}`);
        return lambdastore.TxnVote.encode({ yes: false, error: { code: e.code, message: e.message, retryable: true } }).finish();
      }
    }
    return lambdastore.TxnVote.encode({ yes: true }).finish();
  }

  /** PREPARE: lock, validate, make durable (when there are writes), vote. */
  async answerPrepare(data: Uint8Array): Promise<Uint8Array> {
    const vote = (yes: boolean, error?: LambdaStoreError) =>
      lambdastore.TxnVote.encode(error ? { yes, error: { code: error.code, message: error.message, retryable: error.retryable } } : { yes }).finish();
    let msg: lambdastore.TxnPrepare;
    try {
      msg = lambdastore.TxnPrepare.decode(data);
    } catch (err) {
      return vote(false, new LambdaStoreError('MALFORMED_REQUEST', `bad TxnPrepare: ${(err as Error).message}`));
    }
    // A resent PREPARE. (The root sends one PREPARE per worker, holding all of the transaction's
    // objects here, so a transaction never has two parts on one worker.)
    if (this.prepared.has(msg.txnId)) return vote(true);
    const refs = msg.parts.map((p) => ({ type: p.object?.type ?? '', id: p.object?.id ?? '' }));
    const objs = await Promise.all(refs.map((r) => this.d.cache.get(r)));
    const lockKeys = refs.map((r) => objectCacheKey(r));
    if (!this.d.locks.tryLockAll(lockKeys, msg.txnId)) return vote(false, new LambdaStoreError('TXN_ABORTED', `an object of the chain is locked by another transaction`));
    for (let i = 0; i < refs.length; i++) {
      const o = objs[i];
      if (msg.parts[i]!.create) {
        if (o || this.d.cache.peek(lockKeys[i]!)) {
          this.d.locks.unlockAll(lockKeys, msg.txnId);
          return vote(false, new LambdaStoreError('OBJECT_EXISTS', `${refs[i]!.type} ${refs[i]!.id} already exists`));
        }
        continue;
      }
      if (!o || this.d.cache.peek(o.key) !== o || !unchangedSince(o, stampOf(msg.parts[i]!))) {
        this.d.locks.unlockAll(lockKeys, msg.txnId);
        return o ? vote(false, new LambdaStoreError('TXN_ABORTED', `${refs[i]!.type} ${refs[i]!.id} changed since the chain read it`)) : vote(false, new LambdaStoreError('OBJECT_NOT_FOUND', `${refs[i]!.type} ${refs[i]!.id} does not exist`));
      }
    }
    const hasWrites = msg.parts.some((p) => (p.writes?.length ?? 0) > 0 || p.create);
    const part: PreparedPart = { txnId: msg.txnId, rootShard: msg.rootShard, parts: msg.parts, lockKeys, since: Date.now(), durable: hasWrites };
    this.prepared.set(msg.txnId, part);
    if (hasWrites) {
      try {
        await this.d.store.commit({ changes: [], txn: [{ kind: 'prepare', txnId: msg.txnId, value: data }] });
      } catch (err) {
        this.d.onFatal(err as Error);
        throw err;
      }
      if (HOLD_PREPARED_MS > 0) await new Promise((r) => setTimeout(r, HOLD_PREPARED_MS));
    }
    return vote(true);
  }

  /** DECIDE: apply (commit) or release (abort); ACK once that is durable. */
  async answerDecide(data: Uint8Array): Promise<Uint8Array> {
    const msg = lambdastore.TxnDecide.decode(data);
    await this.finishPrepared(msg.txnId, msg.commit);
    return lambdastore.TxnAck.encode({ ok: true }).finish();
  }

  private async finishPrepared(txnId: string, commit: boolean): Promise<void> {
    const part = this.prepared.get(txnId);
    if (!part) return; // already finished (a resent DECIDE), or never prepared here
    this.prepared.delete(txnId);
    try {
      if (commit && part.durable) {
        const changes: ObjectChange[] = [];
        const touched: CachedObject[] = [];
        for (const p of part.parts) {
          if ((!p.writes || p.writes.length === 0) && !p.create) continue;
          const ref = { type: p.object!.type!, id: p.object!.id! };
          let obj = await this.d.cache.get(ref);
          if (p.create && !obj) {
            obj = this.d.cache.newObject(ref);
            this.d.cache.insert(obj);
          }
          if (!obj) continue;
          const writes: Array<[string, Uint8Array | null]> = (p.writes ?? []).map((w) => [w.key ?? '', w.deleted ? null : copyBytes(w.value ?? new Uint8Array(0))]);
          const nv = obj.version + 1;
          this.d.cache.apply(obj, writes, nv);
          changes.push({ object: ref, meta: { version: nv, createdAtMs: obj.createdAtMs }, writes });
          touched.push(obj);
        }
        const durable = this.d.store.commit({ changes, txn: [{ kind: 'prepare', txnId, value: null }] });
        for (const o of touched) o.durable = durable;
        this.d.locks.unlockAll(part.lockKeys, txnId);
        await durable;
        for (const o of touched) if (o.durable === durable) o.durable = undefined;
      } else {
        this.d.locks.unlockAll(part.lockKeys, txnId);
        if (part.durable) await this.d.store.commit({ changes: [], txn: [{ kind: 'prepare', txnId, value: null }] });
      }
    } catch (err) {
      this.d.onFatal(err as Error);
      throw err;
    }
  }

  /** Prepared parts that waited too long ask their root how the transaction ended. */
  private askRoots(): void {
    const now = Date.now();
    for (const part of this.prepared.values()) {
      if (now - part.since < ASK_AFTER_MS) continue;
      part.since = now;
      const query = lambdastore.TxnDecisionQuery.encode({ txnId: part.txnId }).finish();
      this.d.transport.request(this.d.subjects.shardTxn(part.rootShard, 'decision'), query, PREPARE_TIMEOUT_MS).then(
        (reply) => {
          const { outcome } = lambdastore.TxnDecisionAnswer.decode(reply);
          if (outcome === COMMIT || outcome === ABORT) return this.finishPrepared(part.txnId, outcome === COMMIT);
          return undefined;
        },
        () => undefined, // root unreachable: ask again later
      ).catch(() => {});
    }
  }

  get preparedCount(): number {
    return this.prepared.size;
  }
}

function encodeShards(shards: Set<number>): Uint8Array {
  const out = new Uint8Array(4 * shards.size);
  const view = new DataView(out.buffer);
  [...shards].forEach((s, i) => view.setUint32(4 * i, s, true));
  return out;
}

function decodeShards(b: Uint8Array): number[] {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= b.byteLength; i += 4) out.push(view.getUint32(i, true));
  return out;
}

/** The read set of a part on the wire: listed entries, or nothing listed (= the whole object). */
function readsOnWire(p: ObjectPart): { readsListed: boolean; reads: string[] } {
  return p.reads ? { readsListed: true, reads: p.reads } : { readsListed: false, reads: [] };
}

/** A read stamp from the wire. */
function stampOf(p: lambdastore.ITxnObjectPart): { version: number; entries: ReadSet } {
  return { version: Number(p.seenVersion), entries: p.readsListed ? (p.reads ?? []) : 'all' };
}
