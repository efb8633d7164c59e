/**
 * Key layout in the worker's LevelDB (one database per worker, holding every shard it serves):
 *
 *   o \0 <type> \0 <id>               -> object meta (version, creation time)
 *   d \0 <type> \0 <id> \0 <entry>     -> entry value: one tag byte (1 JSON text, 2 raw bytes) + payload
 *   k \0 <type> \0 <id> \0 <idemKey>   -> dedup record: the stored response of a finished call
 *   x \0 <expiry ms, 16 digits> \0 <dedup record key>  -> (empty) expiry index, swept in time order
 *   p \0 <txn id>                     -> a participant's prepared part (two-phase commit)
 *   c \0 <txn id>                     -> a root's commit decision, until every participant acknowledged
 *
 * Everything of one object shares the `<type>\0<id>` stem, so an object (with its dedup records)
 * can later be moved or snapshotted as a few key ranges. Type names and ids never contain NUL.
 */

export interface ObjectKey {
  readonly type: string;
  readonly id: string;
}

const SEP = '\u0000';
/** Sorts after every character a key can contain, closing a range. */
const HIGH = '\uffff';

export const objectStem = (o: ObjectKey): string => o.type + SEP + o.id;
export const metaKey = (o: ObjectKey): string => 'o' + SEP + objectStem(o);
export const entryPrefix = (o: ObjectKey): string => 'd' + SEP + objectStem(o) + SEP;
export const entryKey = (o: ObjectKey, entry: string): string => entryPrefix(o) + entry;
export const dedupPrefix = (o: ObjectKey): string => 'k' + SEP + objectStem(o) + SEP;
export const dedupKey = (o: ObjectKey, idempotencyKey: string): string => dedupPrefix(o) + idempotencyKey;

/** Expiry index entry of a dedup record: sorts by expiry time, so a sweep reads only what expired. */
export const EXPIRY_PREFIX = 'x' + SEP;
export const expiryKey = (expiresAtMs: number, recordKey: string): string =>
  EXPIRY_PREFIX + String(Math.max(0, Math.floor(expiresAtMs))).padStart(16, '0') + SEP + recordKey;
export function parseExpiryKey(key: string): { expiresAtMs: number; recordKey: string } {
  const body = key.slice(EXPIRY_PREFIX.length);
  return { expiresAtMs: Number(body.slice(0, 16)), recordKey: body.slice(17) };
}

export const txnRecordKey = (kind: 'prepare' | 'decision', txnId: string): string => (kind === 'prepare' ? 'p' : 'c') + SEP + txnId;

export function rangeOf(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: prefix + HIGH };
}

/** What a raw key belongs to: an object's meta, entry or dedup record, its expiry index, or a txn record. */
export type ParsedStorageKey =
  | { kind: 'meta' | 'entry' | 'dedup' | 'expiry'; object: ObjectKey }
  | { kind: 'prepare' | 'decision'; txnId: string }
  | { kind: 'other' };

/** Classifies a raw key of the layout above (state transfer sends a shard's keys only). */
export function parseStorageKey(key: string): ParsedStorageKey {
  const tag = key[0];
  if (key[1] !== SEP) return { kind: 'other' };
  if (tag === 'x') return parseStorageKey(parseExpiryKey(key).recordKey).kind === 'dedup' ? { kind: 'expiry', object: objectOfStem(parseExpiryKey(key).recordKey.slice(2)) } : { kind: 'other' };
  if (tag === 'p' || tag === 'c') return { kind: tag === 'p' ? 'prepare' : 'decision', txnId: key.slice(2) };
  const kind = tag === 'o' ? 'meta' : tag === 'd' ? 'entry' : tag === 'k' ? 'dedup' : undefined;
  if (!kind) return { kind: 'other' };
  return { kind, object: objectOfStem(key.slice(2)) };
}

/** `<type> \0 <id> [\0 ...]` -> the object. */
function objectOfStem(rest: string): ObjectKey {
  const a = rest.indexOf(SEP);
  const b = rest.indexOf(SEP, a + 1);
  return { type: rest.slice(0, a), id: b < 0 ? rest.slice(a + 1) : rest.slice(a + 1, b) };
}
