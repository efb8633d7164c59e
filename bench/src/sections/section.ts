/**
 * A section of docs/BENCHMARKS.md beyond the side-by-side comparison (entry sets, chain length and
 * failover, tracing cost, ...). Add one by writing a module with a `Section` and listing it in
 * `sections` in main.ts. It runs after the comparison, on the LambdaStore cluster the bench started
 * (chain length 1), and returns its markdown (a `## ` heading and what follows).
 */
import type { BenchConfig } from '../config.js';
import type { LambdaStoreCluster } from '../systems/lambdastore.js';

export interface SectionContext {
  cfg: BenchConfig;
  log: (line: string) => void;
  /** The running LambdaStore cluster, with a connected client and NATS connection. */
  lambdaStore: LambdaStoreCluster;
}

export interface Section {
  title: string;
  run(ctx: SectionContext): Promise<string>;
}
