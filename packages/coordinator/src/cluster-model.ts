/**
 * The coordinator's decisions, as a pure state machine: heartbeats, clock ticks and validated
 * deploys go in; a new cluster config comes out when something that others route by changed
 * (or nothing). No NATS, no timers, no disk: the shell in coordinator.ts feeds it the clock and
 * must persist every config it returns before publishing it.
 *
 * `version` is bumped only by structural changes (a worker appears, dies, returns or restarts; shards
 * get assigned; types get deployed). Worker statistics (lastSeen, inflight, callsTotal) are refreshed
 * in every snapshot but never bump the version, or it would change with every heartbeat.
 */

import { removeFromChains, unifyGroups, fillChains, initialChains } from './failover.js';

export interface HeartbeatInput {
  workerId: string;
  startedAtMs: number;
  pid: number;
  inflight: number;
  callsTotal: number;
  /** Transaction attempts that conflicted; entry-set splits and merges (worker counters). */
  abortsTotal?: number;
  entrySetSplits?: number;
  entrySetMerges?: number;
  /** Shards the worker says it serves right now. */
  shards: readonly number[];
  /** Config version the worker applies. */
  configVersion: number;
  threads: number;
}

export interface WorkerState {
  readonly id: string;
  alive: boolean;
  /** Coordinator clock, never the worker's: liveness must not depend on clock skew. */
  lastSeenMs: number;
  pid: number;
  startedAtMs: number;
  inflight: number;
  callsTotal: number;
  abortsTotal: number;
  entrySetSplits: number;
  entrySetMerges: number;
  shards: readonly number[];
  configVersion: number;
  threads: number;
  /** This incarnation was taken out of its chains; it rejoins only as a new incarnation. */
  removed: boolean;
  /** Taken out of every chain by an operator; no chain takes it until it is let back in. */
  drained?: boolean;
}

export interface ShardAssignmentData {
  shard: number;
  /** Head first; every member holds the shard (chain replication). */
  chain: string[];
  epoch: number;
}

export interface MethodInfoData {
  name: string;
  readonly: boolean;
  timeoutMs: number;
}

export interface TypeInfoData {
  name: string;
  version: number;
  moduleId: string;
  methods: MethodInfoData[];
  deployedAtMs: number;
}

export interface WorkerInfoData {
  id: string;
  alive: boolean;
  lastSeenMs: number;
  pid: number;
  startedAtMs: number;
  inflight: number;
  callsTotal: number;
  abortsTotal: number;
  entrySetSplits: number;
  entrySetMerges: number;
  removed: boolean;
  drained?: boolean;
}

/** Plain-data twin of proto `ClusterConfig`; lists sorted (shards by number, workers and types by name). */
export interface ClusterConfigData {
  version: number;
  numShards: number;
  clusterId: string;
  shards: ShardAssignmentData[];
  workers: WorkerInfoData[];
  types: TypeInfoData[];
}

/** A type found in a validated module. */
export interface DeployedTypeInput {
  name: string;
  methods: MethodInfoData[];
}

export interface ModelOptions {
  numShards: number;
  heartbeatTimeoutMs: number;
  assignSettleMs: number;
  /** When set, assign once this many workers are alive; otherwise `assignSettleMs` after the first heartbeat. */
  minWorkers?: number | undefined;
  /** Workers per chain (replication factor), when that many are alive. Default 3. */
  chainLength?: number | undefined;
}

export interface DeployOutcome {
  /** False for an idempotent redeploy: `types` are the existing TypeInfos and nothing changed. */
  changed: boolean;
  types: TypeInfoData[];
  /** The new config when `changed`. */
  config?: ClusterConfigData;
}

/** Epoch of a shard's first chain; a chain that changes takes the version of the config carrying it. */
export const INITIAL_EPOCH = 1;
export const DEFAULT_CHAIN_LENGTH = 3;

export class ClusterModel {
  readonly clusterId: string;
  private readonly opts: ModelOptions;
  private _version: number;
  private _numShards: number;
  private readonly shards = new Map<number, ShardAssignmentData>();
  private readonly workersById = new Map<string, WorkerState>();
  private readonly types = new Map<string, TypeInfoData>();
  /** First heartbeat this model saw while shards were unassigned (the settle timer's start). */
  private firstHeartbeatAtMs: number | undefined;

  private constructor(opts: ModelOptions, clusterId: string, version: number, numShards: number) {
    this.opts = opts;
    this.clusterId = clusterId;
    this._version = version;
    this._numShards = numShards;
  }

  /** A brand-new cluster: version 1, no workers, no shards, no types. */
  static fresh(opts: ModelOptions, clusterId: string): ClusterModel {
    return new ClusterModel(opts, clusterId, 1, opts.numShards);
  }

  /**
   * A cluster restored from its persisted config. Workers recorded alive get a fresh grace period
   * (lastSeen = now): the persisted lastSeen is as old as the last change, and declaring every worker
   * dead on the first tick after a coordinator restart would be wrong and noisy.
   */
  static restore(opts: ModelOptions, saved: ClusterConfigData, nowMs: number): { model: ClusterModel; warnings: string[] } {
    const warnings: string[] = [];
    let numShards = opts.numShards;
    if (saved.shards.length > 0 && saved.numShards !== opts.numShards) {
      // Objects are placed by hash mod numShards: changing it would orphan every stored object.
      warnings.push(`keeping the persisted numShards=${saved.numShards} (option says ${opts.numShards}): shards are already assigned`);
      numShards = saved.numShards;
    }
    const model = new ClusterModel(opts, saved.clusterId, Math.max(1, saved.version), numShards);
    for (const s of saved.shards) {
      if (s.shard < numShards && s.chain.length > 0) model.shards.set(s.shard, { shard: s.shard, chain: [...s.chain], epoch: s.epoch });
    }
    if (model.shards.size > 0 && model.shards.size < numShards) {
      warnings.push(`persisted config assigns ${model.shards.size} of ${numShards} shards; the rest stay unassigned`);
    }
    for (const w of saved.workers) {
      model.workersById.set(w.id, {
        id: w.id,
        alive: w.alive,
        lastSeenMs: w.alive ? nowMs : w.lastSeenMs,
        pid: w.pid,
        startedAtMs: w.startedAtMs,
        inflight: w.inflight,
        callsTotal: w.callsTotal,
        abortsTotal: w.abortsTotal,
        entrySetSplits: w.entrySetSplits,
        entrySetMerges: w.entrySetMerges,
        shards: [],
        configVersion: 0,
        threads: 0,
        removed: w.removed,
        drained: w.drained === true,
      });
    }
    for (const t of saved.types) model.types.set(t.name, cloneType(t));
    return { model, warnings };
  }

  get version(): number {
    return this._version;
  }

  get numShards(): number {
    return this._numShards;
  }

  /** True once the shard map has been handed out (it is then never redone). */
  get assigned(): boolean {
    return this.shards.size > 0;
  }

  worker(id: string): Readonly<WorkerState> | undefined {
    return this.workersById.get(id);
  }

  aliveWorkerIds(): string[] {
    return [...this.workersById.values()].filter((w) => w.alive).map((w) => w.id).sort();
  }

  typeInfo(name: string): TypeInfoData | undefined {
    const t = this.types.get(name);
    return t && cloneType(t);
  }

  /** A heartbeat arrived at `nowMs`. Returns the new config if the version changed. */
  heartbeat(hb: HeartbeatInput, nowMs: number): ClusterConfigData | undefined {
    if (!hb.workerId) return undefined;
    let changed = false;
    let w = this.workersById.get(hb.workerId);
    if (!w) {
      w = {
        id: hb.workerId, alive: true, lastSeenMs: nowMs, pid: hb.pid, startedAtMs: hb.startedAtMs,
        inflight: 0, callsTotal: 0, abortsTotal: 0, entrySetSplits: 0, entrySetMerges: 0, shards: [], configVersion: 0, threads: 0, removed: false,
      };
      this.workersById.set(w.id, w);
      changed = true;
    } else {
      if (!w.alive) changed = true;
      // A new incarnation (restart faster than the timeout) is still news for whoever caches state.
      if (w.startedAtMs !== hb.startedAtMs || w.pid !== hb.pid) {
        changed = true;
        // Its pipeline state (records received, not yet acknowledged) died with the old one: it
        // leaves its chains and comes back as a tail with a state transfer.
        if (removeFromChains(this.shards.values(), w.id, this._version + 1)) unifyGroups(this.shards.values(), this._version + 1);
        w.removed = false;
      }
    }
    w.alive = true;
    w.lastSeenMs = nowMs;
    w.pid = hb.pid;
    w.startedAtMs = hb.startedAtMs;
    w.inflight = hb.inflight;
    w.callsTotal = hb.callsTotal;
    w.abortsTotal = hb.abortsTotal ?? 0;
    w.entrySetSplits = hb.entrySetSplits ?? 0;
    w.entrySetMerges = hb.entrySetMerges ?? 0;
    w.shards = [...hb.shards];
    w.configVersion = hb.configVersion;
    w.threads = hb.threads;
    if (!this.assigned && this.firstHeartbeatAtMs === undefined) this.firstHeartbeatAtMs = nowMs;
    if (this.maybeAssign(nowMs)) changed = true;
    if (this.fill()) changed = true;
    return this.finish(changed);
  }

  /** The clock moved to `nowMs`. Marks silent workers dead and assigns when due. */
  tick(nowMs: number): ClusterConfigData | undefined {
    let changed = false;
    for (const w of this.workersById.values()) {
      if (w.alive && nowMs - w.lastSeenMs > this.opts.heartbeatTimeoutMs) {
        // A dead worker leaves every chain it shares (its successor takes over); where it is the
        // only member it keeps the shard: its LevelDB holds the only copy.
        w.alive = false;
        w.inflight = 0;
        if (removeFromChains(this.shards.values(), w.id, this._version + 1)) {
          w.removed = true;
          unifyGroups(this.shards.values(), this._version + 1);
        }
        changed = true;
      }
    }
    if (this.maybeAssign(nowMs)) changed = true;
    if (this.fill()) changed = true;
    return this.finish(changed);
  }

  /**
   * Drains a worker (`drained`: it leaves every chain it shares, as if dead: successors are promoted
   * and chains filled from the others) or lets it back in (chains short of members take it as tail).
   * Undefined when nothing changed; throws for a worker the cluster never saw.
   */
  drain(workerId: string, drained: boolean): ClusterConfigData | undefined {
    const w = this.workersById.get(workerId);
    if (!w) throw new Error(`no worker ${JSON.stringify(workerId)} in this cluster`);
    let changed = (w.drained === true) !== drained;
    w.drained = drained;
    if (drained && removeFromChains(this.shards.values(), w.id, this._version + 1)) {
      unifyGroups(this.shards.values(), this._version + 1);
      changed = true;
    }
    if (this.fill()) changed = true;
    return this.finish(changed);
  }

  /** True when `moduleId` is already the current module of every one of `typeNames`. */
  isCurrentModule(moduleId: string, typeNames: readonly string[]): boolean {
    return typeNames.length > 0 && typeNames.every((n) => this.types.get(n)?.moduleId === moduleId);
  }

  /**
   * Registers a validated module's types. Each type gets its previous version + 1 (1 when new),
   * unless the module is already current for all of them (idempotent redeploy: nothing changes).
   */
  deploy(moduleId: string, types: readonly DeployedTypeInput[], nowMs: number): DeployOutcome {
    const names = types.map((t) => t.name);
    if (this.isCurrentModule(moduleId, names)) {
      return { changed: false, types: names.map((n) => cloneType(this.types.get(n)!)) };
    }
    const out: TypeInfoData[] = [];
    for (const t of types) {
      const info: TypeInfoData = {
        name: t.name,
        version: (this.types.get(t.name)?.version ?? 0) + 1,
        moduleId,
        methods: t.methods.map((m) => ({ ...m })),
        deployedAtMs: nowMs,
      };
      this.types.set(t.name, info);
      out.push(cloneType(info));
    }
    const config = this.finish(true)!;
    return { changed: true, types: out, config };
  }

  /** The current config, with the latest worker statistics. */
  snapshot(): ClusterConfigData {
    const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return {
      version: this._version,
      numShards: this._numShards,
      clusterId: this.clusterId,
      shards: [...this.shards.values()].sort((a, b) => a.shard - b.shard).map((s) => ({ shard: s.shard, chain: [...s.chain], epoch: s.epoch })),
      workers: [...this.workersById.values()]
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((w) => ({
          id: w.id, alive: w.alive, lastSeenMs: w.lastSeenMs, pid: w.pid,
          startedAtMs: w.startedAtMs, inflight: w.inflight, callsTotal: w.callsTotal,
          abortsTotal: w.abortsTotal, entrySetSplits: w.entrySetSplits, entrySetMerges: w.entrySetMerges, removed: w.removed, drained: w.drained === true,
        })),
      types: [...this.types.values()].sort(byName).map(cloneType),
    };
  }

  private finish(changed: boolean): ClusterConfigData | undefined {
    if (!changed) return undefined;
    this._version += 1;
    return this.snapshot();
  }

  /**
   * One-shot assignment: every shard at once, heads round robin over the alive workers in sorted
   * id order, each followed by the next `chainLength - 1` workers. Later, chains only change by
   * failover (removeFromChains) and by filling up with new tails (fillChains).
   */
  private maybeAssign(nowMs: number): boolean {
    if (this.assigned) return false;
    const alive = this.aliveWorkerIds();
    if (alive.length === 0) return false;
    if (this.opts.minWorkers !== undefined) {
      if (alive.length < this.opts.minWorkers) return false;
    } else if (this.firstHeartbeatAtMs === undefined || nowMs - this.firstHeartbeatAtMs < this.opts.assignSettleMs) {
      return false;
    }
    for (const s of initialChains(this._numShards, alive, this.chainLength, INITIAL_EPOCH)) this.shards.set(s.shard, s);
    return true;
  }

  private get chainLength(): number {
    return this.opts.chainLength ?? DEFAULT_CHAIN_LENGTH;
  }

  /** Chains shorter than the replication factor take alive workers that are not removed as tails. */
  private fill(): boolean {
    if (!this.assigned) return false;
    const eligible = [...this.workersById.values()].filter((w) => w.alive && !w.removed && !w.drained).map((w) => w.id);
    return fillChains(this.shards.values(), eligible, this.chainLength, this._version + 1);
  }
}

function cloneType(t: TypeInfoData): TypeInfoData {
  return { ...t, methods: t.methods.map((m) => ({ ...m })) };
}
