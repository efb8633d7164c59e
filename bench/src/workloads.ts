/**
 * The workloads, identical for every system: which object a call goes to, which entries, read or
 * write. A call checks what the system answered (bytes read or written): a wrong answer counts as
 * an error (`WRONG_RESULT`), never as a call.
 */
import { CALL_BYTES, pickEntries, zipfSampler } from './values.js';
import type { BenchSystem } from './systems/system.js';

export interface Workload {
  id: string;
  title: string;
  /** Share of calls that write (0..1). */
  writeShare: number;
  /** The object of the next call. */
  nextObject: () => string;
}

export const HOT_OBJECT = 'hot';

export function microId(i: number): string {
  return `m${i}`;
}

export function throughputWorkloads(objects: number): Workload[] {
  const uniform = () => microId(Math.floor(Math.random() * objects));
  const zipf = zipfSampler(objects, 0.99);
  const zipfian = () => microId(zipf());
  const list: Workload[] = [];
  for (const [dist, next] of [['uniform', uniform], ['Zipf 0.99', zipfian]] as const) {
    for (const w of [0, 0.5, 1]) {
      list.push({ id: `micro-w${w * 100}-${dist === 'uniform' ? 'uniform' : 'zipf'}`, title: `micro, ${w * 100} % writes, ${dist}`, writeShare: w, nextObject: next });
    }
  }
  list.push({ id: 'hot-w50', title: 'one hot object, 50 % writes', writeShare: 0.5, nextObject: () => HOT_OBJECT });
  return list;
}

export class WrongResult extends Error {
  readonly code = 'WRONG_RESULT';
}

/** One call of `w` on `sys`, checked. */
export function callOf(sys: BenchSystem, w: Workload): () => Promise<void> {
  return async () => {
    const id = w.nextObject();
    const entries = pickEntries();
    const write = Math.random() < w.writeShare;
    const got = write ? await sys.write(id, entries, Math.floor(Math.random() * 1e9)) : await sys.read(id, entries);
    if (got !== CALL_BYTES) throw new WrongResult(`${write ? 'write' : 'read'} of ${entries.length} entries of ${id} answered ${JSON.stringify(got)}, expected ${CALL_BYTES}`);
  };
}
