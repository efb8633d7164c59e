/**
 * Read-only calls on any member of a shard's chain (docs/ARCHITECTURE.md, "Reads on replicas").
 *
 * A replica serves a read from its own LevelDB once it is *caught up*: it asks the head for a
 * barrier (an empty record the head sends down its stream after the request arrived, acknowledged
 * by the tail; the head first lets a transaction prepared on the object be decided) and waits until
 * that record is durable here. Every write the head acknowledged before the read began precedes the
 * barrier in the head's stream (or in a stream it inherited, which reached the tail before it served
 * anything), so the read sees it: `strict` reads are linearizable. A head that was replaced cannot
 * get a barrier acknowledged (the new chain refuses its epoch), so its answer never comes.
 *
 * `stale-ok` reads skip the barrier while the replica caught up less than `maxStalenessMs` ago: the
 * state then holds every write acknowledged before that moment.
 *
 * Anything a replica cannot serve alone (a method that writes, a chain of calls, a replica that
 * cannot catch up in time) goes to the head.
 */
import { performance } from 'node:perf_hooks';
import { lambdastore, LambdaStoreError, READ_CONSISTENCY, errorResponse, asLambdaStoreError, type Subjects } from '@lambdastore/proto';
import type { Context } from '@opentelemetry/api';
import type { ChainReplicator, ChainRole } from './chain/replicator.js';
import { NeedsHead, type Executor } from './executor.js';
import { objectCacheKey } from './objects.js';

export interface ReplicaReadDeps {
  me: string;
  subjects: Subjects;
  executor: Executor;
  replicator: ChainReplicator;
  chainOf(shard: number): ChainRole | undefined;
  /** True when this worker holds the shard's current state as a chain member behind the head. */
  caughtUp(shard: number): boolean;
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** How long a replica waits for a barrier before it hands the read to the head (ms). */
  catchUpTimeoutMs: number;
}

export interface Outcome {
  response: lambdastore.IInvokeResponse;
  bytes?: Uint8Array;
}

interface Sync {
  /** performance.now() when the barrier was asked for. */
  askedAt: number;
  done: Promise<boolean>;
}

export class ReplicaReads {
  /** Per shard: when the latest barrier that this replica then held was asked for. */
  private readonly syncedAt = new Map<number, number>();
  private readonly inflight = new Map<number, Sync>();
  /** Reads served here as a replica (heartbeats report it). */
  served = 0;

  constructor(private readonly d: ReplicaReadDeps) {}

  /** Serves `req` here; undefined when the head must serve it. */
  async serve(shard: number, req: lambdastore.IInvokeRequest, traceCtx: Context | undefined): Promise<Outcome | undefined> {
    const arrived = performance.now();
    const role = this.d.chainOf(shard);
    if (!role || role.chain.indexOf(this.d.me) <= 0 || !this.d.caughtUp(shard)) return undefined;
    const staleOk = req.readConsistency === READ_CONSISTENCY.staleOk;
    const fresh = staleOk && (this.syncedAt.get(shard) ?? -Infinity) >= arrived - (req.maxStalenessMs ?? 0);
    if (!fresh && !(await this.catchUp(shard, role, req, arrived))) return undefined;
    try {
      const out = await this.d.executor.invoke(req, traceCtx, true);
      this.served++;
      return out;
    } catch (err) {
      if (err instanceof NeedsHead) return undefined;
      return { response: errorResponse(asLambdaStoreError(err)) };
    }
  }

  /** Forgets what this worker knew about shards it no longer replicates. */
  forget(keep: (shard: number) => boolean): void {
    for (const shard of [...this.syncedAt.keys()]) if (!keep(shard)) this.syncedAt.delete(shard);
  }

  /** True once this replica holds every write the head acknowledged before `since`. */
  private async catchUp(shard: number, role: ChainRole, req: lambdastore.IInvokeRequest, since: number): Promise<boolean> {
    // A barrier asked for after this read arrived serves it too (reads arriving together share one).
    const running = this.inflight.get(shard);
    if (running && running.askedAt >= since) return running.done;
    const askedAt = performance.now();
    const done = this.barrier(shard, role, req).then((ok) => {
      if (ok && askedAt > (this.syncedAt.get(shard) ?? -Infinity)) this.syncedAt.set(shard, askedAt);
      return ok;
    });
    const sync = { askedAt, done };
    this.inflight.set(shard, sync);
    void done.finally(() => { if (this.inflight.get(shard) === sync) this.inflight.delete(shard); });
    return done;
  }

  private async barrier(shard: number, role: ChainRole, req: lambdastore.IInvokeRequest): Promise<boolean> {
    const head = role.chain[0]!;
    const ask = lambdastore.ChainBarrierRequest.encode({ shard, object: req.target ?? null }).finish();
    let reply: lambdastore.ChainBarrierReply;
    try {
      reply = lambdastore.ChainBarrierReply.decode(await this.d.request(this.d.subjects.chain(head, 'barrier'), ask, this.d.catchUpTimeoutMs));
    } catch {
      return false; // the head is gone or slow: it serves the read itself, or the client retries
    }
    if (!reply.ok || Number(reply.epoch) !== role.epoch) return false;
    return this.d.replicator.whenDurable(reply.origin, Number(reply.seq), this.d.catchUpTimeoutMs);
  }
}

/**
 * The head's side: a barrier for a replica about to read `object`. A transaction prepared on it
 * is decided first (its writes are then in the stream before the barrier).
 */
export async function answerBarrier(data: Uint8Array, heads: (shard: number) => boolean, executor: Executor, replicator: ChainReplicator): Promise<Uint8Array> {
  try {
    const m = lambdastore.ChainBarrierRequest.decode(data);
    if (!heads(m.shard)) throw new LambdaStoreError('SHARD_UNAVAILABLE', `not serving shard ${m.shard}`, { retryAfterMs: 100 });
    if (m.object?.type && m.object.id) await executor.locks.whenFree(objectCacheKey({ type: m.object.type, id: m.object.id }), 5000);
    const b = await replicator.barrier(m.shard);
    return lambdastore.ChainBarrierReply.encode({ ok: true, origin: b.origin, seq: b.seq, epoch: b.epoch }).finish();
  } catch (err) {
    const e = asLambdaStoreError(err);
    return lambdastore.ChainBarrierReply.encode({ ok: false, error: { code: e.code, message: e.message } }).finish();
  }
}
