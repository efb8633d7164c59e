/**
 * The replicator's side of a state transfer, without processes: which stream positions a
 * predecessor hands a joiner, and what a joiner does with them.
 */
import { expect } from 'chai';
import { lambdastore, subjects } from '@lambdastore/proto';
import type { CommitRecord, Store } from '@lambdastore/storage';
import { ChainReplicator, type ChainRole } from '../src/chain/replicator.js';
import { encodeEntry } from '../src/chain/codec.js';

const S = subjects('t');

/** One node's replicator over a store that makes everything durable at once. */
function node(me: string, chains: Record<number, ChainRole>) {
  const sent: Array<{ subject: string; data: Uint8Array }> = [];
  const store = { commitLocal: () => Promise.resolve() } as unknown as Store;
  const r = new ChainReplicator({
    me,
    store,
    subjects: S,
    chainOf: (shard) => chains[shard],
    // Objects are named after their shard: `o<shard>-...`.
    shardOf: (_type, id) => Number(/^o(\d+)-/.exec(id)?.[1] ?? -1),
    headed: () => Object.entries(chains).filter(([, c]) => c.chain[0] === me).map(([s]) => Number(s)),
    publish: (subject, data) => sent.push({ subject, data }),
    log: () => undefined,
    onFatal: (err) => { throw err; },
    resendIntervalMs: 60_000,
  }, 1);
  return { r, sent };
}

const rec = (shard: number, n: number): CommitRecord => ({ changes: [{ object: { type: 'T', id: `o${shard}-${n}` }, meta: { version: 1, createdAtMs: 1 }, writes: [] }] });

function append(origin: string, shard: number, epoch: number, from: string, seqs: number[]): Uint8Array {
  return lambdastore.ChainAppend.encode({ origin, shard, epoch, from, items: seqs.map((seq) => ({ seq, entry: encodeEntry(rec(shard, seq)) })) }).finish();
}

const acks = (sent: Array<{ subject: string; data: Uint8Array }>, to: string) =>
  sent.filter((m) => m.subject === S.chain(to, 'ack')).map((m) => Number(lambdastore.ChainAck.decode(m.data).seq));

const settle = () => new Promise((r) => setImmediate(r));

describe('chain state transfer positions', () => {
  it('a predecessor in two groups hands a joiner only the streams of the shards it asked for', async () => {
    // b heads shard 1 ([b,c,a]) and is the middle of shard 0 ([a,b,c]): c asks b for each group apart.
    const chains = { 0: { chain: ['a', 'b', 'c'], epoch: 2 }, 1: { chain: ['b', 'c', 'a'], epoch: 2 } };
    const { r } = node('b', chains);
    r.onAppend(append('a@1.0', 0, 2, 'a', [1, 2, 3]), () => true);
    void r.replicate(rec(1, 1), Promise.resolve()).catch(() => undefined);
    await settle();
    const own = r.positionsFor('c', new Set([1]));
    expect(own.map((p) => [p.shard, Number(p.seq)])).to.deep.equal([[1, 1]]);
    expect(own[0]!.origin).to.not.equal('a@1.0');
    expect(r.positionsFor('c', new Set([0])).map((p) => [p.origin, Number(p.seq)])).to.deep.equal([['a@1.0', 3]]);
    r.close();
  });

  it('a joiner keeps a stream it already follows: no gap, nothing re-acknowledged from the start', async () => {
    const chains = { 0: { chain: ['a', 'b', 'c'], epoch: 2 } };
    const { r, sent } = node('c', chains);
    r.installPositions([{ origin: 'a@1.0', seq: 5, shard: 0 }]);
    r.onAppend(append('a@1.0', 0, 2, 'b', [6, 7, 8]), () => true);
    await settle();
    expect(acks(sent, 'b').at(-1)).to.equal(8);
    // A later snapshot (another session) names the same stream at an older point.
    r.installPositions([{ origin: 'a@1.0', seq: 5, shard: 0 }]);
    r.onAppend(append('a@1.0', 0, 2, 'b', [9]), () => true);
    await settle();
    expect(acks(sent, 'b').at(-1)).to.equal(9);
    expect(r.positionsFor('x', new Set([0]))).to.deep.equal([]); // c is the tail: no successor
    r.close();
  });
});
