import './numbers.js';
export { lambdastore } from './gen/proto.js';
export {
  ERROR_CODES,
  APP_CODE_PATTERN,
  LambdaStoreError,
  isSystemCode,
  errorToWire,
  errorFromWire,
  errorToJson,
  asLambdaStoreError,
  type ErrorCode,
  type ErrorOptions,
  type RedirectHint,
  type JsonWireError,
} from './errors.js';
export { DEFAULT_PREFIX, HEADERS, subjects, type Subjects } from './subjects.js';
export { shardOf, checkObjectId, TYPE_NAME_PATTERN, METHOD_NAME_PATTERN, MAX_OBJECT_ID_LENGTH } from './shard.js';
export {
  ENCODING,
  encodeArgs,
  decodeArgs,
  encodeResult,
  decodeResult,
  decodeInvokeRequest,
  jsonToInvokeRequest,
  readConsistencyOf,
  READ_CONSISTENCY,
  type ReadConsistency,
  invokeResponseToJson,
  errorResponse,
  textEncoder,
  textDecoder,
  type Encoding,
  type Encoded,
  type InvokeRequest,
  type InvokeResponse,
  type JsonInvokeReply,
} from './codec.js';
export { injectTraceContext, extractTraceContext, traceCarrier, contextFromCarrier, type HeaderLike } from './tracing.js';
export {
  SPAN_NAMES,
  SPAN_ATTRS,
  LATENCY_BUCKETS_MS,
  SpanOutbox,
  spanOutbox,
  latencyBucket,
  bucketQuantile,
  type SpanRecord,
  type SpanBatch,
  type CallCount,
  type MetricsSnapshot,
  type TraceSummary,
  type OpsSnapshot,
} from './telemetry.js';
export { WorkerMetrics, METRIC_NAMES, type CounterHook, type HistogramHook, type ThreadGauges } from './metrics.js';
