/**
 * Storage commit records <-> their wire form (ChainEntry): what travels down a chain is exactly
 * the durable unit the head wrote, so every replica applies the same batches in the same order.
 */
import { lambdastore } from '@lambdastore/proto';
import type { CommitRecord, ObjectChange, TxnRecordChange } from '@lambdastore/storage';

const EMPTY = new Uint8Array(0);

export function encodeEntry(rec: CommitRecord): Uint8Array {
  const msg: lambdastore.IChainEntry = {
    changes: rec.changes.map((c) => ({
      object: { type: c.object.type, id: c.object.id },
      version: c.meta.version,
      createdAtMs: c.meta.createdAtMs,
      writes: c.writes.map(([key, value]) => (value === null ? { key, deleted: true } : { key, value })),
    })),
    txn: (rec.txn ?? []).map((t) => (t.value === null ? { decision: t.kind === 'decision', txnId: t.txnId, deleted: true } : { decision: t.kind === 'decision', txnId: t.txnId, value: t.value })),
  };
  if (rec.dedup) {
    const d = rec.dedup;
    msg.dedup = { object: { type: d.object.type, id: d.object.id }, key: d.key, expiresAtMs: d.record.expiresAtMs, fingerprint: d.record.fingerprint, response: d.record.response };
  }
  return lambdastore.ChainEntry.encode(msg).finish();
}

export function decodeEntry(bytes: Uint8Array): CommitRecord {
  const m = lambdastore.ChainEntry.decode(bytes);
  const changes: ObjectChange[] = m.changes.map((c) => ({
    object: { type: c.object?.type ?? '', id: c.object?.id ?? '' },
    meta: { version: Number(c.version ?? 0), createdAtMs: c.createdAtMs ?? 0 },
    writes: (c.writes ?? []).map((w) => [w.key ?? '', w.deleted ? null : w.value ?? EMPTY] as const),
  }));
  const txn: TxnRecordChange[] = m.txn.map((t) => ({ kind: t.decision ? 'decision' : 'prepare', txnId: t.txnId ?? '', value: t.deleted ? null : t.value ?? EMPTY }));
  const rec: CommitRecord = { changes, txn };
  if (m.dedup) {
    const d = m.dedup;
    rec.dedup = { object: { type: d.object?.type ?? '', id: d.object?.id ?? '' }, key: d.key ?? '', record: { expiresAtMs: d.expiresAtMs ?? 0, fingerprint: d.fingerprint ?? EMPTY, response: d.response ?? EMPTY } };
  }
  return rec;
}

/** The objects a record touches (its shard decides which chain carries it). */
export function objectsOf(rec: CommitRecord): Array<{ type: string; id: string }> {
  const out = rec.changes.map((c) => c.object);
  if (rec.dedup) out.push(rec.dedup.object);
  for (const t of rec.txn ?? []) {
    if (t.kind !== 'prepare' || t.value === null) continue;
    for (const p of lambdastore.TxnPrepare.decode(t.value).parts) out.push({ type: p.object?.type ?? '', id: p.object?.id ?? '' });
  }
  return out;
}
