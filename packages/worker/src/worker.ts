/**
 * The worker process's NATS shell: joins the cluster (heartbeats), follows the cluster map,
 * serves the invoke subjects of the shards it heads, and answers the ingress subject for any
 * object by routing the request to the right shard. All protocol decisions live in Executor.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection, type Msg, type Subscription, type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { Piscina } from 'piscina';
import { performance } from 'node:perf_hooks';
import { context, trace, SpanKind, SpanStatusCode, type Context } from '@opentelemetry/api';
import {
  lambdastore,
  subjects,
  shardOf,
  READ_CONSISTENCY,
  LambdaStoreError,
  asLambdaStoreError,
  errorResponse,
  decodeInvokeRequest,
  jsonToInvokeRequest,
  invokeResponseToJson,
  extractTraceContext,
  injectTraceContext,
  HEADERS,
  SPAN_ATTRS,
  SPAN_NAMES,
  WorkerMetrics,
  spanOutbox,
  type SpanBatch,
  type Subjects,
} from '@lambdastore/proto';
import { Store } from '@lambdastore/storage';
import { GRANULARITIES } from '@lambdastore/txn';
import { ObjectCache } from './objects.js';
import { ModuleFiles } from './modules.js';
import { Executor } from './executor.js';
import { TaskDispatcher } from './dispatch.js';
import { DEFAULTS, defaultThreads, type ResolvedWorkerOptions, type WorkerOptions } from './options.js';
import { ChainReplicator, isChainRoleLost, type ChainRole } from './chain/replicator.js';
import { StateTransfer } from './chain/transfer.js';
import { ReplicaReads, answerBarrier } from './replica-reads.js';

const tracer = trace.getTracer('@lambdastore/worker');
const WORKER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class LambdaStoreWorker {
  readonly id: string;
  readonly options: ResolvedWorkerOptions;
  private readonly subjects: Subjects;
  private config: lambdastore.ClusterConfig | undefined;
  private types = new Map<string, lambdastore.ITypeInfo>();
  private readonly shardSubs = new Map<number, Subscription[]>();
  /** Read subjects of the shards whose chain this worker is in and whose state it holds. */
  private readonly readSubs = new Map<number, Subscription>();
  private readonly replicaReads: ReplicaReads;
  private subs: Subscription[] = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private configPoll: NodeJS.Timeout | undefined;
  /** This incarnation: a new one starts after a pause or a removal from the chains. */
  private startedAtMs = Date.now();
  private stopping = false;
  private readonly executor: Executor;
  private readonly dispatcher: TaskDispatcher;
  private readonly cache: ObjectCache;
  private readonly replicator: ChainReplicator;
  private readonly transfer: StateTransfer;
  /** Chains by shard, from the latest map that knows this incarnation (else none: no roles). */
  private roles = new Map<number, ChainRole>();
  /** Shards this worker became head of and will serve once inherited records reached the tail. */
  private readonly promoting = new Set<number>();
  private lastBeatAt = 0;
  /** Calls, latency, aborts... (OTel metrics API, and snapshots for the coordinator's dashboard). */
  readonly metrics: WorkerMetrics;
  private telemetryTimer: NodeJS.Timeout | undefined;

  private constructor(
    options: ResolvedWorkerOptions,
    private readonly nc: NatsConnection,
    private readonly store: Store,
    private readonly pool: Piscina,
    onFatal: (err: Error) => void,
  ) {
    this.id = options.workerId;
    this.options = options;
    this.subjects = subjects(options.prefix);
    let kv: Promise<KV> | undefined;
    const bucket = () => {
      kv ??= new Kvm(nc).open(this.subjects.modulesBucket);
      kv.catch(() => { kv = undefined; });
      return kv;
    };
    this.dispatcher = new TaskDispatcher(pool, options.threads);
    this.cache = new ObjectCache(store, options.cacheMaxBytes, options.entrySets);
    // A write that lost its chain before the tail had it fails retryably; only a local disk failure is fatal.
    const fatal = (err: Error) => {
      if (isChainRoleLost(err)) console.error(`[worker ${options.workerId}] ${err.message}`);
      else onFatal(err);
    };
    const shardFor = (type: string, id: string) => (this.config?.numShards ? shardOf(type, id, this.config.numShards) : undefined);
    const publish = (subject: string, data: Uint8Array) => { if (!nc.isClosed()) nc.publish(subject, data); };
    this.replicator = new ChainReplicator({
      me: options.workerId,
      store,
      subjects: this.subjects,
      chainOf: (shard) => this.roles.get(shard),
      shardOf: shardFor,
      headed: () => [...this.shardSubs.keys()],
      publish,
      log: (line) => console.error(`[worker ${options.workerId}] ${line}`),
      onFatal: fatal,
      resendIntervalMs: options.chainResendIntervalMs,
      onApplied: (rec) => this.cache.invalidate(rec.changes.map((c) => c.object)),
    }, this.startedAtMs);
    this.transfer = new StateTransfer({
      me: options.workerId,
      store,
      subjects: this.subjects,
      replicator: this.replicator,
      chainOf: (shard) => this.roles.get(shard),
      shardOf: shardFor,
      publish,
      dropShards: (shards) => this.dropShards(shards),
      log: (line) => console.error(`[worker ${options.workerId}] ${line}`),
      onFatal: fatal,
      retryAfterMs: options.stateTransferRetryMs,
    });
    store.setReplicator((rec, local) => this.replicator.replicate(rec, local));
    this.metrics = new WorkerMetrics(options.workerId, threadGauges(this.dispatcher, options.threads));
    this.executor = new Executor({
      options,
      store,
      cache: this.cache,
      dispatcher: this.dispatcher,
      modules: new ModuleFiles(join(options.dataDir, 'modules'), bucket),
      typeInfo: (name) => this.types.get(name),
      serves: (type, id) => {
        const cfg = this.config;
        return !!cfg && !!cfg.numShards && this.shardSubs.has(shardOf(type, id, cfg.numShards));
      },
      shardFor: (type, id) => (this.config?.numShards ? shardOf(type, id, this.config.numShards) : undefined),
      ownerOf: (shard) => this.config?.shards.find((a) => a.shard === shard)?.chain?.[0] ?? undefined,
      confirmHead: (ref) => this.replicator.confirmHead(shardFor(ref.type, ref.id) ?? -1),
      transport: { request: (subject, data, timeoutMs, traceCtx) => this.request(subject, data, timeoutMs, traceCtx) },
      subjects: this.subjects,
      onFatal: fatal,
      log: (line) => console.error(`[worker ${options.workerId}] ${line}`),
      metrics: this.metrics,
      successorOf: (shard) => { const c = this.roles.get(shard)?.chain; return c && c[0] === options.workerId ? c[1] : undefined; },
      epochOf: (shard) => { const e = this.config?.shards.find((a) => a.shard === shard)?.epoch; return e === undefined || e === null ? undefined : Number(e); },
    });
    this.replicaReads = new ReplicaReads({
      me: options.workerId,
      subjects: this.subjects,
      executor: this.executor,
      replicator: this.replicator,
      chainOf: (shard) => this.roles.get(shard),
      caughtUp: (shard) => this.transfer.synced.has(shard),
      request: async (subject, data, timeoutMs) => (await nc.request(subject, data, { timeout: timeoutMs })).data,
      catchUpTimeoutMs: options.replicaCatchUpTimeoutMs,
    });
  }

  /** Opens storage, starts the method threads, connects and joins the cluster. */
  static async start(opts: WorkerOptions, onFatal: (err: Error) => void = defaultFatal): Promise<LambdaStoreWorker> {
    await mkdir(opts.dataDir, { recursive: true });
    const workerId = opts.workerId ?? (await persistentWorkerId(opts.dataDir));
    if (!WORKER_ID.test(workerId)) throw new LambdaStoreError('INVALID_ARGUMENT', `invalid worker id ${workerId}: use 1-64 of [A-Za-z0-9_-]`);
    if (opts.entrySets !== undefined && !GRANULARITIES.includes(opts.entrySets)) {
      throw new LambdaStoreError('INVALID_ARGUMENT', `invalid entrySets ${JSON.stringify(opts.entrySets)}: use ${GRANULARITIES.join(', ')}`);
    }
    const options: ResolvedWorkerOptions = { ...DEFAULTS, threads: defaultThreads(), ...stripUndefined(opts), servers: opts.servers, dataDir: opts.dataDir, workerId };
    const store = await Store.open(join(options.dataDir, 'db'), { sync: options.syncWrites });
    const pool = new Piscina({
      filename: fileURLToPath(new URL('./thread.js', import.meta.url)),
      minThreads: options.threads,
      maxThreads: options.threads,
      concurrentTasksPerWorker: 1, // a runaway method is killed with its thread: it must be alone there
      idleTimeout: 60_000,
      resourceLimits: { maxOldGenerationSizeMb: options.threadMaxHeapMb },
    });
    // A thread can die after its call was already settled: one aborted for running past its time
    // limit may hit its memory limit while being terminated. Piscina reports that as an 'error'
    // event on the pool, which must not take the whole process down; the thread is replaced.
    pool.on('error', (err: Error) => console.error(`[worker ${workerId}] a method thread died between calls (replaced): ${err.message}`));
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: options.servers, name: `lambdastore-worker-${workerId}`, maxReconnectAttempts: -1 });
    } catch (err) {
      await pool.destroy();
      await store.close();
      throw err;
    }
    const w = new LambdaStoreWorker(options, nc, store, pool, onFatal);
    // Prepared parts are re-locked when this worker starts serving their shards (promote).
    w.join();
    return w;
  }

  private join(): void {
    const s = this.subjects;
    this.subs.push(this.nc.subscribe(s.config, { callback: (_e, m) => this.onConfigMessage(m.data) }));
    this.subs.push(this.nc.subscribe(s.invoke, { queue: s.ingressQueue, callback: (_e, m) => void this.handle(m, 'ingress') }));
    const chainMsg = (what: string, fn: (data: Uint8Array) => void | Promise<void>) => (_e: unknown, m: Msg) => {
      if (this.stopping) return;
      Promise.resolve().then(() => fn(m.data)).catch((err: Error) => console.error(`[worker ${this.id}] chain ${what} dropped: ${err.message}`));
    };
    this.subs.push(this.nc.subscribe(s.chain(this.id, 'append'), { callback: chainMsg('append', (d) => this.replicator.onAppend(d, (shard) => this.transfer.accepting(shard))) }));
    this.subs.push(this.nc.subscribe(s.chain(this.id, 'ack'), { callback: chainMsg('ack', (d) => this.replicator.onAck(d)) }));
    this.subs.push(this.nc.subscribe(s.chain(this.id, 'transfer'), { callback: chainMsg('transfer', (d) => this.transfer.onRequest(d)) }));
    this.subs.push(this.nc.subscribe(s.chain(this.id, 'snapshot'), { callback: chainMsg('snapshot', (d) => this.transfer.onChunk(d)) }));
    this.subs.push(this.nc.subscribe(s.chain(this.id, 'barrier'), {
      callback: (_e, m) => {
        if (this.stopping || !m.reply) return;
        void answerBarrier(m.data, (shard) => this.shardSubs.has(shard), this.executor, this.replicator).then((out) => m.respond(out));
      },
    }));
    this.heartbeat();
    this.lastBeatAt = performance.now();
    this.heartbeatTimer = setInterval(() => this.tick(), this.options.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweepDedup(), this.options.dedupSweepIntervalMs);
    this.sweepTimer.unref();
    this.telemetryTimer = setInterval(() => this.shipTelemetry(), this.options.telemetryIntervalMs);
    this.telemetryTimer.unref();
    void this.pollConfig();
  }

  /** Asks the coordinator for the map until one arrives (broadcasts keep it fresh after that). */
  private async pollConfig(): Promise<void> {
    if (this.stopping || this.config) return;
    try {
      const m = await this.nc.request(this.subjects.adminConfig, lambdastore.ConfigRequest.encode({}).finish(), { timeout: 1000 });
      const resp = lambdastore.ConfigResponse.decode(m.data);
      if (resp.ok && resp.config) this.applyConfig(lambdastore.ClusterConfig.create(resp.config));
    } catch {
      // coordinator not up yet
    }
    if (!this.config && !this.stopping) {
      this.configPoll = setTimeout(() => void this.pollConfig(), 500);
      this.configPoll.unref();
    }
  }

  private onConfigMessage(data: Uint8Array): void {
    try {
      this.applyConfig(lambdastore.ClusterConfig.decode(data));
    } catch {
      // a malformed broadcast is ignored; the next one will do
    }
  }

  private applyConfig(cfg: lambdastore.ClusterConfig): void {
    if (this.stopping) return;
    if (this.config && Number(cfg.version) <= Number(this.config.version)) return;
    this.config = cfg;
    this.types = new Map(cfg.types.map((t) => [t.name ?? '', t]));
    // Roles count only in a map that knows this incarnation: right after a restart, the map may
    // still name this worker where its previous incarnation stood.
    const me = cfg.workers.find((w) => w.id === this.id);
    const current = !!me && Number(me.startedAtMs) === this.startedAtMs;
    if (current && me.removed) {
      this.newIncarnation('the coordinator took this worker out of its chains');
      return;
    }
    this.roles = new Map(current ? cfg.shards.map((a) => [a.shard ?? 0, { chain: a.chain ?? [], epoch: Number(a.epoch ?? 0) }] as const) : []);
    const mine = new Set([...this.roles].filter(([, r]) => r.chain[0] === this.id).map(([shard]) => shard));
    const lost = new Set<number>();
    for (const [shard, subs] of this.shardSubs) {
      if (!mine.has(shard)) {
        for (const sub of subs) sub.unsubscribe();
        this.shardSubs.delete(shard);
        lost.add(shard);
      }
    }
    // Its state moves on at the new head: what is cached here is stale from now on.
    if (lost.size > 0) {
      this.dropShards(lost);
      this.executor.twoPhase.forget((type, id) => this.shardSubs.has(this.shardOfObject(type, id)));
    }
    this.replicator.onConfig();
    this.transfer.onConfig(cfg.shards.map((a) => a.shard ?? 0));
    const promoted = [...mine].filter((shard) => !this.shardSubs.has(shard) && !this.promoting.has(shard));
    if (promoted.length > 0) void this.promote(promoted);
    this.heartbeat();
  }

  /**
   * Starts serving shards this worker now heads, once every record it inherited from the previous
   * head is durable at the tail (a retry of such a call must find its dedup record there) and its
   * prepared two-phase-commit parts are locked again.
   */
  private async promote(shards: number[]): Promise<void> {
    for (const s of shards) this.promoting.add(s);
    try {
      while (!this.stopping && this.replicator.inheriting()) await new Promise((r) => setTimeout(r, 10));
      if (this.stopping) return;
      const still = shards.filter((s) => this.roles.get(s)?.chain[0] === this.id && !this.shardSubs.has(s));
      const starting = new Set(still);
      this.dropShards(starting);
      // Prepared parts re-lock their objects before any call can read them.
      await this.executor.twoPhase.recover((type, id) => this.shardSubs.has(this.shardOfObject(type, id)) || starting.has(this.shardOfObject(type, id)));
      for (const s of still) {
        if (this.roles.get(s)?.chain[0] === this.id && !this.shardSubs.has(s)) this.shardSubs.set(s, this.serveShard(s));
      }
    } finally {
      for (const s of shards) this.promoting.delete(s);
    }
    this.heartbeat();
  }

  private shardOfObject(type: string, id: string): number {
    return this.config?.numShards ? shardOf(type, id, this.config.numShards) : -1;
  }

  private dropShards(shards: ReadonlySet<number>): void {
    const n = this.config?.numShards;
    if (!n) return;
    this.cache.dropWhere((ref) => shards.has(shardOf(ref.type, ref.id, n)));
  }

  /**
   * Leaves every role and starts a new incarnation: after a pause or a removal this worker may hold
   * writes nobody else has, and roles that were handed on. The coordinator sees the new
   * incarnation in the next heartbeat and lets it rejoin as a tail, with a state transfer.
   */
  private newIncarnation(why: string): void {
    console.error(`[worker ${this.id}] ${why}: leaving every chain, rejoining as a new incarnation`);
    this.startedAtMs = Date.now();
    this.replicator.restart(this.startedAtMs);
    this.transfer.reset();
    this.roles = new Map();
    for (const subs of this.shardSubs.values()) for (const sub of subs) sub.unsubscribe();
    this.shardSubs.clear();
    this.cache.dropWhere(() => true);
    this.executor.twoPhase.forget(() => false);
    this.heartbeat();
  }

  private tick(): void {
    const now = performance.now();
    const late = now - this.lastBeatAt - this.options.heartbeatIntervalMs;
    this.lastBeatAt = now;
    if (late > this.options.pauseDetectMs && this.roles.size > 0) this.newIncarnation(`this process was paused for ${Math.round(late)} ms`);
    this.heartbeat();
    if (this.config) this.transfer.retryStalled(this.config.shards.map((a) => a.shard ?? 0));
  }

  /** The subjects of one shard: invocations, and the two-phase-commit steps of chains that touch it. */
  private serveShard(shard: number): Subscription[] {
    const s = this.subjects;
    const tp = this.executor.twoPhase;
    const answer = (step: 'snapshot' | 'validate' | 'prepare' | 'decide' | 'decision', fn: (data: Uint8Array) => Uint8Array | Promise<Uint8Array>) =>
      this.nc.subscribe(s.shardTxn(shard, step), {
        callback: (_e, m) => {
          if (!m.reply) return;
          // Only requests of traced transactions carry headers: the others make no span at all.
          const span = m.headers ? tracer.startSpan(SPAN_NAMES.txnServe(step), { kind: SpanKind.SERVER, attributes: { [SPAN_ATTRS.shard]: shard, [SPAN_ATTRS.worker]: this.id } }, extractTraceContext(m.headers)) : undefined;
          Promise.resolve()
            .then(() => fn(m.data))
            .then((out) => m.respond(out), (err: Error) => {
              span?.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
              console.error(`[worker ${this.id}] txn ${step} failed: ${err.message}`);
            })
            .finally(() => span?.end());
        },
      });
    return [
      this.nc.subscribe(s.shardInvoke(shard), { callback: (_e, m) => void this.handle(m, 'shard') }),
      answer('snapshot', (d) => tp.answerSnapshot(d, this.options.shipObjectMaxBytes)),
      answer('validate', (d) => tp.answerValidate(d)),
      answer('prepare', (d) => tp.answerPrepare(d)),
      answer('decide', (d) => tp.answerDecide(d)),
      answer('decision', (d) => tp.answerDecisionQuery(d)),
    ];
  }

  /**
   * Joins the readers of every shard whose chain this worker is in and whose state it holds (the
   * head once it serves the shard, a replica once caught up), and leaves the others.
   */
  private syncReadSubs(): void {
    if (this.stopping || this.nc.isClosed()) return;
    const want = new Set<number>();
    for (const [shard, role] of this.roles) {
      const pos = role.chain.indexOf(this.id);
      if (pos === 0 ? this.shardSubs.has(shard) : pos > 0 && this.transfer.synced.has(shard)) want.add(shard);
    }
    for (const [shard, sub] of this.readSubs) {
      if (!want.has(shard)) {
        sub.unsubscribe();
        this.readSubs.delete(shard);
      }
    }
    for (const shard of want) {
      if (this.readSubs.has(shard)) continue;
      const subject = this.subjects.shardRead(shard);
      this.readSubs.set(shard, this.nc.subscribe(subject, { queue: `${subject}ers`, callback: (_e, m) => void this.handle(m, 'read') }));
    }
    this.replicaReads.forget((shard) => want.has(shard));
  }

  private heartbeat(): void {
    if (this.stopping || this.nc.isClosed()) return;
    this.syncReadSubs();
    const hb = lambdastore.Heartbeat.encode({
      workerId: this.id,
      startedAtMs: this.startedAtMs,
      shards: [...this.shardSubs.keys()].sort((a, b) => a - b),
      configVersion: Number(this.config?.version ?? 0),
      inflight: this.executor.stats.inflight,

      callsTotal: this.executor.stats.calls,
      pid: process.pid,
      threads: this.options.threads,
      abortsTotal: this.executor.stats.conflicts,
      commitsTotal: this.executor.stats.commits,
      entrySetSplits: this.executor.stats.entrySetSplits,
      entrySetMerges: this.executor.stats.entrySetMerges,
      replicaShards: [...this.transfer.synced].filter((s) => !this.shardSubs.has(s)).sort((a, b) => a - b),
      unackedRecords: this.replicator.stats().unacked,
      replicaReads: this.replicaReads.served,
    }).finish();
    this.nc.publish(this.subjects.heartbeat, hb);
  }

  /**
   * Serves one invoke message: from the ingress (route anywhere), a shard subject (serve here) or
   * a shard's read subject (a read-only call any member of the chain may serve).
   */
  private async handle(msg: Msg, via: 'ingress' | 'shard' | 'read'): Promise<void> {
    if (!msg.reply) return; // nobody to answer: a request without a reply subject is dropped
    const viaIngress = via === 'ingress';
    const json = isJson(msg.headers);
    const parent: Context = msg.headers ? extractTraceContext(msg.headers) : context.active();
    const span = tracer.startSpan(viaIngress ? 'lambdastore.ingress' : via === 'read' ? 'lambdastore.read' : 'lambdastore.shard', { kind: SpanKind.SERVER }, parent);
    try {
      let response: lambdastore.IInvokeResponse;
      let bytes: Uint8Array | undefined;
      try {
        if (msg.data.length > this.options.maxRequestBytes) {
          throw new LambdaStoreError('PAYLOAD_TOO_LARGE', `request is ${msg.data.length} bytes; the limit is ${this.options.maxRequestBytes}`);
        }
        const req = json ? jsonToInvokeRequest(msg.data) : decodeInvokeRequest(msg.data);
        // A relayed request may overtake nothing, but a later direct retry may overtake it: only a
        // request that came straight to its shard may skip the stored-key check.
        let raw: Uint8Array | undefined = json ? undefined : msg.data;
        if (via !== 'shard' && req.freshKey) {
          req.freshKey = false;
          raw = undefined;
        }
        span.setAttributes({ 'lambdastore.type': req.target?.type ?? '', 'lambdastore.method': req.method ?? '', 'lambdastore.object_id': req.target?.id ?? '' });
        const cfg = this.config;
        if (!cfg || !cfg.numShards || cfg.shards.length === 0) throw new LambdaStoreError('NO_WORKERS', 'the cluster has no shard map yet', { retryAfterMs: 200 });
        const shard = shardOf(req.target!.type!, req.target!.id!, cfg.numShards);
        span.setAttribute('lambdastore.shard', shard);
        const served = this.shardSubs.has(shard)
          ? await this.executor.invoke(req, trace.setSpan(parent, span))
          : via === 'read' ? await this.replicaReads.serve(shard, req, trace.setSpan(parent, span)) : undefined;
        if (served) {
          span.setAttribute(SPAN_ATTRS.worker, this.id);
          response = served.response;
          bytes = served.bytes;
        } else {
          const owner = cfg.shards.find((a) => a.shard === shard)?.chain?.[0];
          if (!owner) throw new LambdaStoreError('NO_WORKERS', `shard ${shard} has no worker yet`, { retryAfterMs: 200 });
          if (via === 'shard') {
            throw new LambdaStoreError('WRONG_SHARD', `shard ${shard} is served by ${owner}, not ${this.id}`, {
              redirect: { shard, workerId: owner, configVersion: Number(cfg.version) },
            });
          }
          // From the ingress, a read a replica may serve goes to the shard's readers; a read a
          // replica cannot serve itself goes to the head.
          const toReaders = viaIngress && req.readConsistency !== READ_CONSISTENCY.head;
          const relayed = await this.forward(shard, toReaders ? this.subjects.shardRead(shard) : this.subjects.shardInvoke(shard), req, raw, req.timeoutMs || 10_000, trace.setSpan(parent, span));
          if (!json) { msg.respond(relayed); return; }
          response = lambdastore.InvokeResponse.decode(relayed);
        }
      } catch (err) {
        response = errorResponse(asLambdaStoreError(err));
      }
      if (!response.ok) span.setAttribute('lambdastore.error', response.error?.code ?? '');
      msg.respond(json ? invokeResponseToJson(response) : bytes ?? lambdastore.InvokeResponse.encode(response).finish(), json ? { headers: jsonHeaders() } : undefined);
    } finally {
      span.end();
    }
  }

  /** A request to another worker; a traced one carries its span context in headers. */
  private async request(subject: string, data: Uint8Array, timeoutMs: number, traceCtx: Context | undefined): Promise<Uint8Array> {
    if (!traceCtx) return (await this.nc.request(subject, data, { timeout: timeoutMs })).data;
    const span = tracer.startSpan(SPAN_NAMES.txnRequest, { kind: SpanKind.CLIENT, attributes: { 'messaging.destination.name': subject } }, traceCtx);
    const h = natsHeaders();
    injectTraceContext(h, trace.setSpan(traceCtx, span));
    try {
      return (await this.nc.request(subject, data, { timeout: timeoutMs, headers: h })).data;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }

  /** Publishes the interval's metrics snapshot and the sampled spans finished since the last one. */
  private shipTelemetry(): void {
    if (this.stopping || this.nc.isClosed()) return;
    const utf8 = new TextEncoder();
    try {
      this.nc.publish(this.subjects.telemetryMetrics, utf8.encode(JSON.stringify(this.metrics.snapshot())));
      const { spans, dropped } = spanOutbox.drain();
      if (spans.length > 0 || dropped > 0) {
        const batch: SpanBatch = { service: this.id, spans: spans.map((sp) => ({ ...sp, service: this.id })), dropped };
        this.nc.publish(this.subjects.telemetrySpans, utf8.encode(JSON.stringify(batch)));
      }
    } catch (err) {
      console.error(`[worker ${this.id}] could not ship telemetry: ${(err as Error).message}`);
    }
  }

  /** Ingress to shard: a request to the shard's subject, whose reply is relayed as is. */
  private async forward(shard: number, subject: string, req: lambdastore.InvokeRequest, raw: Uint8Array | undefined, timeoutMs: number, ctx: Context): Promise<Uint8Array> {
    const h = natsHeaders();
    injectTraceContext(h, ctx);
    try {
      const m = await this.nc.request(subject, raw ?? lambdastore.InvokeRequest.encode(req).finish(), { timeout: timeoutMs, headers: h });
      return m.data;
    } catch (err) {
      const code = (err as { code?: string }).code;
      const name = (err as Error).name;
      if (code === '503' || name === 'NoRespondersError') throw new LambdaStoreError('SHARD_UNAVAILABLE', `no worker answers for shard ${shard}`, { retryAfterMs: 250 });
      if (code === 'TIMEOUT' || name === 'TimeoutError') throw new LambdaStoreError('TIMEOUT', `shard ${shard} did not answer within ${timeoutMs} ms`);
      throw err;
    }
  }

  /** Deletes expired dedup records in bounded slices, so a long backlog never blocks serving. */
  private async sweepDedup(): Promise<void> {
    if (this.sweeping || this.stopping) return;
    this.sweeping = true;
    try {
      for (let slice = 0; slice < 20 && !this.stopping; slice++) {
        if ((await this.store.sweepExpiredDedup(Date.now(), 1000)) === 0) break;
      }
    } catch (err) {
      console.error(`[worker ${this.id}] dedup sweep failed (will retry): ${(err as Error).message}`);
    } finally {
      this.sweeping = false;
    }
  }

  stats() {
    return { ...this.executor.stats, shards: [...this.shardSubs.keys()], configVersion: Number(this.config?.version ?? 0) };
  }

  /** Stops serving, lets in-flight calls finish (bounded), then closes threads, store and NATS. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.sweepTimer);
    clearInterval(this.telemetryTimer);
    clearTimeout(this.configPoll);
    for (const s of [...this.subs, ...[...this.shardSubs.values()].flat(), ...this.readSubs.values()]) s.unsubscribe();
    const deadline = Date.now() + graceMs;
    while (this.executor.stats.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    try { await this.nc.drain(); } catch { /* already closed */ }
    while (this.sweeping) await new Promise((r) => setTimeout(r, 10));
    this.executor.close();
    this.replicator.close();
    await this.pool.destroy();
    await this.store.close();
  }
}

/** Queue depth, and thread utilisation since the previous reading (busy thread time / capacity). */
function threadGauges(dispatcher: TaskDispatcher, threads: number) {
  let lastBusy = dispatcher.busyMs;
  let lastAt = performance.now();
  return {
    queueDepth: () => dispatcher.queued,
    utilization: () => {
      const now = performance.now();
      const u = (dispatcher.busyMs - lastBusy) / Math.max(1, (now - lastAt) * threads);
      lastBusy = dispatcher.busyMs;
      lastAt = now;
      return Math.min(1, Math.max(0, u));
    },
  };
}

function isJson(h: MsgHdrs | undefined): boolean {
  if (!h) return false;
  const v = h.get(HEADERS.contentType) || h.get('content-type');
  return v.split(';')[0]!.trim().toLowerCase() === HEADERS.json;
}

function jsonHeaders(): MsgHdrs {
  const h = natsHeaders();
  h.set(HEADERS.contentType, HEADERS.json);
  return h;
}

async function persistentWorkerId(dataDir: string): Promise<string> {
  const file = join(dataDir, 'worker-id');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const id = `w-${randomBytes(4).toString('hex')}`;
    await writeFile(file, id + '\n');
    return id;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function defaultFatal(err: Error): void {
  // Memory and disk may disagree now; only a restart (which reloads from disk) is safe.
  console.error(`fatal: ${err.message}`);
  process.exit(70);
}
