/**
 * State transfer to a worker joining a chain as its tail: the joiner asks its predecessor for the
 * shards it lacks (one request per group); the predecessor notes how far each stream carrying those
 * shards has been applied (no other: it may be the joiner's predecessor in other groups too, whose
 * state this snapshot does not hold), waits until all of that is on disk, and sends every key of
 * those shards from one LevelDB snapshot (in chunks), then the stream positions. The joiner deletes
 * what it held of those shards, installs the chunks, and continues each new stream after its
 * position; a stream it already follows keeps its place (records the snapshot already holds are
 * applied again: they are absolute puts and deletes, so replaying them in order converges).
 * Until then it refuses the shards' records; the predecessor keeps resending them.
 */
import { randomUUID } from 'node:crypto';
import { lambdastore, type Subjects } from '@lambdastore/proto';
import { parseStorageKey, type Store } from '@lambdastore/storage';
import type { ChainReplicator, ChainRole } from './replicator.js';

const CHUNK_BYTES = 256 * 1024;

export interface TransferDeps {
  me: string;
  store: Store;
  subjects: Subjects;
  replicator: ChainReplicator;
  chainOf(shard: number): ChainRole | undefined;
  shardOf(type: string, id: string): number | undefined;
  publish(subject: string, data: Uint8Array): void;
  /** Forget cached state of shards whose data was replaced. */
  dropShards(shards: ReadonlySet<number>): void;
  log(line: string): void;
  onFatal(err: Error): void;
  /** Ask again when a transfer makes no progress for this long (ms). */
  retryAfterMs: number;
}

interface Session {
  id: string;
  pred: string;
  shards: Set<number>;
  next: number;
  lastProgressMs: number;
  work: Promise<void>;
}

export class StateTransfer {
  /** Shards whose data here is current (installed, or held since this worker joined their chain). */
  readonly synced = new Set<number>();
  private readonly sessions = new Map<string, Session>();
  private readonly pending = new Map<number, string>(); // shard -> session

  constructor(private readonly d: TransferDeps) {}

  /** Records of a shard are accepted only once its data is here. */
  accepting(shard: number): boolean {
    return this.synced.has(shard);
  }

  reset(): void {
    this.synced.clear();
    this.sessions.clear();
    this.pending.clear();
  }

  /** After a new map: note which shards are current, ask for the missing ones. */
  onConfig(allShards: readonly number[]): void {
    // One request per group (same chain, same epoch): a predecessor answers only for shards it
    // holds, and it may itself still be waiting for another group's state.
    const want = new Map<string, { pred: string; epoch: number; shards: number[] }>();
    for (const shard of allShards) {
      const role = this.d.chainOf(shard);
      const pos = role ? role.chain.indexOf(this.d.me) : -1;
      if (!role || pos < 0) {
        this.synced.delete(shard);
        this.pending.delete(shard);
      } else if (pos === 0) {
        // A head holds its shard's state by definition (the coordinator promotes only members).
        this.synced.add(shard);
        this.pending.delete(shard);
      } else if (!this.synced.has(shard) && !this.pending.has(shard)) {
        const k = `${role.chain.join(',')}/${role.epoch}`;
        const w = want.get(k) ?? { pred: role.chain[pos - 1]!, epoch: role.epoch, shards: [] };
        w.shards.push(shard);
        want.set(k, w);
      }
    }
    for (const w of want.values()) this.request(w.pred, w.epoch, w.shards);
  }

  private request(pred: string, epoch: number, shards: number[]): void {
    const id = randomUUID();
    const sess: Session = { id, pred, shards: new Set(shards), next: 0, lastProgressMs: Date.now(), work: Promise.resolve() };
    this.sessions.set(id, sess);
    for (const s of shards) this.pending.set(s, id);
    this.d.log(`joining the chain of shards ${shards.join(',')}: asking ${pred} for their state`);
    this.d.publish(this.d.subjects.chain(pred, 'transfer'), lambdastore.ChainTransferRequest.encode({ from: this.d.me, epoch, shards, session: id }).finish());
  }

  /** Sessions that stalled (a lost chunk, a predecessor that was not ready) are asked again. */
  retryStalled(allShards: readonly number[]): void {
    const now = Date.now();
    for (const sess of [...this.sessions.values()]) {
      if (now - sess.lastProgressMs >= this.d.retryAfterMs) this.abandon(sess);
    }
    this.onConfig(allShards);
  }

  private abandon(sess: Session): void {
    this.sessions.delete(sess.id);
    for (const s of sess.shards) if (this.pending.get(s) === sess.id) this.pending.delete(s);
  }

  // ---- the predecessor's side ----------------------------------------------------------------

  async onRequest(data: Uint8Array): Promise<void> {
    const m = lambdastore.ChainTransferRequest.decode(data);
    const shards = new Set(m.shards);
    for (const shard of shards) {
      const role = this.d.chainOf(shard);
      const pos = role ? role.chain.indexOf(this.d.me) : -1;
      // Only the joiner's predecessor in the same epoch answers, and only with state it holds.
      if (!role || role.epoch !== Number(m.epoch) || pos < 0 || role.chain[pos + 1] !== m.from || !this.synced.has(shard)) {
        // Not (yet) its predecessor with that state: the joiner asks again soon.
        const error = { code: 'SHARD_UNAVAILABLE', message: `${this.d.me} cannot send shard ${shard} to ${m.from} now`, retryable: true };
        this.d.publish(this.d.subjects.chain(m.from, 'snapshot'), lambdastore.ChainSnapshotChunk.encode({ session: m.session, error }).finish());
        return;
      }
    }
    const to = this.d.subjects.chain(m.from, 'snapshot');
    // Positions first, then wait for all of it to be on disk: the snapshot holds at least that.
    const positions = this.d.replicator.positionsFor(m.from, shards);
    await this.d.store.commitLocal({ changes: [] });
    let index = 0;
    let pairs: lambdastore.IChainKeyValue[] = [];
    let bytes = 0;
    let total = 0;
    for await (const { key, value } of this.d.store.rawEntries()) {
      if (!this.belongs(key, value, shards)) continue;
      pairs.push({ key, value });
      bytes += key.length + value.length + 8;
      total++;
      if (bytes >= CHUNK_BYTES) {
        this.d.publish(to, lambdastore.ChainSnapshotChunk.encode({ session: m.session, index: index++, pairs }).finish());
        pairs = [];
        bytes = 0;
      }
    }
    this.d.publish(to, lambdastore.ChainSnapshotChunk.encode({ session: m.session, index, pairs, last: true, positions }).finish());
    this.d.log(`sent ${total} keys of shards ${[...shards].join(',')} to ${m.from} (joining as tail)`);
  }

  private belongs(key: string, value: Uint8Array, shards: ReadonlySet<number>): boolean {
    const k = parseStorageKey(key);
    switch (k.kind) {
      case 'meta':
      case 'entry':
      case 'dedup':
      case 'expiry': {
        const s = this.d.shardOf(k.object.type, k.object.id);
        return s !== undefined && shards.has(s);
      }
      case 'prepare':
        return lambdastore.TxnPrepare.decode(value).parts.some((p) => shards.has(this.d.shardOf(p.object?.type ?? '', p.object?.id ?? '') ?? -1));
      case 'decision':
        // Which shard roots a decision is not recorded; a spare one only re-delivers a decision.
        return true;
      default:
        return false;
    }
  }

  // ---- the joiner's side ---------------------------------------------------------------------

  onChunk(data: Uint8Array): void {
    const m = lambdastore.ChainSnapshotChunk.decode(data);
    const sess = this.sessions.get(m.session);
    if (!sess) return;
    if (m.error) {
      // Refused for now: ask again on the next tick.
      sess.lastProgressMs = 0;
      return;
    }
    if (m.index !== sess.next) {
      this.abandon(sess); // a lost chunk: ask again
      return;
    }
    sess.next++;
    sess.lastProgressMs = Date.now();
    sess.work = sess.work.then(() => this.install(sess, m)).catch((err: Error) => this.d.onFatal(err));
  }

  private async install(sess: Session, m: lambdastore.ChainSnapshotChunk): Promise<void> {
    if (this.sessions.get(sess.id) !== sess) return;
    if (m.index === 0) {
      // What this worker held of these shards may be stale or diverged: it goes first.
      const stale: Array<readonly [string, null]> = [];
      for await (const { key, value } of this.d.store.rawEntries()) if (this.belongs(key, value, sess.shards) && parseStorageKey(key).kind !== 'decision') stale.push([key, null]);
      await this.d.store.writeRaw(stale);
    }
    if (m.pairs.length > 0) await this.d.store.writeRaw(m.pairs.map((p) => [p.key ?? '', p.value ?? new Uint8Array(0)] as const));
    if (!m.last || this.sessions.get(sess.id) !== sess) return;
    this.sessions.delete(sess.id);
    for (const s of sess.shards) {
      this.pending.delete(s);
      this.synced.add(s);
    }
    this.d.dropShards(sess.shards);
    this.d.replicator.installPositions(m.positions);
    this.d.log(`installed the state of shards ${[...sess.shards].join(',')} from ${sess.pred}; serving as their tail`);
  }
}
