/**
 * History model and result types of the serializability checker.
 *
 * Two kinds of keys are supported (a key must be used as one kind only):
 * - registers: `write` installs a value, `read` returns one value (null = the initial value);
 * - lists (Elle "list-append"): `append` adds one element, `read` returns the whole list.
 * Every written value / appended element must be unique per key: that is what lets the checker map
 * an observed value back to the one transaction that produced it.
 */

export interface ReadOp {
  kind: 'read';
  key: string;
  /** Register read: a value or null (never written). List read: the whole list (null = empty). */
  value: string | null | readonly string[];
}
export interface WriteOp {
  kind: 'write';
  key: string;
  value: string;
}
export interface AppendOp {
  kind: 'append';
  key: string;
  value: string;
}
export type Op = ReadOp | WriteOp | AppendOp;

export type TxnStatus = 'committed' | 'aborted' | 'unknown';

export interface Txn {
  id: string;
  ops: readonly Op[];
  /** `unknown`: the client never learned the outcome (timeout, crash). */
  status: TxnStatus;
  /** Invocation / completion times (ms); only used for real-time edges. */
  start?: number;
  end?: number;
}

export type History = readonly Txn[];

export interface CheckOptions {
  /** Also add real-time edges (T1.end < T2.start) and so check strict serializability. */
  realtime?: boolean;
  /**
   * Known installation order of values per key (e.g. from an append-only log kept by the workload).
   * Registers without a hint only get edges inferred from read-then-write transactions.
   */
  versionOrder?: ReadonlyMap<string, readonly string[]>;
  /** Report at most this many anomalies of each kind (the rest are counted in stats.suppressed). */
  maxAnomaliesPerKind?: number;
  /** Cap on edges visited while looking for G-single cycles in one component (keeps bad runs fast). */
  cycleSearchBudget?: number;
}

export type EdgeKind = 'ww' | 'wr' | 'rw' | 'rt';

export type CycleKind =
  | 'G0'
  | 'G1c'
  | 'G-single'
  | 'G2-item'
  | 'G0-realtime'
  | 'G1c-realtime'
  | 'G-single-realtime'
  | 'G2-item-realtime';

export type AnomalyKind =
  | CycleKind
  /** A committed transaction observed a value written by an aborted one. */
  | 'G1a'
  /** A committed transaction observed a value its writer later overwrote in the same transaction. */
  | 'G1b'
  /** P4: two committed transactions read the same version of a key and both wrote a successor. */
  | 'lost-update'
  /** A transaction's reads disagree with its own earlier reads / writes of the same key. */
  | 'internal'
  /** A read returned a value (or list element) no transaction wrote. */
  | 'garbage-read'
  /** A list contains an element twice: an append was applied twice (exactly-once violation). */
  | 'duplicate-append'
  /** The history itself has the same value written twice (the checker needs unique values). */
  | 'duplicate-write'
  /** Two reads of one list key where neither is a prefix of the other. */
  | 'inconsistent-prefix'
  /** Malformed input: duplicate transaction ids, a key used both as register and list, bad hints. */
  | 'invalid-history';

export interface CycleStep {
  from: string;
  to: string;
  edge: EdgeKind;
  key?: string;
  /** Why this edge exists, in words. */
  explanation: string;
}

export interface Anomaly {
  kind: AnomalyKind;
  /** Ids of the transactions involved. */
  txns: string[];
  key?: string;
  /** For dependency cycles: the cycle, first step starting at txns[0], last step ending there. */
  cycle?: CycleStep[];
  explanation: string;
}

export interface CheckStats {
  /** Transactions in the dependency graph (committed + promoted unknown ones). */
  txns: number;
  /** Distinct (from, to, kind) edges. */
  edges: number;
  /** `unknown` transactions treated as committed because a committed read observed their writes. */
  promoted: number;
  /** `unknown` transactions left out because nothing observed them. */
  dropped: number;
  /** Anomalies not listed because of maxAnomaliesPerKind. */
  suppressed: number;
}

export interface CheckResult {
  ok: boolean;
  anomalies: Anomaly[];
  stats: CheckStats;
}
