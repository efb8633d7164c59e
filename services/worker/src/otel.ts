/**
 * Starts the OpenTelemetry Node SDK only when an OTEL_* exporter variable asks for it, so a
 * default run exports nothing, opens no connection and pays only the no-op API's cost.
 */
export const OTEL_TRIGGER_VARIABLES = ['OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] as const;

export async function startTelemetry(serviceName: string): Promise<() => Promise<void>> {
  const wanted = OTEL_TRIGGER_VARIABLES.some((v) => (process.env[v] ?? '') !== '' && process.env[v] !== 'none');
  if (!wanted) return async () => {};
  process.env.OTEL_SERVICE_NAME ??= serviceName;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK();
  sdk.start();
  return () => sdk.shutdown();
}
