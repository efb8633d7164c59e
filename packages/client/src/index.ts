/**
 * @lambdastore/client: connect, deploy, create, invoke (typed proxies), with routing by the
 * cluster map and retries under one idempotency key per call. See README.md.
 */
export { connect, LambdaStoreClient, type ClientOptions, type InvokeOptions, type TypeInfo, type ClusterConfig } from './client.js';
export { LambdaStoreError } from './errors.js';
export { backoffDelayMs, nextDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { newIdempotencyKey } from './keys.js';
export { bundleFile } from './bundle.js';
