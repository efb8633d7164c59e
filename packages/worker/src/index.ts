export { LambdaStoreWorker } from './worker.js';
export { DEFAULTS as WORKER_DEFAULTS, type WorkerOptions, type ResolvedWorkerOptions } from './options.js';
export { packEntries, PackedEntries } from './snapshot.js';
export type { Granularity } from '@lambdastore/txn';
export { chainHop, type ChainHop } from './chain-hop.js';
