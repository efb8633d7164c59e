/**
 * Linearizability of a single register (Wing & Gong's search, with Lowe's memo of visited states):
 * is there one total order of the operations, consistent with real time (an operation that ended
 * before another began comes first), in which every read returns the latest write before it?
 *
 * An operation with an unknown outcome (a write whose call failed ambiguously, e.g. a timeout)
 * may have taken effect at any moment after it began, or never: it has no end and need not be
 * placed. A read with an unknown outcome tells nothing and should be left out of the history.
 *
 * Exponential in the worst case, fast for histories of a few hundred operations with a handful of
 * clients (states are memoised by the set of placed operations and the register's value).
 */

export interface RegisterOp {
  /** For reports. */
  id: string;
  kind: 'read' | 'write';
  /** Written, or read (null: the register's initial value). Values written should be unique. */
  value: string | null;
  /** When the call was sent and when its reply arrived (any clock common to all clients). */
  start: number;
  /** Undefined: the outcome is unknown (a write only). */
  end?: number;
}

export type LinearizabilityResult =
  | { ok: true; order: string[] }
  | { ok: false; reason: string };

export function checkRegister(history: readonly RegisterOp[], initial: string | null = null): LinearizabilityResult {
  for (const op of history) {
    if (op.end === undefined && op.kind === 'read') return { ok: false, reason: `read ${op.id} has no end: leave reads with unknown outcomes out of the history` };
    if (op.end !== undefined && op.end < op.start) return { ok: false, reason: `${op.id} ends before it starts` };
  }
  const ops = [...history].sort((a, b) => a.start - b.start);
  const n = ops.length;
  const end = ops.map((o) => o.end ?? Infinity);
  const required = ops.filter((o) => o.end !== undefined).length;
  const placed = new Uint8Array(n);
  const seen = new Set<string>();
  const order: number[] = [];
  let deepest: number[] = [];
  let deepestLen = 0;
  const unknown: number[] = [];
  ops.forEach((o, i) => { if (o.end === undefined) unknown.push(i); });

  // `lo`: the lowest operation not placed yet (ignoring unknown outcomes): everything before it is
  // placed, so a state is that index, the placed ones after it, the placed unknown ones, the value.
  let lo = 0;
  while (lo < n && end[lo] === Infinity) lo++;
  let maxPlacedStart = -Infinity;
  const key = (value: string | null): string => {
    const parts: number[] = [];
    for (let i = lo; i < n && ops[i]!.start <= maxPlacedStart; i++) if (placed[i]) parts.push(i);
    for (const u of unknown) if (u < lo && placed[u]) parts.push(u);
    return `${value === null ? '\u0000' : value}\u0001${lo}:${parts.join(',')}`;
  };

  // Depth-first: place one operation that may go next, recurse, undo. Iterative to stay off the
  // call stack for long histories.
  type Frame = { value: string | null; candidates: number[]; next: number; placedRequired: number; lo: number; maxPlacedStart: number };
  const candidatesOf = (): number[] => {
    // Whatever goes next must have begun before every unplaced operation's end. Operations are
    // sorted by start, so the scan stops at the first one that began after the smallest end seen.
    let minEnd = Infinity;
    for (let i = lo; i < n && ops[i]!.start <= minEnd; i++) if (!placed[i] && end[i]! < minEnd) minEnd = end[i]!;
    const out: number[] = [];
    for (const u of unknown) if (u < lo && !placed[u]) out.push(u);
    for (let i = lo; i < n && ops[i]!.start <= minEnd; i++) if (!placed[i]) out.push(i);
    return out;
  };
  const stack: Frame[] = [{ value: initial, candidates: candidatesOf(), next: 0, placedRequired: 0, lo, maxPlacedStart }];
  seen.add(key(initial));
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.placedRequired === required) return { ok: true, order: order.map((i) => ops[i]!.id) };
    if (f.next >= f.candidates.length) {
      // Backtracking from the deepest point reached so far: keep it for the report.
      if (order.length === deepestLen && deepest.length !== deepestLen) deepest = [...order];
      stack.pop();
      const undo = order.pop();
      if (undo !== undefined) placed[undo] = 0;
      const parent = stack[stack.length - 1];
      if (parent) { lo = parent.lo; maxPlacedStart = parent.maxPlacedStart; }
      continue;
    }
    const i = f.candidates[f.next++]!;
    const op = ops[i]!;
    if (op.kind === 'read' && op.value !== f.value) continue;
    const value = op.kind === 'write' ? op.value : f.value;
    placed[i] = 1;
    const prevLo = lo;
    const prevMax = maxPlacedStart;
    if (i === lo) { lo = i + 1; while (lo < n && (placed[lo] || end[lo] === Infinity)) lo++; }
    if (op.start > maxPlacedStart) maxPlacedStart = op.start;
    const k = key(value);
    if (seen.has(k)) {
      placed[i] = 0;
      lo = prevLo;
      maxPlacedStart = prevMax;
      continue;
    }
    seen.add(k);
    order.push(i);
    if (order.length > deepestLen) deepestLen = order.length;
    stack.push({ value, candidates: candidatesOf(), next: 0, placedRequired: f.placedRequired + (op.end !== undefined ? 1 : 0), lo, maxPlacedStart });
  }
  return { ok: false, reason: explain(ops, deepest, initial) };
}

/** Where the longest valid prefix got stuck: the operations that could not come next. */
function explain(ops: readonly RegisterOp[], deepest: readonly number[], initial: string | null): string {
  const placed = new Set(deepest);
  let value = initial;
  for (const i of deepest) if (ops[i]!.kind === 'write') value = ops[i]!.value;
  let minEnd = Infinity;
  ops.forEach((o, i) => { if (!placed.has(i) && o.end !== undefined && o.end < minEnd) minEnd = o.end; });
  const stuck = ops.filter((o, i) => !placed.has(i) && o.start <= minEnd).slice(0, 5);
  const fmt = (o: RegisterOp) => `${o.id} ${o.kind}(${JSON.stringify(o.value)}) [${o.start}, ${o.end ?? '?'}]`;
  return `not linearizable: after ${deepest.length} of ${ops.length} operations (register = ${JSON.stringify(value)}) none of these can come next: ${stuck.map(fmt).join('; ')}`;
}
