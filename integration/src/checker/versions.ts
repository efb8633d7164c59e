/**
 * Per-key version orders and the checks on individual observed values.
 *
 * Lists: every read is a prefix of the key's history, so the longest read (or a longer hint) is the
 * version order, and every other read must be a prefix of it. Registers: only a hint gives a total
 * order; without one, edges.ts infers what it can from read-then-write transactions.
 */
import type { Indexed } from './history.js';
import { fmtList, fmtValue, type Reporter } from './report.js';

export interface KeyOrder {
  /** Installed values (by analysed txns), in installation order, each once. */
  order: string[];
  /** value -> index in order. */
  pos: Map<string, number>;
}

function isPrefix(a: readonly string[], b: readonly string[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function firstDifference(a: readonly string[], b: readonly string[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

export function buildOrders(ix: Indexed, hints: ReadonlyMap<string, readonly string[]> | undefined, rep: Reporter): Map<string, KeyOrder> {
  const orders = new Map<string, KeyOrder>();
  for (const [key, kind] of ix.keyKind) {
    if (ix.badKeys.has(key)) continue;
    const o = kind === 'list' ? listOrder(ix, key, hints?.get(key), rep) : registerOrder(ix, key, hints?.get(key), rep);
    if (o) orders.set(key, o);
  }
  checkRegisterReads(ix, rep);
  checkIntermediateReads(ix, rep);
  return orders;
}

/** Keeps the first occurrence of each value whose writer is in the graph. */
function toOrder(ix: Indexed, key: string, values: readonly string[]): KeyOrder {
  const order: string[] = [];
  const pos = new Map<string, number>();
  const w = ix.writers.get(key);
  for (const v of values) {
    if (pos.has(v)) continue;
    const ref = w?.get(v);
    if (!ref || !ix.analysed[ref.txn]) continue;
    pos.set(v, order.length);
    order.push(v);
  }
  return { order, pos };
}

function listOrder(ix: Indexed, key: string, hint: readonly string[] | undefined, rep: Reporter): KeyOrder {
  const reads = ix.listReads.get(key) ?? [];
  let longest: { txn: number; list: readonly string[] } | undefined;
  for (const r of reads) if (!longest || r.list.length > longest.list.length) longest = r;
  let base: readonly string[] = longest?.list ?? [];
  let baseTxn: number | undefined = longest?.txn;
  const who = (t: number | undefined) => (t === undefined ? 'the version-order hint' : ix.names[t]!);
  const reported = new Set<string>();
  const report = (tag: string, add: () => void) => {
    if (!reported.has(tag)) { reported.add(tag); add(); }
  };

  if (hint) {
    if (isPrefix(base, hint)) { base = hint; baseTxn = undefined; }
    else if (!isPrefix(hint, base)) {
      const d = firstDifference(hint, base);
      rep.add({
        kind: 'inconsistent-prefix', txns: longest ? [ix.names[longest.txn]!] : [], key,
        explanation: `${who(longest?.txn)} read ${key}=${fmtList(base)} but the version-order hint says ${fmtList(hint)}; they differ at index ${d}`,
      });
    }
  }

  // Values seen in a list must come from committed appends, once each.
  const checkElements = (list: readonly string[], reader: number | undefined) => {
    const seen = new Set<string>();
    const w = ix.writers.get(key);
    for (const e of list) {
      const ref = w?.get(e);
      if (seen.has(e)) {
        report(`dup|${e}`, () => rep.add({
          kind: 'duplicate-append', txns: [...(ref ? [ix.names[ref.txn]!] : []), ...(reader === undefined ? [] : [ix.names[reader]!])], key,
          explanation: `${who(reader)} read ${key} with element ${JSON.stringify(e)} twice${ref ? ` (${ix.names[ref.txn]} appended it once)` : ''}: an append was applied twice (exactly-once violation)`,
        }));
      }
      seen.add(e);
      if (!ref) {
        report(`garbage|${e}`, () => rep.add({
          kind: 'garbage-read', txns: reader === undefined ? [] : [ix.names[reader]!], key,
          explanation: `${who(reader)} read ${key} containing ${JSON.stringify(e)}, which no transaction appended`,
        }));
      } else if (!ix.analysed[ref.txn] && ix.txns[ref.txn]!.status === 'aborted') {
        report(`g1a|${e}`, () => rep.add({
          kind: 'G1a', txns: [ix.names[ref.txn]!, ...(reader === undefined ? [] : [ix.names[reader]!])], key,
          explanation: `${who(reader)} read ${key} containing ${JSON.stringify(e)}, appended by ${ix.names[ref.txn]}, which aborted`,
        }));
      }
    }
  };

  checkElements(base, baseTxn);
  for (const r of reads) {
    if (r.list === base || isPrefix(r.list, base)) continue;
    const d = firstDifference(r.list, base);
    report(`prefix|${r.txn}`, () => rep.add({
      kind: 'inconsistent-prefix', txns: [ix.names[r.txn]!, ...(baseTxn === undefined ? [] : [ix.names[baseTxn]!])], key,
      explanation: `${ix.names[r.txn]} read ${key}=${fmtList(r.list)} and ${who(baseTxn)} read ${key}=${fmtList(base)}: ` +
        `neither is a prefix of the other (index ${d}: ${JSON.stringify(r.list[d] ?? null)} vs ${JSON.stringify(base[d] ?? null)})`,
    }));
    checkElements(r.list, r.txn);
  }
  return toOrder(ix, key, base);
}

function registerOrder(ix: Indexed, key: string, hint: readonly string[] | undefined, rep: Reporter): KeyOrder | undefined {
  if (!hint) return undefined;
  const w = ix.writers.get(key);
  const seen = new Set<string>();
  for (const v of hint) {
    const ref = w?.get(v);
    if (seen.has(v)) {
      rep.add({ kind: 'invalid-history', txns: [], key, explanation: `the version-order hint for ${key} lists ${fmtValue(v)} twice` });
    } else if (!ref) {
      rep.add({ kind: 'invalid-history', txns: [], key, explanation: `the version-order hint for ${key} lists ${fmtValue(v)}, which no transaction wrote` });
    } else if (!ix.analysed[ref.txn] && ix.txns[ref.txn]!.status === 'aborted') {
      rep.add({
        kind: 'G1a', txns: [ix.names[ref.txn]!], key,
        explanation: `the version order of ${key} contains ${fmtValue(v)}, written by ${ix.names[ref.txn]}, which aborted`,
      });
    }
    seen.add(v);
  }
  return toOrder(ix, key, hint);
}

/** Register reads: each value read must have been written by a committed txn. */
function checkRegisterReads(ix: Indexed, rep: Reporter): void {
  for (const r of ix.extReads) {
    if (r.list || r.version === null) continue;
    const ref = ix.writers.get(r.key)?.get(r.version);
    const reader = ix.names[r.txn]!;
    if (!ref) {
      rep.add({ kind: 'garbage-read', txns: [reader], key: r.key, explanation: `${reader} read ${r.key}=${fmtValue(r.version)}, which no transaction wrote` });
    } else if (!ix.analysed[ref.txn] && ix.txns[ref.txn]!.status === 'aborted') {
      rep.add({
        kind: 'G1a', txns: [ix.names[ref.txn]!, reader], key: r.key,
        explanation: `${reader} read ${r.key}=${fmtValue(r.version)}, written by ${ix.names[ref.txn]}, which aborted`,
      });
    }
  }
}

/** G1b: the version read was overwritten later inside its own txn, so it was never installed. */
function checkIntermediateReads(ix: Indexed, rep: Reporter): void {
  for (const r of ix.extReads) {
    if (r.version === null) continue;
    const ref = ix.writers.get(r.key)?.get(r.version);
    if (!ref || ref.final || ref.txn === r.txn || !ix.analysed[ref.txn]) continue;
    const writer = ix.names[ref.txn]!;
    const reader = ix.names[r.txn]!;
    rep.add({
      kind: 'G1b', txns: [writer, reader], key: r.key,
      explanation: r.list
        ? `${reader} read ${r.key}=${fmtList(r.observed ?? [])}, ending with ${JSON.stringify(r.version)}, an intermediate state: ${writer} appended more to ${r.key} after it in the same transaction`
        : `${reader} read ${r.key}=${fmtValue(r.version)}, an intermediate value: ${writer} wrote it and then overwrote ${r.key} in the same transaction`,
    });
  }
}
