/**
 * Building ww / wr / rw (and optional rt) edges, and the lost-update check, which needs the same
 * grouping of readers by version.
 *
 * Edges from a known order use immediate successors (Adya). Edges inferred from "T read v, then
 * wrote w" only know that w comes after v; they are still sound (T must follow v's writer, and every
 * other reader of v must precede T) and a cycle through them maps onto a cycle of immediate edges
 * with the same number of rw edges, so the classification is unchanged.
 */
import type { ExtRead, Indexed } from './history.js';
import { Graph, RT, RW, WR, WW } from './graph.js';
import { fmtValue, type Reporter } from './report.js';
import type { KeyOrder } from './versions.js';

export function buildGraph(ix: Indexed, orders: Map<string, KeyOrder>, realtime: boolean, rep: Reporter): Graph {
  const g = new Graph(ix.txns.length);
  const writerOf = (key: string, v: string): number | undefined => {
    const ref = ix.writers.get(key)?.get(v);
    return ref && ix.analysed[ref.txn] ? ref.txn : undefined;
  };

  // ww: consecutive versions of a totally ordered key.
  for (const [key, { order }] of orders) {
    const list = ix.keyKind.get(key) === 'list';
    for (let i = 1; i < order.length; i++) {
      const a = writerOf(key, order[i - 1]!)!;
      const b = writerOf(key, order[i]!)!;
      g.add(a, b, WW, { key, list, v1: order[i - 1]!, v2: order[i]! });
    }
  }

  // wr and rw from each external read; readers grouped by version for inference and lost updates.
  const byVersion = new Map<string, Map<string | null, ExtRead[]>>();
  for (const r of ix.extReads) {
    if (r.version !== null) {
      const w = writerOf(r.key, r.version);
      if (w !== undefined) g.add(w, r.txn, WR, { key: r.key, list: r.list, v1: r.version });
    }
    const o = orders.get(r.key);
    if (o) {
      const at = r.version === null ? -1 : o.pos.get(r.version);
      const next = at === undefined ? undefined : o.order[at + 1];
      if (next !== undefined) g.add(r.txn, writerOf(r.key, next)!, RW, { key: r.key, list: r.list, v1: r.version, v2: next });
    }
    let m = byVersion.get(r.key);
    if (!m) byVersion.set(r.key, (m = new Map()));
    let arr = m.get(r.version);
    if (!arr) m.set(r.version, (arr = []));
    arr.push(r);
  }

  for (const [key, m] of byVersion) {
    for (const [version, readers] of m) {
      const rmw = readers.filter((r) => r.rmw);
      if (rmw.length === 0) continue;
      const list = rmw[0]!.list;
      const w = version === null ? undefined : writerOf(key, version);
      for (const t of rmw) {
        if (w !== undefined) g.add(w, t.txn, WW, { key, list, v1: version, v2: t.wrote, inferred: true });
        for (const r of readers) g.add(r.txn, t.txn, RW, { key, list, v1: version, v2: t.wrote, inferred: true });
      }
      if (rmw.length >= 2) reportLostUpdate(ix, key, version, w, rmw, rep);
    }
  }

  if (realtime) addRealtimeEdges(ix, g);
  return g;
}

function reportLostUpdate(ix: Indexed, key: string, version: string | null, writer: number | undefined, rmw: ExtRead[], rep: Reporter): void {
  const names = rmw.map((r) => ix.names[r.txn]!);
  const list = rmw[0]!.list;
  const seen = list
    ? version === null ? `${key} as the empty list` : `${key} up to ${JSON.stringify(version)}`
    : `${key}=${fmtValue(version)}`;
  const by = writer === undefined ? '' : ` (written by ${ix.names[writer]})`;
  const wrote = rmw.map((r) => `${ix.names[r.txn]} ${list ? 'appended' : 'wrote'} ${fmtValue(r.wrote)}`).join(', ');
  rep.add({
    kind: 'lost-update', txns: names, key,
    explanation: `P4 lost update: ${names.length === 2 ? `${names[0]} and ${names[1]} both` : `${names.join(', ')} all`} read ${seen}${by} and then updated ${key} (${wrote}); ` +
      'in any serial order only one of them can directly follow that version',
  });
}

/**
 * rt edges without the quadratic blow-up: sweep start/end events in time order, keeping a frontier
 * of finished txns not yet followed by another finished txn. A starting txn gets edges from the
 * frontier only; everything older reaches it through the frontier, so the transitive closure is the
 * same. Unknown txns never get outgoing rt edges: they may have committed after the client gave up.
 */
function addRealtimeEdges(ix: Indexed, g: Graph): void {
  const events: Array<{ time: number; end: boolean; txn: number }> = [];
  ix.txns.forEach((t, i) => {
    if (!ix.analysed[i]) return;
    if (typeof t.start === 'number') events.push({ time: t.start, end: false, txn: i });
    if (t.status === 'committed' && typeof t.end === 'number') events.push({ time: t.end, end: true, txn: i });
  });
  // At equal times starts go first: T1.end == T2.start is not "strictly before".
  events.sort((a, b) => a.time - b.time || Number(a.end) - Number(b.end));
  const frontier = new Set<number>();
  const preds = new Map<number, number[]>();
  for (const ev of events) {
    const t = ix.txns[ev.txn]!;
    if (!ev.end) {
      if (frontier.size === 0) continue;
      const p = [...frontier];
      preds.set(ev.txn, p);
      for (const f of p) g.add(f, ev.txn, RT, { t1: ix.txns[f]!.end!, t2: t.start! });
    } else {
      for (const p of preds.get(ev.txn) ?? []) frontier.delete(p);
      preds.delete(ev.txn);
      frontier.add(ev.txn);
    }
  }
}
