// Library surface of the CLI package, for integration tests and benchmarks.
export { startDevCluster, replicasCaughtUp, type DevCluster, type DevClusterOptions, type DevProcess, type DevWorker } from './dev-cluster.js';
export { runClosedLoop, forEachLimited, LatencyHistogram, errorCode, type LoadOptions, type LoadResult, type LoadProgress } from './load.js';
export { run as runCli, type CliIo } from './cli.js';
