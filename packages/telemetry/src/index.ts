/**
 * OpenTelemetry bootstrap for LambdaStore processes (worker, coordinator, CLI). The Node SDK is
 * started only when the environment asks for export through one of the standard OTEL_* variables
 * below, so a plain run loads none of it, opens no connection and pays only the no-op API's cost.
 * Start it before importing the code that creates tracers.
 */

/** Variables whose presence (other than "none") turns export on. */
export const OTEL_ENV_VARS = ['OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] as const;

export function otelRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return OTEL_ENV_VARS.some((k) => (env[k] ?? '') !== '' && env[k] !== 'none');
}

/** Starts NodeSDK when requested; returns its shutdown (a no-op when it was not started). */
export async function startOtel(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<() => Promise<void>> {
  if (!otelRequested(env)) return async () => undefined;
  // Loaded lazily: the SDK is large and most runs never need it.
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({ serviceName });
  sdk.start();
  return async () => {
    try {
      await sdk.shutdown();
    } catch (err) {
      console.error(`[${serviceName}] OpenTelemetry shutdown failed: ${(err as Error).message}`);
    }
  };
}
