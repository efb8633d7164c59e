/** The dependency graph: nodes are txn indices, one edge object per ordered pair carrying kind bits. */

export const WW = 1;
export const WR = 2;
export const RW = 4;
export const RT = 8;

/** What to say about one edge of one kind (kept small: only the first reason per pair and kind). */
export interface EdgeInfo {
  key?: string;
  list?: boolean;
  /** ww: earlier value; wr: value read; rw: version read (null = initial). */
  v1?: string | null;
  /** ww / rw: the later value. */
  v2?: string | null;
  /** Derived from "read v, then wrote w" rather than from a known total order: "a later version". */
  inferred?: boolean;
  /** rt: end of the earlier txn, start of the later one. */
  t1?: number;
  t2?: number;
}

export interface Edge {
  to: number;
  mask: number;
  info: [EdgeInfo?, EdgeInfo?, EdgeInfo?, EdgeInfo?];
}

const bitIndex = (bit: number): 0 | 1 | 2 | 3 => (bit === WW ? 0 : bit === WR ? 1 : bit === RW ? 2 : 3);

export class Graph {
  readonly out: Edge[][];
  /** Distinct (from, to, kind) triples. */
  edgeCount = 0;
  private readonly index = new Map<number, Edge>();

  constructor(readonly n: number) {
    this.out = Array.from({ length: n }, () => []);
  }

  add(from: number, to: number, bit: number, info: EdgeInfo): void {
    if (from === to) return; // a txn never depends on itself; own reads are checked as "internal"
    const id = from * this.n + to;
    let e = this.index.get(id);
    if (!e) {
      e = { to, mask: 0, info: [undefined, undefined, undefined, undefined] };
      this.index.set(id, e);
      this.out[from]!.push(e);
    }
    if (e.mask & bit) return;
    e.mask |= bit;
    e.info[bitIndex(bit)] = info;
    this.edgeCount++;
  }

  get(from: number, to: number): Edge | undefined {
    return this.index.get(from * this.n + to);
  }

  static infoOf(e: Edge, bit: number): EdgeInfo {
    return e.info[bitIndex(bit)] ?? {};
  }
}
