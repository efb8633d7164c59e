/**
 * The coordinator's NATS shell: it feeds heartbeats and clock ticks to the pure ClusterModel,
 * persists every config the model returns to KV *before* publishing it, and answers admin requests.
 *
 * Durability rule: a config version is visible to anyone (broadcast, admin reply, deploy reply)
 * only after it is stored in `<p>_meta`. A module's source is stored in `<p>_modules` before any
 * config names it, so a worker that sees a TypeInfo can always fetch its module.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { extractTraceContext, lambdastore, spanOutbox, subjects, type MetricsSnapshot, type SpanBatch, type Subjects } from '@lambdastore/proto';
import { ClusterModel, type ClusterConfigData, type HeartbeatInput, type ModelOptions } from './cluster-model.js';
import { encodeConfig } from './config-codec.js';
import { malformedRequest, toWireError } from './errors.js';
import { ModuleChecker, moduleIdOf } from './module-check.js';
import { resolveOptions, type CoordinatorOptions, type ResolvedOptions } from './options.js';
import { CoordinatorStore } from './store.js';
import { OpsTelemetry } from './ops-telemetry.js';
import { Dashboard } from './dashboard.js';
import { LeaderLease } from './lease.js';

const tracer = trace.getTracer('@lambdastore/coordinator');
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class Coordinator {
  readonly options: ResolvedOptions;
  readonly subjects: Subjects;
  private nc: NatsConnection | undefined;
  private store: CoordinatorStore | undefined;
  private lease: LeaderLease | undefined;
  private model: ClusterModel | undefined;
  private readonly checker: ModuleChecker;
  private readonly subs: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  /** A change not yet persisted and published. */
  private dirty = false;
  private flushing: Promise<void> | undefined;
  private persistedVersion = 0;
  private lastPersistErrorAtMs = 0;
  /** What the workers report about their traffic (dashboard, `lambdastore top`). */
  readonly ops: OpsTelemetry;
  private dashboard: Dashboard | undefined;
  private dashboardAddress: string | undefined;

  constructor(opts: CoordinatorOptions) {
    this.options = resolveOptions(opts);
    this.subjects = subjects(this.options.prefix);
    this.checker = new ModuleChecker({
      timeoutMs: this.options.moduleCheckTimeoutMs,
      maxHeapMb: this.options.moduleCheckMaxHeapMb,
      maxBytes: this.options.maxModuleBytes,
      maxConcurrent: this.options.maxConcurrentModuleChecks,
    });
    this.ops = new OpsTelemetry({ slowTraceMs: this.options.slowTraceMs });
  }

  /** The dashboard's URL once started (undefined without a dashboard). */
  get dashboardUrl(): string | undefined {
    return this.dashboardAddress;
  }

  /** The cluster map and traffic as the dashboard shows it. */
  opsSnapshot() {
    return this.ops.snapshot(this.model?.snapshot(), Date.now());
  }

  /** Connects, loads or creates the persisted config, subscribes, and starts the timers. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`coordinator cannot start: it is ${this.state}`);
    this.state = 'starting';
    const o = this.options;
    try {
      this.nc = await connect({ servers: o.servers, name: `lambdastore-coordinator-${process.pid}`, maxReconnectAttempts: -1 });
      this.store = await CoordinatorStore.open(this.nc, this.subjects, o.maxModuleBytes);
      // One active coordinator: a standby (or a restart after a crash) waits here until the active
      // one's lease runs out, then loads the config it persisted last.
      this.lease = new LeaderLease(this.store.meta, `coordinator-${process.pid}-${randomUUID().slice(0, 8)}`, o.leaseMs, o.logger);
      // Not a standby: a lease still renewed after twice its length belongs to a live coordinator.
      const giveUpAt = o.standby ? Infinity : Date.now() + 2 * o.leaseMs + 1000;
      if (!(await this.lease.acquire(() => this.state !== 'starting' || Date.now() > giveUpAt))) {
        throw new Error(this.state === 'starting' ? 'another coordinator is active (it keeps renewing its lease); start this one with --standby to take over when it stops' : 'stopped while waiting for the lease');
      }
      this.model = await this.loadModel();
      this.persistedVersion = this.model.version;

      const s = this.subjects;
      this.subs.push(this.nc.subscribe(s.heartbeat, { callback: (err, msg) => { if (!err) this.onHeartbeat(msg); } }));
      // Admin requests go to a queue group, so a standby coordinator would not answer twice.
      this.subs.push(this.nc.subscribe(s.adminConfig, { queue: s.adminQueue, callback: (err, msg) => { if (!err) this.track(this.onConfigRequest(msg)); } }));
      this.subs.push(this.nc.subscribe(s.adminDeploy, { queue: s.adminQueue, callback: (err, msg) => { if (!err) this.track(this.onDeploy(msg)); } }));
      this.subs.push(this.nc.subscribe(s.adminDrain, { queue: s.adminQueue, callback: (err, msg) => { if (!err) this.onDrain(msg); } }));
      this.subs.push(this.nc.subscribe(s.adminOps, { queue: s.adminQueue, callback: (err, msg) => { if (!err) this.reply(msg, utf8.encode(JSON.stringify(this.opsSnapshot()))); } }));
      this.subs.push(this.nc.subscribe(s.telemetryMetrics, { callback: (err, msg) => { if (!err) this.onTelemetry(msg, false); } }));
      this.subs.push(this.nc.subscribe(s.telemetrySpans, { callback: (err, msg) => { if (!err) this.onTelemetry(msg, true); } }));
      // Subscriptions are live on the server once flush returns: "started" means "serving".
      await this.nc.flush();

      if (o.dashboard) {
        this.dashboard = new Dashboard({ snapshot: () => this.opsSnapshot(), trace: (id) => this.ops.trace(id) }, { ...o.dashboard, pushIntervalMs: o.dashboardPushIntervalMs });
        this.dashboardAddress = await this.dashboard.start();
      }
      this.timers.push(setInterval(() => this.onTick(), o.livenessCheckIntervalMs));
      // The coordinator's own sampled spans (deploys) join the workers' in the trace ring.
      this.timers.push(setInterval(() => {
        const { spans, dropped } = spanOutbox.drain();
        if (spans.length > 0 || dropped > 0) this.ops.addSpans({ service: 'coordinator', spans: spans.map((sp) => ({ ...sp, service: 'coordinator' })), dropped }, Date.now());
      }, 1000));
      this.timers.push(setInterval(() => this.broadcast(), o.configBroadcastIntervalMs));
      this.state = 'running';
      this.lease.keep((why) => {
        o.logger.error(`lost the lease (${why}): stopping; another coordinator is active`);
        void this.stop().finally(() => o.onLeaseLost?.(why));
      });
      this.broadcast();
      o.logger.info(`serving prefix=${o.prefix} cluster=${this.model.clusterId} config version=${this.model.version} shards=${this.model.numShards}${this.model.assigned ? ' (assigned)' : ''}`);
    } catch (err) {
      await this.teardown();
      this.state = 'stopped';
      throw err;
    }
  }

  /** Stops serving, lets running requests finish, writes the last change, closes the connection. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping' || this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    for (const sub of this.subs) sub.unsubscribe();
    this.subs.length = 0;
    await Promise.allSettled([...this.inflight]);
    if (this.dirty) await this.flush().catch((err) => this.options.logger.error('could not persist the last config change', err));
    await this.lease?.release();
    await this.teardown();
    this.state = 'stopped';
  }

  /** The current config (latest worker statistics included). Throws before start(). */
  config(): ClusterConfigData {
    if (!this.model) throw new Error('coordinator is not started');
    return this.model.snapshot();
  }

  get running(): boolean {
    return this.state === 'running';
  }

  private async teardown(): Promise<void> {
    await this.dashboard?.stop();
    this.dashboard = undefined;
    const nc = this.nc;
    this.nc = undefined;
    if (nc && !nc.isClosed()) {
      await nc.drain().catch(() => nc.close());
    }
  }

  private modelOptions(): ModelOptions {
    const o = this.options;
    return { numShards: o.numShards, heartbeatTimeoutMs: o.heartbeatTimeoutMs, assignSettleMs: o.assignSettleMs, minWorkers: o.minWorkers, chainLength: o.chainLength };
  }

  private async loadModel(): Promise<ClusterModel> {
    const store = this.store!;
    for (let attempt = 0; attempt < 2; attempt++) {
      const saved = await store.loadConfig();
      if (saved) {
        const { model, warnings } = ClusterModel.restore(this.modelOptions(), saved, Date.now());
        for (const w of warnings) this.options.logger.warn(w);
        return model;
      }
      // The cluster id is made once, here, and lives in the persisted config from then on.
      const model = ClusterModel.fresh(this.modelOptions(), randomBytes(8).toString('hex'));
      if (await store.createConfig(encodeConfig(model.snapshot()))) return model;
    }
    throw new Error('the persisted config appeared and vanished while starting; is another coordinator resetting it?');
  }

  /** Keeps a request handler's promise until it settles, so stop() can wait for it. */
  private track(p: Promise<void>): void {
    const tracked = p
      .catch((err) => this.options.logger.error('request handler failed', err))
      .finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  // ---- inputs ------------------------------------------------------------------------------

  private onHeartbeat(msg: Msg): void {
    if (this.state !== 'running') return;
    let hb: lambdastore.Heartbeat;
    try {
      hb = lambdastore.Heartbeat.decode(msg.data);
    } catch {
      return; // Not ours to answer (publish-only subject); a garbled heartbeat is just a missed one.
    }
    const input: HeartbeatInput = {
      workerId: hb.workerId,
      startedAtMs: Number(hb.startedAtMs),
      pid: hb.pid,
      inflight: hb.inflight,
      callsTotal: Number(hb.callsTotal),
      abortsTotal: Number(hb.abortsTotal),
      entrySetSplits: Number(hb.entrySetSplits),
      entrySetMerges: Number(hb.entrySetMerges),
      shards: hb.shards,
      configVersion: Number(hb.configVersion),
      threads: hb.threads,
    };
    const wasAlive = this.model!.worker(input.workerId)?.alive;
    const wasAssigned = this.model!.assigned;
    if (this.model!.heartbeat(input, Date.now())) {
      if (!wasAlive && input.workerId) this.options.logger.info(`worker ${input.workerId} is alive (pid ${input.pid})`);
      this.logAssignment(wasAssigned);
      this.changed();
    }
  }

  /**
   * `lambdastore worker drain|add`: JSON `{"workerId": "...", "drain": true|false}`; the reply is
   * `{"ok": true, "version": N}` or `{"ok": false, "error": {"code", "message"}}`.
   */
  private onDrain(msg: Msg): void {
    if (this.state !== 'running') return;
    let out: unknown;
    try {
      let body: { workerId?: unknown; drain?: unknown };
      try {
        body = JSON.parse(fromUtf8.decode(msg.data)) as typeof body;
      } catch {
        throw Object.assign(new Error('body is not JSON: {"workerId": "...", "drain": true|false}'), { code: 'MALFORMED_REQUEST' });
      }
      if (typeof body?.workerId !== 'string' || typeof body.drain !== 'boolean') {
        throw Object.assign(new Error('give {"workerId": "<id>", "drain": true|false}'), { code: 'INVALID_ARGUMENT' });
      }
      let cfg;
      try {
        cfg = this.model!.drain(body.workerId, body.drain);
      } catch (err) {
        throw Object.assign(err as Error, { code: 'INVALID_ARGUMENT' });
      }
      if (cfg) {
        this.options.logger.info(`worker ${body.workerId} ${body.drain ? 'drained: out of every chain' : 'may join chains again'}`);
        this.changed();
      }
      out = { ok: true, version: this.model!.version };
    } catch (err) {
      out = { ok: false, error: { code: (err as { code?: string }).code ?? 'INTERNAL', message: (err as Error).message } };
    }
    this.reply(msg, utf8.encode(JSON.stringify(out)));
  }

  /** Telemetry from a worker (JSON, ~1/s each); garbage is ignored, like a garbled heartbeat. */
  private onTelemetry(msg: Msg, spans: boolean): void {
    if (this.state !== 'running') return;
    try {
      const value: unknown = JSON.parse(fromUtf8.decode(msg.data));
      if (spans) this.ops.addSpans(value as SpanBatch, Date.now());
      else this.ops.addMetrics(value as MetricsSnapshot);
    } catch {
      // not ours, or damaged
    }
  }

  private onTick(): void {
    if (this.state !== 'running') return;
    const before = new Set(this.model!.aliveWorkerIds());
    const wasAssigned = this.model!.assigned;
    if (this.model!.tick(Date.now())) {
      const now = new Set(this.model!.aliveWorkerIds());
      for (const id of before) if (!now.has(id)) this.options.logger.warn(`worker ${id} missed heartbeats for ${this.options.heartbeatTimeoutMs} ms: dead (taken out of its chains)`);
      this.logAssignment(wasAssigned);
      this.changed();
    } else if (this.dirty && !this.flushing) {
      // An earlier persist failed: retry on the tick, at most about once a second.
      if (Date.now() - this.lastPersistErrorAtMs > 1000) void this.flush().catch(() => undefined);
    }
  }

  private logAssignment(wasAssigned: boolean): void {
    if (wasAssigned || !this.model!.assigned) return;
    this.options.logger.info(`assigned ${this.model!.numShards} shards over ${this.model!.aliveWorkerIds().join(', ')}`);
  }

  // ---- persistence and publication ---------------------------------------------------------

  private changed(): void {
    this.dirty = true;
    void this.flush().catch(() => undefined);
  }

  /**
   * Persists the latest config, then publishes it; loops while changes keep arriving, so the last
   * state always gets written and broadcasts go out in version order. One flush runs at a time.
   */
  private flush(): Promise<void> {
    this.flushing ??= this.runFlush().finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  private async runFlush(): Promise<void> {
    while (this.dirty) {
      const nc = this.nc;
      if (!nc || nc.isClosed()) throw new Error('not connected to NATS');
      this.dirty = false;
      const snap = this.model!.snapshot();
      const bytes = encodeConfig(snap);
      try {
        await this.store!.saveConfig(bytes);
      } catch (err) {
        this.dirty = true;
        if (Date.now() - this.lastPersistErrorAtMs > 5000) this.options.logger.error(`could not persist config version ${snap.version}`, err);
        this.lastPersistErrorAtMs = Date.now();
        throw err;
      }
      this.persistedVersion = snap.version;
      nc.publish(this.subjects.config, bytes);
    }
  }

  /** Resolves once `version` (or a later one) is persisted and published. */
  private async persisted(version: number): Promise<void> {
    while (this.persistedVersion < version) {
      if (!this.dirty && !this.flushing) throw new Error(`config version ${version} was never scheduled for persistence`);
      await this.flush();
    }
  }

  /** Periodic re-publication, so a worker or client that missed a change catches up within one interval. */
  private broadcast(): void {
    if (this.state !== 'running' || this.dirty || this.flushing) return; // the flush publishes
    const snap = this.model!.snapshot();
    if (snap.version !== this.persistedVersion) return;
    this.nc?.publish(this.subjects.config, encodeConfig(snap));
  }

  // ---- admin requests ----------------------------------------------------------------------

  private async onConfigRequest(msg: Msg): Promise<void> {
    let resp: lambdastore.IConfigResponse;
    try {
      try {
        lambdastore.ConfigRequest.decode(msg.data);
      } catch (err) {
        throw malformedRequest(`not a protobuf ConfigRequest: ${(err as Error).message}`, err);
      }
      if (this.dirty || this.flushing) await this.persisted(this.model!.version);
      resp = { ok: true, config: this.model!.snapshot() };
    } catch (err) {
      resp = { ok: false, error: toWireError(err) };
    }
    this.reply(msg, lambdastore.ConfigResponse.encode(lambdastore.ConfigResponse.create(resp)).finish());
  }

  private async onDeploy(msg: Msg): Promise<void> {
    const resp = await tracer.startActiveSpan('coordinator.deploy', {}, extractTraceContext(msg.headers), async (span) => {
      try {
        const r = await this.deploy(msg.data);
        span.setAttribute('lambdastore.module_id', r.moduleId ?? '');
        return r;
      } catch (err) {
        const wire = toWireError(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: wire.code ?? '' });
        if (wire.code === 'INTERNAL') this.options.logger.error('deploy failed', err);
        return { ok: false, error: wire } satisfies lambdastore.IDeployResponse;
      } finally {
        span.end();
      }
    });
    this.reply(msg, lambdastore.DeployResponse.encode(lambdastore.DeployResponse.create(resp)).finish());
  }

  private async deploy(data: Uint8Array): Promise<lambdastore.IDeployResponse> {
    let req: lambdastore.DeployRequest;
    try {
      req = lambdastore.DeployRequest.decode(data);
    } catch (err) {
      throw malformedRequest(`not a protobuf DeployRequest: ${(err as Error).message}`, err);
    }
    const filename = req.filename || 'module.js';
    const types = await this.checker.check(req.source, filename);
    const moduleId = moduleIdOf(req.source);
    const model = this.model!;
    if (model.isCurrentModule(moduleId, types.map((t) => t.name))) {
      // Idempotent redeploy. If the first attempt's config is still unpersisted (its persist failed
      // and the caller retried), "ok" must wait until it is durable, like the first reply would have.
      if (this.dirty || this.flushing) await this.persisted(model.version);
      return { ok: true, moduleId, types: types.map((t) => model.typeInfo(t.name)!) };
    }
    // Source first: once a config names the module, workers must be able to fetch it.
    await this.store!.putModule(moduleId, req.source);
    const outcome = model.deploy(moduleId, types, Date.now());
    if (outcome.changed) {
      this.changed();
      await this.persisted(outcome.config!.version);
      this.options.logger.info(`deployed ${filename} (${moduleId}): ${outcome.types.map((t) => `${t.name} v${t.version}`).join(', ')}`);
    }
    return { ok: true, moduleId, types: outcome.types };
  }

  private reply(msg: Msg, bytes: Uint8Array): void {
    if (!msg.reply || !this.nc || this.nc.isClosed()) return;
    try {
      msg.respond(bytes);
    } catch (err) {
      this.options.logger.error('could not send a reply', err);
    }
  }
}
