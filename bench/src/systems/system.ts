/**
 * What every measured system offers the harness. Each system starts (and stops) what it needs
 * itself; the harness drives all of them with the same load generator, workloads and audits.
 */

/** Thrown by `start` when a system cannot run here; the report shows the reason, never a figure. */
export class SkipError extends Error {
  override readonly name = 'SkipError';
}

/** Bank transfers between two accounts, written the way the system's users would write them. */
export interface BankApi {
  /** The guarantee this system's transfer gives, and what is lost against one serializable transaction. */
  readonly guarantee: string;
  create(ids: readonly string[], initial: number): Promise<void>;
  transfer(from: string, to: string, amount: number): Promise<void>;
  balances(ids: readonly string[]): Promise<number[]>;
}

export interface BenchSystem {
  /** Short id for `--systems` and file names. */
  readonly id: string;
  /** Row label in the report. */
  readonly label: string;
  /** `us`: LambdaStore; `peer`: what people would pick instead; `floor`: the least a call can cost here. */
  readonly kind: 'us' | 'peer' | 'floor';
  /** One line: how it runs, its durability, versions. Filled in by `start`. */
  description: string;
  /** Starts its processes (throws SkipError when it cannot run here). */
  start(): Promise<void>;
  /** Creates the micro objects (ENTRIES x VALUE_BYTES each), idempotently. */
  createMicro(ids: readonly string[]): Promise<void>;
  /** Reads the given entries of one object; resolves with the number of bytes read. */
  read(id: string, entries: number[]): Promise<number>;
  /** Overwrites the given entries of one object, atomically; resolves with the bytes written. */
  write(id: string, entries: number[], seed: number): Promise<number>;
  /** Absent for floors, which have no transactions to compare. */
  readonly bank?: BankApi;
  /** Processes whose CPU time counts for this system, by role (pids). */
  processes(): Record<string, Array<number | undefined>>;
  stop(): Promise<void>;
}
