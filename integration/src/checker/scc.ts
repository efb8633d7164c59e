/**
 * Strongly connected components (Tarjan) and shortest paths (BFS) on a node subset and an edge-kind
 * mask. Both are iterative: cycles in a broken run can span tens of thousands of txns, far deeper
 * than the JS call stack. Scratch arrays are allocated once and reset only where touched, because the
 * classifier calls these many times on small subsets.
 */
import type { Graph } from './graph.js';

export class GraphSearch {
  private readonly member: Int32Array;
  private stamp = 0;
  private readonly index: Int32Array;
  private readonly low: Int32Array;
  private readonly onStack: Uint8Array;
  private readonly parent: Int32Array;
  /** Edges visited by BFS since the last resetWork(); lets callers bound their search. */
  work = 0;

  constructor(private readonly g: Graph) {
    const n = g.n;
    this.member = new Int32Array(n);
    this.index = new Int32Array(n).fill(-1);
    this.low = new Int32Array(n);
    this.onStack = new Uint8Array(n);
    this.parent = new Int32Array(n).fill(-1);
  }

  /** Marks a node subset; returns its stamp for `inSet`. A new mark invalidates older ones. */
  mark(nodes: readonly number[]): number {
    const s = ++this.stamp;
    for (const v of nodes) this.member[v] = s;
    return s;
  }

  inSet(v: number, stamp: number): boolean {
    return this.member[v] === stamp;
  }

  /** SCCs with more than one node among `nodes`, following only edges whose mask meets `mask`. */
  components(nodes: readonly number[], mask: number): number[][] {
    const stamp = this.mark(nodes);
    const { index, low, onStack } = this;
    const out = this.g.out;
    const touched: number[] = [];
    const stack: number[] = [];
    const frames: Array<{ v: number; i: number }> = [];
    const result: number[][] = [];
    let counter = 0;
    for (const root of nodes) {
      if (index[root] !== -1) continue;
      index[root] = low[root] = counter++;
      touched.push(root);
      stack.push(root);
      onStack[root] = 1;
      frames.push({ v: root, i: 0 });
      while (frames.length) {
        const f = frames[frames.length - 1]!;
        const edges = out[f.v]!;
        let descended = false;
        while (f.i < edges.length) {
          const e = edges[f.i++]!;
          if (!(e.mask & mask) || this.member[e.to] !== stamp) continue;
          const w = e.to;
          if (index[w] === -1) {
            index[w] = low[w] = counter++;
            touched.push(w);
            stack.push(w);
            onStack[w] = 1;
            frames.push({ v: w, i: 0 });
            descended = true;
            break;
          }
          if (onStack[w] && index[w]! < low[f.v]!) low[f.v] = index[w]!;
        }
        if (descended) continue;
        frames.pop();
        const v = f.v;
        if (low[v] === index[v]) {
          const comp: number[] = [];
          let w: number;
          do {
            w = stack.pop()!;
            onStack[w] = 0;
            comp.push(w);
          } while (w !== v);
          if (comp.length > 1) result.push(comp);
        }
        const p = frames[frames.length - 1];
        if (p && low[v]! < low[p.v]!) low[p.v] = low[v]!;
      }
    }
    for (const v of touched) index[v] = -1;
    return result;
  }

  /**
   * Shortest path from `from` to the nearest node accepted by `isTarget` (node list, both ends
   * included) inside the subset marked with `stamp`, over edges meeting `mask`; undefined if none.
   * If `from` itself is a target, the path returns to it: a shortest cycle through `from`.
   */
  shortestPath(from: number, isTarget: (v: number) => boolean, mask: number, stamp: number): number[] | undefined {
    const { parent } = this;
    const out = this.g.out;
    const touched: number[] = [];
    const queue: number[] = [from];
    let end = -1;
    let last = -1;
    // parent[from] stays -1: `from` is never re-entered except as the end of a cycle.
    for (let qi = 0; qi < queue.length && end === -1; qi++) {
      const u = queue[qi]!;
      for (const e of out[u]!) {
        if (!(e.mask & mask) || this.member[e.to] !== stamp) continue;
        this.work++;
        const w = e.to;
        if (w !== from && parent[w] !== -1) continue;
        if (isTarget(w)) {
          end = w;
          last = u;
          break;
        }
        if (w === from) continue;
        parent[w] = u;
        touched.push(w);
        queue.push(w);
      }
    }
    let path: number[] | undefined;
    if (end !== -1) {
      path = [end];
      for (let v = last; v !== from; v = parent[v]!) path.push(v);
      path.push(from);
      path.reverse();
    }
    for (const v of touched) parent[v] = -1;
    return path;
  }
}
