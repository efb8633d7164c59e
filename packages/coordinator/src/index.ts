/**
 * @lambdastore/coordinator: membership, failure detection, sticky shard assignment and the type
 * registry of a LambdaStore cluster. Every export is named here on purpose (no `export *`), so a
 * change of the public surface is a visible diff.
 */
export { Coordinator } from './coordinator.js';
export {
  COORDINATOR_DEFAULTS,
  resolveOptions,
  stderrLogger,
  type CoordinatorOptions,
  type CoordinatorLogger,
  type ResolvedOptions,
} from './options.js';
export {
  ClusterModel,
  INITIAL_EPOCH,
  type ModelOptions,
  type HeartbeatInput,
  type WorkerState,
  type ClusterConfigData,
  type ShardAssignmentData,
  type WorkerInfoData,
  type TypeInfoData,
  type MethodInfoData,
  type DeployedTypeInput,
  type DeployOutcome,
} from './cluster-model.js';
export { encodeConfig, decodeConfig, configFromProto, typeFromProto } from './config-codec.js';
export { ModuleChecker, moduleIdOf, toDeployedTypes, type ModuleCheckOptions, type CheckedType } from './module-check.js';
export { CoordinatorStore, CONFIG_KEY } from './store.js';
export { OpsTelemetry, type OpsTelemetryOptions } from './ops-telemetry.js';
export { Dashboard, type DashboardOptions, type DashboardSource } from './dashboard.js';
export { deployInvalid, payloadTooLarge, malformedRequest, optionError, toWireError } from './errors.js';
