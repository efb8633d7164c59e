/**
 * Helpers of the coordinator service, exported for tests and for tools that embed the same command
 * line. Importing this has no side effects; the process entry is `main.ts`.
 */
export { parseServiceArgs, UsageError, USAGE, type ServiceArgs } from './args.js';
export { startOtel, otelRequested, OTEL_ENV_VARS } from '@lambdastore/telemetry';
