/**
 * Chain replication of one worker's commits (docs/ARCHITECTURE.md, "Chain replication").
 *
 * Every shard has a chain `head -> ... -> tail` in the cluster map; all shards one worker heads
 * share one chain (the coordinator keeps it so), so the head orders all its commits in one
 * *stream* (`origin` = its incarnation). A record is exactly one storage CommitRecord: the head
 * writes it into its own group commit and sends it on; each node queues it into its own group
 * commit (in stream order) and forwards it at once; a node acknowledges `seq` upstream once `seq` is
 * durable here *and* acknowledged by its successor (the tail: durable here). The head's commit
 * promise (which the reply waits for) resolves on that acknowledgement, so an acknowledged write is
 * durable on every node of the chain.
 *
 * Epochs: every message carries the epoch of the chain it was sent in; a node drops anything whose
 * epoch differs from its own map's, or that does not come from its neighbour there. A head that was
 * replaced (paused, cut off) therefore never gets an acknowledgement in its old role.
 *
 * Chain changes: on every new map each node resends what its successor has not acknowledged (the
 * successor skips what it already has), and a node that became head of a stream's shards (the old
 * head died) drives that inherited stream to the tail before it serves those shards.
 */
import { lambdastore, LambdaStoreError, type Subjects } from '@lambdastore/proto';
import type { CommitRecord, Store } from '@lambdastore/storage';
import { encodeEntry, decodeEntry, objectsOf } from './codec.js';
import { copyBytes } from '../snapshot.js';

export interface ChainRole {
  chain: readonly string[];
  epoch: number;
}

export interface ReplicatorDeps {
  me: string;
  store: Store;
  subjects: Subjects;
  /** The chain of a shard as this worker's current map has it; undefined when it plays no part. */
  chainOf(shard: number): ChainRole | undefined;
  shardOf(type: string, id: string): number | undefined;
  /** Shards this worker heads in its current map. */
  headed(): number[];
  publish(subject: string, data: Uint8Array): void;
  log(line: string): void;
  onFatal(err: Error): void;
  /** Resend what a successor has not acknowledged after this long (ms). */
  resendIntervalMs: number;
  /** A record from upstream is durable here (objects cached for replica reads must be reloaded). */
  onApplied?(rec: CommitRecord): void;
}

/** The write was not acknowledged before this worker lost its place at the head of the chain. */
export class ChainRoleLost extends LambdaStoreError {
  readonly chainRoleLost = true;
  constructor(message: string) {
    super('SHARD_UNAVAILABLE', message, { retryAfterMs: 100 });
  }
}

export const isChainRoleLost = (err: unknown): boolean => (err as { chainRoleLost?: boolean } | undefined)?.chainRoleLost === true;

interface Item {
  seq: number;
  bytes: Uint8Array;
}

/** One head incarnation's sequence of records, as seen by this node. */
export class Stream {
  /** Highest seq queued into the local store (records are applied strictly in order). */
  applied = 0;
  /** Highest seq durable in the local store. */
  durable = 0;
  /** Highest seq the successor acknowledged (durable there and beyond). */
  ackedDown = 0;
  /** Highest seq acknowledged upstream (or, at the head, resolved). */
  ackedUp = 0;
  /** Records not yet acknowledged downstream, in order (what a new successor gets resent). */
  items: Item[] = [];
  sentUpTo = 0;
  lastSendMs = 0;
  sendScheduled = false;
  succ: string | undefined;
  stuckSeq: number | undefined;
  stuckSince: number | undefined;
  warned = false;
  readonly waiters = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  constructor(readonly origin: string, public shard: number | undefined) {}
}

const MAX_APPEND_BYTES = 512 * 1024;
const EMPTY_ENTRY = encodeEntry({ changes: [] });

export class ChainReplicator {
  private readonly streams = new Map<string, Stream>();
  private own: Stream;
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private pendingBarrier: { origin: string; seq: number; acked: Promise<{ origin: string; seq: number; epoch: number }> } | undefined;
  /** Replica reads waiting for a stream to be durable here up to a seq. */
  private durableWaiters: Array<{ origin: string; seq: number; resolve: () => void }> = [];

  constructor(private readonly d: ReplicatorDeps, private incarnation: number) {
    this.own = this.newOwnStream();
    this.timer = setInterval(() => this.resendDue(), d.resendIntervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private newOwnStream(): Stream {
    const s = new Stream(`${this.d.me}@${this.incarnation}.${this.generation++}`, undefined);
    this.streams.set(s.origin, s);
    return s;
  }

  /** Store hook: resolves once `rec` is durable locally and at every node after this head. */
  replicate(rec: CommitRecord, local: Promise<void>): Promise<void> {
    const shard = this.shardOfRecord(rec);
    if (shard === undefined) return local;
    const role = this.d.chainOf(shard);
    if (!role || role.chain[0] !== this.d.me) {
      // Committed by a call that started before this worker lost the shard: never acknowledge it.
      return local.then(() => { throw new ChainRoleLost(`this worker no longer heads shard ${shard}; retry (with the same idempotency key)`); });
    }
    if (role.chain.length === 1) return local;
    const s = this.own;
    if (s.shard === undefined) s.succ = role.chain[1];
    s.shard = shard;
    const seq = ++s.applied;
    s.items.push({ seq, bytes: encodeEntry(rec) });
    const acked = new Promise<void>((resolve, reject) => s.waiters.set(seq, { resolve, reject }));
    local.then(() => {
      if (seq > s.durable) s.durable = seq;
      this.update(s);
    }, () => undefined); // the caller sees the local failure through `local`
    this.scheduleSend(s);
    return Promise.all([local, acked]).then(() => undefined);
  }

  /**
   * Resolves once a record sent after this call was acknowledged by the tail in the chain of
   * `shard`, with this worker still at its head: a read taken before then is not stale (no other
   * head can have acknowledged a write in a newer epoch, whose members would have refused this
   * one). Reads that arrive in the same turn of the event loop share one empty record.
   */
  async confirmHead(shard: number): Promise<void> {
    await this.barrier(shard);
  }

  /**
   * `confirmHead`, telling where the barrier stands in this head's stream: a replica that has the
   * stream durable up to there holds every write this head acknowledged before the call.
   */
  barrier(shard: number): Promise<{ origin: string; seq: number; epoch: number }> {
    const role = this.d.chainOf(shard);
    if (!role || role.chain[0] !== this.d.me) return Promise.reject(new ChainRoleLost(`this worker no longer heads shard ${shard}; retry`));
    const s = this.own;
    if (role.chain.length === 1) return Promise.resolve({ origin: s.origin, seq: s.applied, epoch: role.epoch });
    const last = s.items[s.items.length - 1];
    if (this.pendingBarrier && this.pendingBarrier.origin === s.origin && last && last.seq === this.pendingBarrier.seq && last.seq > s.sentUpTo) return this.pendingBarrier.acked;
    if (s.shard === undefined) s.succ = role.chain[1];
    s.shard = shard;
    const seq = ++s.applied;
    s.items.push({ seq, bytes: EMPTY_ENTRY });
    const done = new Promise<void>((resolve, reject) => s.waiters.set(seq, { resolve, reject }));
    const acked = done.then(() => ({ origin: s.origin, seq, epoch: role.epoch }));
    this.pendingBarrier = { origin: s.origin, seq, acked };
    this.d.store.commitLocal({ changes: [] }).then(() => {
      if (seq > s.durable) s.durable = seq;
      this.update(s);
    }, () => undefined);
    this.scheduleSend(s);
    return acked;
  }

  private shardOfRecord(rec: CommitRecord): number | undefined {
    const first = objectsOf(rec)[0];
    if (first) return this.d.shardOf(first.type, first.id);
    // Records without objects (a decision record deleted): any shard of this head's group.
    const mine = this.d.headed();
    return mine.length > 0 ? Math.min(...mine) : undefined;
  }

  // ---- sending -------------------------------------------------------------------------------

  private scheduleSend(s: Stream): void {
    if (s.sendScheduled) return;
    s.sendScheduled = true;
    // Records committed in the same turn of the event loop travel in one message.
    setImmediate(() => {
      s.sendScheduled = false;
      const fresh = s.items.filter((i) => i.seq > s.sentUpTo);
      if (fresh.length > 0) this.send(s, fresh);
    });
  }

  private send(s: Stream, items: readonly Item[]): void {
    if (s.shard === undefined || items.length === 0) return;
    const role = this.d.chainOf(s.shard);
    if (!role) return;
    const succ = role.chain[role.chain.indexOf(this.d.me) + 1];
    if (!succ || role.chain.indexOf(this.d.me) < 0) return;
    let batch: lambdastore.IChainItem[] = [];
    let bytes = 0;
    const flush = () => {
      if (batch.length === 0) return;
      const msg = lambdastore.ChainAppend.encode({ origin: s.origin, epoch: role.epoch, shard: s.shard!, from: this.d.me, items: batch }).finish();
      this.d.publish(this.d.subjects.chain(succ, 'append'), msg);
      batch = [];
      bytes = 0;
    };
    for (const it of items) {
      if (bytes + it.bytes.length > MAX_APPEND_BYTES) flush();
      batch.push({ seq: it.seq, entry: it.bytes });
      bytes += it.bytes.length + 16;
    }
    flush();
    s.sentUpTo = Math.max(s.sentUpTo, items[items.length - 1]!.seq);
    s.lastSendMs = Date.now();
  }

  /** Unacknowledged records are sent again (a lost message, a successor that was behind). */
  private resendDue(): void {
    const now = Date.now();
    for (const s of this.streams.values()) {
      if (s.items.length > 0 && now - s.lastSendMs >= this.d.resendIntervalMs) this.send(s, s.items);
      this.warnStuck(s, now);
    }
  }

  /** One line per stream whose oldest record has waited 10 s for its acknowledgement (diagnostics). */
  private warnStuck(s: Stream, now: number): void {
    const oldest = s.items[0];
    if (!oldest) { s.stuckSince = undefined; return; }
    if (s.stuckSeq !== oldest.seq) { s.stuckSeq = oldest.seq; s.stuckSince = now; s.warned = false; return; }
    if (s.warned || now - (s.stuckSince ?? now) < 10_000) return;
    s.warned = true;
    const role = s.shard === undefined ? undefined : this.d.chainOf(s.shard);
    this.d.log(`stream ${s.origin} (shard ${s.shard}, chain ${role?.chain.join('>')}@${role?.epoch}): seq ${oldest.seq} unacknowledged for 10 s; applied ${s.applied} durable ${s.durable} acked by ${s.succ ?? 'nobody'} ${s.ackedDown} acked up ${s.ackedUp}, ${s.items.length} held`);
  }

  // ---- receiving -----------------------------------------------------------------------------

  /** True when `msg` comes from this node's neighbour (`side`) in the chain of its epoch. */
  private fromNeighbour(shard: number, epoch: number, from: string, side: -1 | 1): ChainRole | undefined {
    const role = this.d.chainOf(shard);
    if (!role || role.epoch !== epoch) return undefined;
    const pos = role.chain.indexOf(this.d.me);
    if (pos < 0 || role.chain[pos + side] !== from) return undefined;
    return role;
  }

  onAppend(data: Uint8Array, accepting: (shard: number) => boolean): void {
    const m = lambdastore.ChainAppend.decode(data);
    const role = this.fromNeighbour(m.shard, Number(m.epoch), m.from, -1);
    if (!role || !accepting(m.shard)) return;
    let s = this.streams.get(m.origin);
    if (!s) {
      s = new Stream(m.origin, m.shard);
      s.succ = role.chain[role.chain.indexOf(this.d.me) + 1];
      this.streams.set(m.origin, s);
    }
    s.shard = m.shard;
    const fresh: Item[] = [];
    for (const it of m.items) {
      const seq = Number(it.seq);
      if (seq <= s.applied) continue;
      if (seq !== s.applied + 1) break; // a gap: the sender resends
      s.applied = seq;
      const item = { seq, bytes: copyBytes(it.entry ?? new Uint8Array(0)) };
      s.items.push(item);
      fresh.push(item);
      const stream = s;
      const rec = decodeEntry(item.bytes);
      this.d.store.commitLocal(rec).then(() => {
        if (seq > stream.durable) stream.durable = seq;
        // On disk now: copies of its objects cached for replica reads are stale.
        this.d.onApplied?.(rec);
        this.update(stream);
        this.wakeDurable(stream);
      }, (err: Error) => this.d.onFatal(err));
    }
    if (fresh.length > 0) this.send(s, fresh);
    else this.ackUpstream(s); // a resend of what we have: our acknowledgement may have been lost
  }

  onAck(data: Uint8Array): void {
    const m = lambdastore.ChainAck.decode(data);
    if (!this.fromNeighbour(m.shard, Number(m.epoch), m.from, 1)) return;
    const s = this.streams.get(m.origin);
    if (!s) return;
    const seq = Number(m.seq);
    if (seq > s.ackedDown) s.ackedDown = seq;
    this.update(s);
  }

  /** Moves the acknowledged level of a stream forward: upstream, or (at its head) to the callers. */
  private update(s: Stream): void {
    if (s.shard === undefined) return;
    const role = this.d.chainOf(s.shard);
    const pos = role ? role.chain.indexOf(this.d.me) : -1;
    if (!role || pos < 0) return;
    const hasSucc = pos + 1 < role.chain.length;
    const level = hasSucc ? Math.min(s.durable, s.ackedDown) : s.durable;
    if (level <= s.ackedUp) return;
    s.ackedUp = level;
    let drop = 0;
    while (drop < s.items.length && s.items[drop]!.seq <= level) drop++;
    if (drop > 0) s.items.splice(0, drop);
    if (pos > 0) {
      this.ackUpstream(s);
    } else {
      for (const [seq, w] of s.waiters) {
        if (seq > level) break;
        s.waiters.delete(seq);
        w.resolve();
      }
    }
  }

  private ackUpstream(s: Stream): void {
    if (s.shard === undefined || s.ackedUp === 0) return;
    const role = this.d.chainOf(s.shard);
    const pos = role ? role.chain.indexOf(this.d.me) : -1;
    if (!role || pos <= 0) return;
    const msg = lambdastore.ChainAck.encode({ origin: s.origin, epoch: role.epoch, shard: s.shard, from: this.d.me, seq: s.ackedUp }).finish();
    this.d.publish(this.d.subjects.chain(role.chain[pos - 1]!, 'ack'), msg);
  }

  // ---- replica reads -------------------------------------------------------------------------

  /** Resolves true once stream `origin` is durable here up to `seq`; false after `timeoutMs`. */
  whenDurable(origin: string, seq: number, timeoutMs: number): Promise<boolean> {
    if ((this.streams.get(origin)?.durable ?? 0) >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { origin, seq, resolve: () => { clearTimeout(timer); resolve(true); } };
      const timer = setTimeout(() => {
        this.durableWaiters = this.durableWaiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs);
      this.durableWaiters.push(w);
    });
  }

  private wakeDurable(s: Stream): void {
    if (this.durableWaiters.length === 0) return;
    const keep: typeof this.durableWaiters = [];
    for (const w of this.durableWaiters) {
      if (w.origin === s.origin && s.durable >= w.seq) w.resolve();
      else keep.push(w);
    }
    this.durableWaiters = keep;
  }

  // ---- map changes ---------------------------------------------------------------------------

  /** The worker applied a new map: follow the chains' changes. */
  onConfig(): void {
    for (const s of [...this.streams.values()]) {
      const role = s.shard === undefined ? undefined : this.d.chainOf(s.shard);
      const pos = role ? role.chain.indexOf(this.d.me) : -1;
      const isOwn = s === this.own;
      if (isOwn && s.shard === undefined) continue;
      if (!role || pos < 0 || (isOwn && pos > 0)) {
        if (isOwn) this.resetOwn(`this worker no longer heads shard ${s.shard}`);
        else this.streams.delete(s.origin);
        continue;
      }
      const succ = role.chain[pos + 1];
      if (succ !== s.succ) {
        s.succ = succ;
        // What the old successor acknowledged says nothing about the new one.
        s.ackedDown = 0;
        this.send(s, s.items);
      }
      this.update(s);
      if (!isOwn && pos === 0 && this.settled(s)) this.streams.delete(s.origin);
    }
  }

  /** Fails every unacknowledged write of this head and starts a new stream (nobody acks the old one). */
  resetOwn(why: string): void {
    const s = this.own;
    const err = new ChainRoleLost(`${why} before the write was acknowledged by the chain; retry (with the same idempotency key)`);
    for (const w of s.waiters.values()) w.reject(err);
    s.waiters.clear();
    this.streams.delete(s.origin);
    this.own = this.newOwnStream();
  }

  /** A new incarnation (after a pause, or a removal): forget every stream and role. */
  restart(incarnation: number): void {
    this.resetOwn('this worker was taken out of its chains');
    this.streams.clear();
    this.incarnation = incarnation;
    this.generation = 0;
    this.own = this.newOwnStream();
  }

  private settled(s: Stream): boolean {
    return s.items.length === 0 && s.durable >= s.applied && s.ackedUp >= s.applied;
  }

  /**
   * True while a stream this worker inherited as new head is not yet acknowledged by the tail:
   * until then its shards are not served (a retry must find the record durable everywhere).
   */
  inheriting(): boolean {
    for (const s of this.streams.values()) {
      if (s === this.own || s.shard === undefined) continue;
      if (this.d.chainOf(s.shard)?.chain[0] === this.d.me && !this.settled(s)) return true;
    }
    return false;
  }

  // ---- state transfer ------------------------------------------------------------------------

  /**
   * The streams carrying `shards` whose chain continues from this node to `succ`, at the seq this
   * node has applied. Only those: a joiner asks once per group (one head's shards), and this node
   * may be its predecessor in several groups (as head of one, in the middle of another). A position
   * of another group's stream would make the joiner skip, or re-apply, records of shards this
   * snapshot does not hold.
   */
  positionsFor(succ: string, shards: ReadonlySet<number>): lambdastore.IChainStreamPosition[] {
    const out: lambdastore.IChainStreamPosition[] = [];
    for (const s of this.streams.values()) {
      if (s.shard === undefined || s.applied === 0 || !shards.has(s.shard)) continue;
      const role = this.d.chainOf(s.shard);
      if (!role) continue;
      const pos = role.chain.indexOf(this.d.me);
      if (pos >= 0 && role.chain[pos + 1] === succ) out.push({ origin: s.origin, seq: s.applied, shard: s.shard });
    }
    return out;
  }

  /**
   * A joiner installed a snapshot holding each stream up to `seq`: continue from there. A stream
   * this node already follows is kept as it is: it has applied (and acknowledged) records past any
   * snapshot point, its predecessor no longer holds those, and its successor may still wait for
   * them. Starting it again at `seq` would leave a gap nobody can fill (the stream stalls) and drop
   * what it still has to pass on.
   */
  installPositions(positions: readonly lambdastore.IChainStreamPosition[]): void {
    for (const p of positions) {
      const origin = p.origin ?? '';
      if (this.streams.has(origin)) continue;
      const s = new Stream(origin, p.shard ?? 0);
      const role = this.d.chainOf(s.shard!);
      s.succ = role ? role.chain[role.chain.indexOf(this.d.me) + 1] : undefined;
      s.applied = s.durable = Number(p.seq ?? 0);
      this.streams.set(s.origin, s);
      this.update(s);
      this.wakeDurable(s);
    }
  }

  stats(): { streams: number; unacked: number } {
    let unacked = 0;
    for (const s of this.streams.values()) unacked += s.items.length;
    return { streams: this.streams.size, unacked };
  }
}
