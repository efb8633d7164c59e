/**
 * Cycle search and naming. For each SCC of the ww/wr/rw graph, look for the most severe cycle
 * first: G0 (ww only), G1c (ww+wr), G-single (exactly one rw), G2-item (any). With real-time
 * checking, SCCs that only exist thanks to rt edges then get the same four phases with rt allowed
 * (the "-realtime" kinds). Because each phase runs only when the earlier ones found nothing in that
 * component, any cycle a later phase finds has the edges its name claims; the final name is still
 * computed from the cycle's actual edges, so a search cut off by its budget cannot mislabel one.
 */
import { Graph, RT, RW, WR, WW, type EdgeInfo } from './graph.js';
import type { Indexed } from './history.js';
import { fmtValue } from './report.js';
import { GraphSearch } from './scc.js';
import type { Anomaly, CycleKind, CycleStep, EdgeKind } from './types.js';

interface Phase {
  mask: number;
  /** Exactly one rw edge, the rest from `mask`. */
  single?: boolean;
}

/** Preferred edge kind for a step when a pair has several: fewer rw / rt edges = stronger claim. */
const PREFERENCE = [WW, WR, RT, RW] as const;
const KIND_NAME: Record<number, EdgeKind> = { [WW]: 'ww', [WR]: 'wr', [RW]: 'rw', [RT]: 'rt' };
/** Start nodes tried per component when looking for a short cycle. */
const CYCLE_STARTS = 6;

export function findCycleAnomalies(ix: Indexed, g: Graph, realtime: boolean, budget: number): Anomaly[] {
  const search = new GraphSearch(g);
  const base = WW | WR | RW;
  const plain: Phase[] = [{ mask: WW }, { mask: WW | WR }, { mask: WW | WR, single: true }, { mask: base }];
  const timed: Phase[] = [{ mask: WW | RT }, { mask: WW | WR | RT }, { mask: WW | WR | RT, single: true }, { mask: base | RT }];
  const all = Array.from({ length: g.n }, (_, i) => i).filter((i) => ix.analysed[i]);
  const anomalies: Anomaly[] = [];
  const run = (comp: number[], phases: Phase[]) => {
    for (const phase of phases) {
      const cycles = phase.single ? singleRwCycle(search, g, comp, phase.mask, budget) : cyclesIn(search, comp, phase.mask);
      if (cycles.length === 0) continue;
      for (const c of cycles) anomalies.push(describeCycle(ix, g, c));
      return;
    }
  };
  // Plain serializability first, component by component, so that real-time edges (which tie the
  // whole history into a few huge components) do not hide or merge these reports.
  for (const comp of search.components(all, base)) run(comp, plain);
  if (realtime) {
    for (const comp of search.components(all, base | RT)) {
      if (search.components(comp, base).length === 0) run(comp, timed);
    }
  }
  return anomalies;
}

interface FoundCycle {
  /** Nodes, first repeated at the end. */
  nodes: number[];
  /** Allowed kinds per step. */
  masks: number[];
}

/** One short cycle per nontrivial sub-component under `mask`. */
function cyclesIn(search: GraphSearch, comp: number[], mask: number): FoundCycle[] {
  const found: FoundCycle[] = [];
  for (const sub of search.components(comp, mask)) {
    const stamp = search.mark(sub);
    let best: number[] | undefined;
    for (let i = 0; i < sub.length && i < CYCLE_STARTS; i++) {
      const start = sub[i]!;
      const p = search.shortestPath(start, (x) => x === start, mask, stamp);
      if (p && (!best || p.length < best.length)) best = p;
      if (best && best.length === 3) break; // two txns: cannot do better
    }
    if (best) found.push({ nodes: best, masks: best.slice(1).map(() => mask) });
  }
  return found;
}

/**
 * A cycle made of one rw edge u->v plus a path v ~> u without rw edges. One BFS per rw target v
 * checks all of v's rw predecessors at once; targets whose predecessor sits in v's own ww/wr
 * component are tried first, as they surely close a cycle. In huge components the search stops
 * after `budget` edge visits, and a cycle found later by the G2 phase is named by its real edges.
 */
function singleRwCycle(search: GraphSearch, g: Graph, comp: number[], pathMask: number, budget: number): FoundCycle[] {
  const subOf = new Map<number, number>();
  search.components(comp, pathMask).forEach((sub, i) => sub.forEach((v) => subOf.set(v, i)));
  const stamp = search.mark(comp);
  const rwPreds = new Map<number, Set<number>>();
  const sure: number[] = [];
  for (const u of comp) {
    for (const e of g.out[u]!) {
      if (!(e.mask & RW) || !search.inSet(e.to, stamp)) continue;
      let s = rwPreds.get(e.to);
      if (!s) rwPreds.set(e.to, (s = new Set()));
      s.add(u);
      if (subOf.has(u) && subOf.get(u) === subOf.get(e.to)) sure.push(e.to);
    }
  }
  const sureSet = new Set(sure);
  const order = [...sureSet, ...[...rwPreds.keys()].filter((v) => !sureSet.has(v))];
  let best: number[] | undefined;
  let tries = 0;
  search.work = 0;
  for (const v of order) {
    if (search.work > budget || (best && (best.length === 3 || ++tries > CYCLE_STARTS))) break;
    const preds = rwPreds.get(v)!;
    const p = search.shortestPath(v, (x) => preds.has(x), pathMask, stamp);
    if (p && (!best || p.length + 1 < best.length)) best = [p[p.length - 1]!, ...p];
  }
  if (!best) return [];
  return [{ nodes: best, masks: best.slice(1).map((_, i) => (i === 0 ? RW : pathMask)) }];
}

function describeCycle(ix: Indexed, g: Graph, c: FoundCycle): Anomaly {
  const steps: CycleStep[] = [];
  let rw = 0;
  let wr = false;
  let rt = false;
  for (let i = 0; i + 1 < c.nodes.length; i++) {
    const from = c.nodes[i]!;
    const to = c.nodes[i + 1]!;
    const e = g.get(from, to)!;
    const bit = PREFERENCE.find((b) => e.mask & c.masks[i]! & b)!;
    if (bit === RW) rw++;
    if (bit === WR) wr = true;
    if (bit === RT) rt = true;
    const info = Graph.infoOf(e, bit);
    steps.push({
      from: ix.names[from]!, to: ix.names[to]!, edge: KIND_NAME[bit]!,
      ...(info.key === undefined ? {} : { key: info.key }),
      explanation: explainEdge(ix.names[from]!, ix.names[to]!, bit, info),
    });
  }
  const base = rw === 0 ? (wr ? 'G1c' : 'G0') : rw === 1 ? 'G-single' : 'G2-item';
  const kind = (rt ? `${base}-realtime` : base) as CycleKind;
  const txns = c.nodes.slice(0, -1).map((v) => ix.names[v]!);
  const explanation =
    `${kind} cycle ${[...txns, txns[0]].join(' -> ')}: ` +
    steps.map((s) => `${s.explanation} [${s.edge}]`).join('; ') +
    `. Each edge forces its first txn before its second, so ${txns[0]} would precede itself: no serial order${rt ? ' consistent with real time' : ''} exists.`;
  return { kind, txns, cycle: steps, explanation };
}

function explainEdge(a: string, b: string, bit: number, info: EdgeInfo): string {
  const k = info.key ?? '?';
  const v1 = info.v1 ?? null;
  const v2 = info.v2 ?? null;
  const upTo = (v: string | null) => (v === null ? `${k} as the empty list` : `${k} up to ${JSON.stringify(v)}`);
  switch (bit) {
    case WW:
      if (info.list) {
        return info.inferred
          ? `${a} appended ${JSON.stringify(v1)} to ${k}, and ${b} read ${upTo(v1)} and then appended ${JSON.stringify(v2)}`
          : `${a} appended ${JSON.stringify(v1)} to ${k} and ${b} appended the next element ${JSON.stringify(v2)}`;
      }
      return info.inferred
        ? `${a} wrote ${k}=${fmtValue(v1)}, and ${b} read it and then wrote ${k}=${fmtValue(v2)}`
        : `${a} wrote ${k}=${fmtValue(v1)} and ${b} wrote the next version ${k}=${fmtValue(v2)}`;
    case WR:
      return info.list
        ? `${b} read ${upTo(v1)}, which ${a} appended`
        : `${b} read ${k}=${fmtValue(v1)}, written by ${a}`;
    case RW:
      if (info.list) {
        return info.inferred
          ? `${a} read ${upTo(v1)}, and ${b} also read it and then appended ${JSON.stringify(v2)} after it`
          : `${a} read ${upTo(v1)} and ${b} appended the next element ${JSON.stringify(v2)}`;
      }
      return info.inferred
        ? `${a} read ${k}=${fmtValue(v1)}, and ${b} also read it and then wrote the later version ${k}=${fmtValue(v2)}`
        : `${a} read ${k}=${fmtValue(v1)} and ${b} wrote the next version ${k}=${fmtValue(v2)}`;
    default:
      return `${a} finished (t=${info.t1}) before ${b} started (t=${info.t2})`;
  }
}
