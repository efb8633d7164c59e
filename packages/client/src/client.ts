/**
 * The TypeScript client: connect, deploy, create, invoke (typed proxies), a routing cache fed by
 * the coordinator's config broadcasts, and retries that reuse one idempotency key per logical call.
 *
 * Request path of one call: encode args once -> pick the subject from the cached shard map (or the
 * ingress subject when no map is known) -> NATS request with a protobuf InvokeRequest -> decode the
 * InvokeResponse. Retryable failures back off and try again with the same key; WRONG_SHARD follows
 * the redirect hint at once.
 */
import { basename } from 'node:path';
import {
  connect as natsConnect,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { SpanKind, SpanStatusCode, TraceFlags, context, trace, type Span } from '@opentelemetry/api';
import {
  DEFAULT_PREFIX,
  LambdaStoreError,
  checkObjectId,
  decodeResult,
  encodeArgs,
  errorFromWire,
  injectTraceContext,
  lambdastore,
  readConsistencyOf,
  READ_CONSISTENCY,
  subjects,
  type ReadConsistency,
  type Subjects,
} from '@lambdastore/proto';
import { isTypeDef, type InitArgs, type ObjectProxy, type TypeDef } from '@lambdastore/sdk';
import { ReplyMux } from './mux.js';
import { DEFAULT_BACKOFF, nextDelayMs, type BackoffOptions } from './backoff.js';
import { abortedError, closedError, isNoResponders, malformedReply, transportError } from './errors.js';
import { checkIdempotencyKey, newIdempotencyKey } from './keys.js';
import { RoutingTable, type ClusterConfig } from './routing.js';
import { bundleFile } from './bundle.js';

export type TypeInfo = lambdastore.TypeInfo;
export type { ClusterConfig };

export interface ClientOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Subject prefix of the cluster (default `lambdastore`). */
  prefix?: string;
  /** Timeout of one NATS request (one attempt) in ms (default 5000, at least 1). */
  requestTimeoutMs?: number;
  /** Attempts per call, the first included (default 8, at least 1). */
  maxAttempts?: number;
  /** Connection name shown by the NATS server. */
  name?: string;
  /** Default overall deadline of a call, all attempts included, in ms (default 10000). */
  callTimeoutMs?: number;
  /** Deadline of a deploy in ms (default 30000): the coordinator test-loads the module first. */
  deployTimeoutMs?: number;
  /** Bound on establishing the NATS connection in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Retry backoff (defaults: first delay up to 10 ms, no delay above 1000 ms). */
  backoff?: Partial<BackoffOptions>;
}

export interface InvokeOptions {
  /** Key under which the worker applies the call once; a random 128-bit one when omitted. */
  idempotencyKey?: string;
  /** Overall deadline of the call, all retries included, in ms (default: the client's callTimeoutMs). */
  timeoutMs?: number;
  /** Cancels waiting; the call may still be applied (call again with the same key to find out). */
  signal?: AbortSignal;
  /**
   * Lets any replica of the object's shard serve a read-only call (docs/ARCHITECTURE.md, "Reads on
   * replicas"). Omitted: the call runs at the head (strict). `strict`: a replica first catches up to
   * the head's committed sequence, so the read is linearizable. `stale-ok`: a replica may answer
   * from a state that misses writes acknowledged less than `maxStalenessMs` before the call.
   * A call of a method that writes still runs at the head.
   */
  consistency?: ReadConsistency;
  /** With `consistency: 'stale-ok'` (required there): how old the state may be, in ms. */
  maxStalenessMs?: number;
}

const DEFAULTS = {
  prefix: DEFAULT_PREFIX,
  requestTimeoutMs: 5000,
  maxAttempts: 8,
  callTimeoutMs: 10_000,
  deployTimeoutMs: 30_000,
  connectTimeoutMs: 5000,
} as const;

/** Background config fetches (when calls find no map, or a shard stops answering) at most this often. */
const BACKGROUND_REFRESH_INTERVAL_MS = 1000;

const tracer = trace.getTracer('@lambdastore/client');

/** Connects to NATS and, when a coordinator answers, loads the cluster map. */
export async function connect(opts: ClientOptions): Promise<LambdaStoreClient> {
  let nc: NatsConnection;
  try {
    nc = await natsConnect({
      servers: opts.servers,
      timeout: opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      // A stack capture per request is measurable on the hot path; our errors carry the subject.
      noAsyncTraces: true,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
    });
  } catch (err) {
    const servers = Array.isArray(opts.servers) ? opts.servers.join(', ') : opts.servers;
    throw new LambdaStoreError('INTERNAL', `cannot connect to NATS at ${servers}: ${(err as Error).message}`, { retryable: true, cause: err });
  }
  const client = new LambdaStoreClient(nc, opts);
  await client.start();
  return client;
}

export class LambdaStoreClient {
  readonly subjects: Subjects;
  private readonly nc: NatsConnection;
  private readonly mux: ReplyMux;
  private readonly routing = new RoutingTable();
  private readonly requestTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly callTimeoutMs: number;
  private readonly deployTimeoutMs: number;
  private readonly backoff: BackoffOptions;
  private configSub: Subscription | undefined;
  private refreshing: Promise<void> | undefined;
  private lastBackgroundRefreshMs = 0;
  private closed = false;

  /** Use `connect()`; this constructor takes an open connection and does no I/O. */
  constructor(nc: NatsConnection, opts: Omit<ClientOptions, 'servers'> & { servers?: ClientOptions['servers'] } = {}) {
    this.nc = nc;
    this.mux = new ReplyMux(nc);
    this.subjects = subjects(opts.prefix ?? DEFAULTS.prefix);
    this.requestTimeoutMs = positive(opts.requestTimeoutMs, DEFAULTS.requestTimeoutMs, 'requestTimeoutMs');
    this.maxAttempts = Math.floor(positive(opts.maxAttempts, DEFAULTS.maxAttempts, 'maxAttempts'));
    this.callTimeoutMs = positive(opts.callTimeoutMs, DEFAULTS.callTimeoutMs, 'callTimeoutMs');
    this.deployTimeoutMs = positive(opts.deployTimeoutMs, DEFAULTS.deployTimeoutMs, 'deployTimeoutMs');
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
  }

  /** Subscribes to config broadcasts, then asks the coordinator once (a missing one is fine). */
  async start(): Promise<void> {
    if (this.configSub) return;
    this.configSub = this.nc.subscribe(this.subjects.config, {
      callback: (err, msg) => {
        if (err) return;
        try {
          this.routing.apply(lambdastore.ClusterConfig.decode(msg.data));
        } catch {
          // A broadcast we cannot read is ignored; the next one (every 2 s) or a fetch will do.
        }
      },
    });
    this.lastBackgroundRefreshMs = Date.now();
    await this.refreshConfig(Math.min(this.requestTimeoutMs, 2000));
  }

  /** The cached cluster map (undefined until one was received). */
  get cachedConfig(): ClusterConfig | undefined {
    return this.routing.config;
  }

  /** The underlying NATS connection (for tools that need more than the client offers). */
  get connection(): NatsConnection {
    return this.nc;
  }

  /** The current cluster map, fresh from the coordinator. */
  async config(): Promise<ClusterConfig> {
    this.assertOpen();
    return this.fetchConfig(this.requestTimeoutMs);
  }

  /** Deploys one bundled CommonJS module; returns the types it defined with their new versions. */
  async deploy(source: string, filename = 'module.js'): Promise<TypeInfo[]> {
    this.assertOpen();
    const data = lambdastore.DeployRequest.encode({ source, filename }).finish();
    const subject = this.subjects.adminDeploy;
    const deadline = Date.now() + this.deployTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      const timeout = Math.max(1, deadline - Date.now());
      let msg: Msg;
      try {
        msg = await this.nc.request(subject, data, { timeout });
      } catch (e) {
        const err = transportError(e, { subject, kind: 'admin', timeoutMs: timeout });
        // Only "nobody listening" is safe to resend: a deploy that timed out may still be applied.
        if (!isNoResponders(e) || attempt >= this.maxAttempts) throw err;
        const delay = nextDelayMs(attempt, 0, deadline - Date.now(), this.backoff);
        if (delay === undefined) throw err;
        await sleep(delay);
        continue;
      }
      let resp: lambdastore.DeployResponse;
      try {
        resp = lambdastore.DeployResponse.decode(msg.data);
      } catch (e) {
        throw malformedReply(subject, e);
      }
      if (resp.ok) {
        if (!this.routing.config) this.backgroundRefresh();
        return resp.types as TypeInfo[];
      }
      const err = errorFromWire(resp.error);
      if (!err.retryable || attempt >= this.maxAttempts) throw err;
      const delay = nextDelayMs(attempt, err.retryAfterMs, deadline - Date.now(), this.backoff);
      if (delay === undefined) throw err;
      await sleep(delay);
    }
  }

  /** Bundles a .ts/.js file with esbuild and deploys it. Bundling errors are DEPLOY_INVALID. */
  async deployFile(path: string): Promise<TypeInfo[]> {
    const source = await bundleFile(path);
    return this.deploy(source, basename(path));
  }

  /** Creates the object, running its type's `init` with `initArgs`. */
  create<T extends TypeDef>(type: T, id: string, ...initArgs: InitArgs<T>): Promise<unknown>;
  create(type: string, id: string, ...initArgs: unknown[]): Promise<unknown>;
  create(type: string | TypeDef, id: string, ...initArgs: unknown[]): Promise<unknown> {
    return this.call(typeNameOf(type), id, '', initArgs, true, undefined);
  }

  /** Calls `method` on the object `(type, id)` and returns its result. */
  invoke(type: string | TypeDef, id: string, method: string, args: readonly unknown[] = [], opts?: InvokeOptions): Promise<unknown> {
    return this.call(typeNameOf(type), id, method, args, false, opts);
  }

  /**
   * A typed proxy: `client.object(AccountDef, 'alice').deposit(5)`. Every property is a method
   * call, except `then` (so the proxy is not mistaken for a promise) and symbols.
   */
  object<T extends TypeDef>(type: T, id: string): ObjectProxy<T>;
  object<T extends TypeDef>(type: string, id: string): ObjectProxy<T>;
  object<T extends TypeDef>(type: T | string, id: string): ObjectProxy<T> {
    const typeName = typeNameOf(type);
    const methods = new Map<string, (...args: unknown[]) => Promise<unknown>>();
    return new Proxy(Object.create(null) as object, {
      get: (_target, prop) => {
        if (typeof prop !== 'string' || prop === 'then') return undefined;
        let fn = methods.get(prop);
        if (!fn) {
          fn = (...args: unknown[]) => this.call(typeName, id, prop, args, false, undefined);
          methods.set(prop, fn);
        }
        return fn;
      },
    }) as ObjectProxy<T>;
  }

  /** Stops listening for config and closes the NATS connection. Calls in flight fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.configSub?.unsubscribe();
    this.mux.close(closedError());
    if (!this.nc.isClosed()) await this.nc.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed || this.nc.isClosed()) throw closedError();
  }

  private async call(type: string, id: string, method: string, args: readonly unknown[], create: boolean, opts: InvokeOptions | undefined): Promise<unknown> {
    this.assertOpen();
    const idProblem = checkObjectId(id);
    if (idProblem) throw new LambdaStoreError('INVALID_ARGUMENT', idProblem);
    const generatedKey = opts?.idempotencyKey === undefined;
    const key = opts?.idempotencyKey ?? newIdempotencyKey();
    if (opts?.idempotencyKey !== undefined) {
      const keyProblem = checkIdempotencyKey(key);
      if (keyProblem) throw new LambdaStoreError('INVALID_ARGUMENT', keyProblem);
    }
    const signal = opts?.signal;
    if (signal?.aborted) throw abortedError(signal);
    const encoded = encodeArgs(args);
    const timeoutMs = positive(opts?.timeoutMs, this.callTimeoutMs, 'timeoutMs');
    const read = readConsistencyOf(opts?.consistency, opts?.maxStalenessMs);

    const span = tracer.startSpan('lambdastore.invoke', {
      kind: SpanKind.CLIENT,
      attributes: {
        'lambdastore.type': type,
        'lambdastore.method': create ? 'init' : method,
        'lambdastore.object_id': id,
        'lambdastore.create': create,
      },
    });
    // Headers only when someone will look at the trace: most calls then carry no header block.
    let hdrs: MsgHdrs | undefined;
    if (span.isRecording() || (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) {
      hdrs = natsHeaders();
      injectTraceContext(hdrs, trace.setSpan(context.active(), span));
    }
    const req = lambdastore.InvokeRequest.create({
      ...read,
      target: { type, id },
      method,
      args: encoded.bytes,
      argsEncoding: encoded.encoding,
      idempotencyKey: key,
      create,
    });
    try {
      const value = await this.attempts(req, Date.now() + timeoutMs, hdrs, signal, span, generatedKey);
      span.end();
      return value;
    } catch (err) {
      const e = err as LambdaStoreError;
      span.setAttribute('lambdastore.error_code', e.code);
      span.recordException(e);
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${e.code}: ${e.message}` });
      span.end();
      throw err;
    }
  }

  private async attempts(req: lambdastore.InvokeRequest, deadline: number, hdrs: MsgHdrs | undefined, signal: AbortSignal | undefined, span: Span, generatedKey: boolean): Promise<unknown> {
    const type = req.target!.type!;
    const id = req.target!.id!;
    let lastErr: LambdaStoreError | undefined;
    let redirectShard: number | undefined;
    let attempt = 0;
    let shard = -1;
    try {
      while (attempt < this.maxAttempts) {
        const remaining = deadline - Date.now();
        if (remaining < 1) break;
        attempt++;
        const route = this.routing.route(type, id, redirectShard);
        shard = route.shard;
        const ingress = route.shard < 0;
        // Reads a replica may serve go to the shard's readers (a queue group of its chain's members).
        const anyReplica = req.readConsistency !== READ_CONSISTENCY.head;
        const subject = ingress ? this.subjects.invoke : anyReplica ? this.subjects.shardRead(route.shard) : this.subjects.shardInvoke(route.shard);
        if (ingress) this.backgroundRefresh();
        req.attempt = attempt;
        req.freshKey = generatedKey && attempt === 1;
        req.configVersion = route.configVersion;
        req.timeoutMs = Math.ceil(remaining);
        const data = lambdastore.InvokeRequest.encode(req).finish();
        const timeout = Math.max(1, Math.min(this.requestTimeoutMs, remaining));

        let msg: Msg | undefined;
        try {
          msg = await this.request(subject, data, timeout, hdrs, signal);
        } catch (e) {
          lastErr = transportError(e, { subject, kind: ingress ? 'ingress' : 'invoke', assigned: route.assigned, timeoutMs: timeout });
          if (!lastErr.retryable) throw lastErr;
          // A silent shard may have moved: look for a newer map while we back off.
          if (!ingress && lastErr.code !== 'TIMEOUT') this.backgroundRefresh();
        }

        if (msg) {
          let resp: lambdastore.InvokeResponse;
          try {
            resp = lambdastore.InvokeResponse.decode(msg.data);
          } catch (e) {
            throw malformedReply(subject, e);
          }
          if (resp.ok) return decodeResult(resp.result, resp.resultEncoding);
          lastErr = errorFromWire(resp.error);
          if (lastErr.code === 'WRONG_SHARD') {
            const before = { shard: route.shard, version: this.routing.version };
            const hint = lastErr.redirect;
            if (!hint || hint.configVersion > this.routing.version) {
              await this.refreshConfig(Math.max(1, Math.min(this.requestTimeoutMs, deadline - Date.now())));
            }
            redirectShard = hint ? hint.shard : undefined;
            const next = this.routing.route(type, id, redirectShard);
            // Retry at once when the redirect taught us something; back off when it did not.
            if (next.shard !== before.shard || this.routing.version > before.version) continue;
          } else if (!lastErr.retryable) {
            throw lastErr;
          }
        }

        if (attempt >= this.maxAttempts) break;
        const delay = nextDelayMs(attempt, lastErr!.retryAfterMs, deadline - Date.now(), this.backoff);
        if (delay === undefined) break;
        await sleep(delay, signal);
      }
    } finally {
      span.setAttribute('lambdastore.attempts', attempt);
      if (shard >= 0) span.setAttribute('lambdastore.shard', shard);
    }
    throw lastErr ?? new LambdaStoreError('TIMEOUT', 'the call ran out of time before its first attempt');
  }

  private request(subject: string, data: Uint8Array, timeout: number, hdrs: MsgHdrs | undefined, signal: AbortSignal | undefined): Promise<Msg> {
    const p = this.mux.request(subject, data, timeout, hdrs);
    return signal ? raceAbort(p, signal) : p;
  }

  /** One ConfigRequest; applies the answer when it is newer than the cache. */
  private async fetchConfig(timeoutMs: number): Promise<ClusterConfig> {
    const subject = this.subjects.adminConfig;
    const data = lambdastore.ConfigRequest.encode({ knownVersion: this.routing.version }).finish();
    let msg: Msg;
    try {
      msg = await this.nc.request(subject, data, { timeout: timeoutMs });
    } catch (e) {
      throw transportError(e, { subject, kind: 'admin', timeoutMs });
    }
    let resp: lambdastore.ConfigResponse;
    try {
      resp = lambdastore.ConfigResponse.decode(msg.data);
    } catch (e) {
      throw malformedReply(subject, e);
    }
    if (!resp.ok) throw errorFromWire(resp.error);
    if (!resp.config) throw new LambdaStoreError('INTERNAL', 'the coordinator answered without a config');
    const cfg = resp.config as ClusterConfig;
    this.routing.apply(cfg);
    return cfg;
  }

  /** Fetches the config, sharing one request among concurrent callers; never throws. */
  private refreshConfig(timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (!this.refreshing) {
      this.refreshing = this.fetchConfig(timeoutMs).then(
        () => undefined,
        () => undefined,
      ).finally(() => {
        this.refreshing = undefined;
      });
    }
    return this.refreshing;
  }

  /** A rate-limited refresh nobody waits for. */
  private backgroundRefresh(): void {
    const now = Date.now();
    if (now - this.lastBackgroundRefreshMs < BACKGROUND_REFRESH_INTERVAL_MS) return;
    this.lastBackgroundRefreshMs = now;
    void this.refreshConfig(this.requestTimeoutMs);
  }
}

function typeNameOf(type: string | TypeDef): string {
  if (typeof type === 'string') return type;
  if (isTypeDef(type)) return type.name;
  throw new LambdaStoreError('INVALID_ARGUMENT', 'type must be a type name or a defineType() result');
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
    throw new LambdaStoreError('INVALID_ARGUMENT', `${name} must be a number >= 1, got ${String(value)}`);
  }
  return value;
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortedError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return new Promise((r) => setTimeout(r, ms));
  if (signal.aborted) return Promise.reject(abortedError(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
