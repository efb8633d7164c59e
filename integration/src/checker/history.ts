/**
 * Indexing a history: who wrote which value, which transactions count as committed, and what each
 * transaction observed from others ("external" reads), plus the checks that need only one txn.
 */
import type { History, Txn } from './types.js';
import { fmtList, fmtValue, type Reporter } from './report.js';

export type KeyKind = 'register' | 'list';

export interface WriteRef {
  txn: number;
  /** False when the same txn wrote the key again later: the value was never installed (G1b bait). */
  final: boolean;
}

/**
 * What a txn saw of a key before (or, for lists, apart from) its own writes. `version` is the value
 * that identifies the version read: the register value, or the last element of the list; null = the
 * initial version.
 */
export interface ExtRead {
  txn: number;
  key: string;
  list: boolean;
  version: string | null;
  /** The observed list (lists only), without the txn's own appends. */
  observed?: readonly string[];
  /** Read before any own write of the key, then wrote it: read-modify-write (lost-update bait). */
  rmw: boolean;
  /** The txn's last value written / appended to the key, if any. */
  wrote: string | null;
}

export interface ListRead {
  txn: number;
  list: readonly string[];
}

export interface Indexed {
  txns: History;
  names: string[];
  /** 1 when the txn is in the graph: committed, or unknown but observed. */
  analysed: Uint8Array;
  promoted: number;
  dropped: number;
  keyKind: Map<string, KeyKind>;
  /** Keys used inconsistently; left out of the analysis after being reported. */
  badKeys: Set<string>;
  /** key -> value -> first writer (duplicates are reported, the first one wins). */
  writers: Map<string, Map<string, WriteRef>>;
  extReads: ExtRead[];
  /** Every read of a list key by an analysed txn (for prefix checks and the version order). */
  listReads: Map<string, ListRead[]>;
}

const listOf = (v: string | null | readonly string[]): readonly string[] =>
  v === null ? [] : (v as readonly string[]);

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function endsWith(list: readonly string[], tail: readonly string[]): boolean {
  if (tail.length > list.length) return false;
  const off = list.length - tail.length;
  for (let i = 0; i < tail.length; i++) if (list[off + i] !== tail[i]) return false;
  return true;
}

/** Shape checks and key kinds; anything malformed is reported rather than thrown. */
function classifyKeys(txns: History, rep: Reporter, names: string[]): { keyKind: Map<string, KeyKind>; badKeys: Set<string> } {
  const keyKind = new Map<string, KeyKind>();
  const badKeys = new Set<string>();
  const seenIds = new Map<string, number>();
  txns.forEach((t, i) => {
    const prev = seenIds.get(t.id);
    if (prev !== undefined) {
      rep.add({ kind: 'invalid-history', txns: [t.id], explanation: `transaction id ${t.id} is used twice (positions ${prev} and ${i})` });
    } else seenIds.set(t.id, i);
    for (const op of t.ops) {
      let kind: KeyKind | undefined;
      if (op.kind === 'append') kind = 'list';
      else if (op.kind === 'write') kind = 'register';
      else if (op.kind === 'read') kind = Array.isArray(op.value) ? 'list' : typeof op.value === 'string' ? 'register' : undefined;
      else {
        rep.add({ kind: 'invalid-history', txns: [names[i]!], explanation: `${names[i]} has an op of unknown kind ${JSON.stringify((op as { kind: unknown }).kind)}` });
        continue;
      }
      if (op.kind !== 'read' && typeof op.value !== 'string') {
        rep.add({ kind: 'invalid-history', txns: [names[i]!], key: op.key, explanation: `${names[i]} ${op.kind}s a non-string value to ${op.key}` });
        badKeys.add(op.key);
      }
      if (kind === undefined) continue;
      const had = keyKind.get(op.key);
      if (had === undefined) keyKind.set(op.key, kind);
      else if (had !== kind && !badKeys.has(op.key)) {
        badKeys.add(op.key);
        rep.add({ kind: 'invalid-history', txns: [names[i]!], key: op.key, explanation: `key ${op.key} is used both as a register and as a list (${names[i]} ${op.kind}s it)` });
      }
    }
  });
  return { keyKind, badKeys };
}

export function indexHistory(txns: History, hints: ReadonlyMap<string, readonly string[]> | undefined, rep: Reporter): Indexed {
  const n = txns.length;
  const names = txns.map((t) => t.id);
  const { keyKind, badKeys } = classifyKeys(txns, rep, names);

  // Who wrote what. Uniqueness is what makes reads attributable, so a repeat is a finding, not a crash.
  const writers = new Map<string, Map<string, WriteRef>>();
  for (let i = 0; i < n; i++) {
    const lastRef = new Map<string, WriteRef>();
    for (const op of txns[i]!.ops) {
      if (op.kind === 'read' || badKeys.has(op.key)) continue;
      let m = writers.get(op.key);
      if (!m) writers.set(op.key, (m = new Map()));
      const prev = m.get(op.value);
      if (prev) {
        rep.add({
          kind: 'duplicate-write',
          txns: prev.txn === i ? [names[i]!] : [names[prev.txn]!, names[i]!],
          key: op.key,
          explanation: `${names[prev.txn]} and ${names[i]} both ${op.kind === 'append' ? 'appended' : 'wrote'} ${op.key}=${fmtValue(op.value)}; values must be unique per key (the first write is used)`,
        });
        continue;
      }
      const ref: WriteRef = { txn: i, final: true };
      m.set(op.value, ref);
      const before = lastRef.get(op.key);
      if (before) before.final = false;
      lastRef.set(op.key, ref);
    }
  }

  // Committed txns, plus unknown ones whose effects a committed (or promoted) txn observed: those
  // must have committed. Version-order hints count as observations too.
  const analysed = new Uint8Array(n);
  const queue: number[] = [];
  let promoted = 0;
  for (let i = 0; i < n; i++) if (txns[i]!.status === 'committed') { analysed[i] = 1; queue.push(i); }
  const observe = (key: string, value: string) => {
    const w = writers.get(key)?.get(value);
    if (w && !analysed[w.txn] && txns[w.txn]!.status === 'unknown') {
      analysed[w.txn] = 1;
      promoted++;
      queue.push(w.txn);
    }
  };
  for (const [key, values] of hints ?? []) for (const v of values) observe(key, v);
  while (queue.length) {
    const t = queue.pop()!;
    for (const op of txns[t]!.ops) {
      if (op.kind !== 'read' || op.value === null) continue;
      if (typeof op.value === 'string') observe(op.key, op.value);
      else if (Array.isArray(op.value)) for (const e of op.value as readonly string[]) observe(op.key, e);
    }
  }
  let dropped = 0;
  for (let i = 0; i < n; i++) if (txns[i]!.status === 'unknown' && !analysed[i]) dropped++;

  const extReads: ExtRead[] = [];
  const listReads = new Map<string, ListRead[]>();
  for (let i = 0; i < n; i++) {
    if (analysed[i]) walkTxn(i, txns[i]!, names[i]!, keyKind, badKeys, extReads, listReads, rep);
  }
  return { txns, names, analysed, promoted, dropped, keyKind, badKeys, writers, extReads, listReads };
}

interface KeyState {
  ext?: ExtRead;
  /** The external read came before any own write (only then can a later write be read-modify-write). */
  extFirst: boolean;
  wrote: boolean;
  lastWrite: string | null;
  /** Register: value the txn must read next (after its own read or write). */
  known?: string | null;
  /** List: the full list the txn last read (if any) and what it appended since. */
  knownList?: readonly string[];
  appended: string[];
}

/**
 * One txn in op order. Reads after the txn's own writes carry no news about others, but they must
 * agree with what it wrote ("internal" consistency); the first read of a key is its external read.
 */
function walkTxn(
  i: number,
  t: Txn,
  name: string,
  keyKind: Map<string, KeyKind>,
  badKeys: Set<string>,
  extReads: ExtRead[],
  listReads: Map<string, ListRead[]>,
  rep: Reporter,
): void {
  const state = new Map<string, KeyState>();
  const internal = (key: string, explanation: string) => rep.add({ kind: 'internal', txns: [name], key, explanation });
  for (const op of t.ops) {
    if (badKeys.has(op.key)) continue;
    let s = state.get(op.key);
    if (!s) state.set(op.key, (s = { extFirst: false, wrote: false, lastWrite: null, appended: [] }));
    const isList = keyKind.get(op.key) === 'list';
    if (op.kind === 'write' || op.kind === 'append') {
      s.wrote = true;
      s.lastWrite = op.value;
      if (s.ext && s.extFirst) s.ext.rmw = true;
      if (isList) s.appended.push(op.value);
      else s.known = op.value;
      continue;
    }
    if (!isList) {
      const v = op.value as string | null;
      if (s.known !== undefined && s.known !== v) {
        internal(op.key, `${name} read ${op.key}=${fmtValue(v)} but earlier in the same transaction it ${s.wrote ? 'wrote' : 'read'} ${op.key}=${fmtValue(s.known)}`);
      }
      if (!s.ext && !s.wrote) {
        s.ext = { txn: i, key: op.key, list: false, version: v, rmw: false, wrote: null };
        s.extFirst = true;
      }
      s.known = v;
      continue;
    }
    const list = listOf(op.value);
    let arr = listReads.get(op.key);
    if (!arr) listReads.set(op.key, (arr = []));
    arr.push({ txn: i, list });
    let consistent = true;
    if (s.knownList) {
      const expected = s.knownList.concat(s.appended);
      if (!sameList(list, expected)) {
        consistent = false;
        internal(op.key, `${name} read ${op.key}=${fmtList(list)} but from its own earlier read and appends it must be ${fmtList(expected)}`);
      }
    } else if (s.appended.length && !endsWith(list, s.appended)) {
      consistent = false;
      internal(op.key, `${name} appended ${fmtList(s.appended)} to ${op.key} and then read ${fmtList(list)}, which does not end with its own appends`);
    }
    if (!s.ext && consistent) {
      // A read after own appends still shows what others had installed before them.
      const observed = s.wrote ? list.slice(0, list.length - s.appended.length) : list;
      s.ext = { txn: i, key: op.key, list: true, version: observed.length ? observed[observed.length - 1]! : null, observed, rmw: false, wrote: null };
      s.extFirst = !s.wrote;
    }
    s.knownList = list;
    s.appended = [];
  }
  for (const s of state.values()) {
    if (!s.ext) continue;
    s.ext.wrote = s.lastWrite;
    extReads.push(s.ext);
  }
}
