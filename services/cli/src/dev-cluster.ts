/**
 * A complete local cluster in one call: its own nats-server (JetStream), the coordinator and N
 * workers, each a child process. Used by `lambdastore dev`, `lambdastore start` (npm start), the
 * integration tests and the benchmarks, so it is built to fail loudly and leave nothing behind:
 * every wait is bounded, a failure shows the child's output, and whatever was started is stopped
 * when start-up fails or the parent process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, realpathSync, type WriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type ClusterConfig } from '@lambdastore/client';
import { connect as natsConnect } from '@nats-io/transport-node';
import { lambdastore, subjects } from '@lambdastore/proto';
import { startNatsServer, type NatsServer } from '@lambdastore/testkit';

export interface DevClusterOptions {
  /** Worker processes to start (default 3). */
  workers?: number;
  /** Everything lives here: `nats/` (JetStream store), `worker-<i>/`, `logs/`, `cluster.json`. */
  dataDir: string;
  /** Subject prefix (default `lambdastore`). */
  prefix?: string;
  /** NATS client port; 0 (default) picks a free loopback port. */
  natsPort?: number;
  /** Piscina threads per worker (worker default when omitted). */
  threads?: number;
  /** Progress lines ("starting worker-0", ...). Child output goes to the log files, not here. */
  log?: (line: string) => void;
  /** Workers the coordinator waits for before assigning shards (default: `workers`). */
  minWorkers?: number;
  /** Shards of the cluster (coordinator default when omitted). */
  shards?: number;
  /** Workers per shard chain (replication factor; coordinator default 3 when omitted). */
  chainLength?: number;
  /** Where the coordinator's ops dashboard listens: `host:port` (port 0: a free one) or `off`. Default 127.0.0.1:0. */
  dashboard?: string;
  /** Extra command-line arguments for the coordinator / every worker. */
  coordinatorArgs?: string[];
  workerArgs?: string[];
  /** Extra environment for the children. */
  env?: Record<string, string>;
  /**
   * Whether start-up also waits until every replica reports its shards caught up (default true: the
   * cluster is ready only once its chains are whole). false: ready once every shard has a live head;
   * the first writes may then race the initial state transfers (tests of exactly that race).
   */
  waitForReplicas?: boolean;
  /** Bound for each child's ready line, and for the cluster map to settle (default 30000 ms each). */
  readyTimeoutMs?: number;
  /** Bound for a child to exit after SIGTERM before it is killed (default 8000 ms). */
  stopTimeoutMs?: number;
  /** Called when a child exits while nobody asked it to (not during stop/kill/restart). */
  onUnexpectedExit?: (proc: DevProcess, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface DevProcess {
  /** `coordinator` or `worker-<i>`. */
  readonly name: string;
  /** Log file (appended to across restarts). */
  readonly logFile: string;
  /** Process id of the current (or last) child. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The child's recent output (stdout and stderr, at most ~64 KiB). */
  output(): string;
}

export interface DevWorker extends DevProcess {
  readonly index: number;
  readonly id: string;
  readonly dataDir: string;
}

export interface DevCluster {
  readonly natsUrl: string;
  readonly prefix: string;
  readonly dataDir: string;
  readonly nats: NatsServer;
  readonly workers: DevWorker[];
  readonly coordinator: DevProcess;
  /** The ops dashboard served by the coordinator (undefined when turned off). */
  readonly dashboardUrl: string | undefined;
  /** Stops workers and coordinator (SIGTERM, then SIGKILL after the bound) and nats-server. Idempotent. */
  stop(): Promise<void>;
  /** Sends `signal` to worker `i` and waits (bounded) until it has exited. */
  killWorker(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Sends `signal` to worker `i` without waiting (SIGSTOP / SIGCONT to pause and resume it). */
  signalWorker(i: number, signal: NodeJS.Signals): void;
  /** Starts worker `i` again on the same data folder and id (stopping it first if it runs); waits until
   *  it is ready and the coordinator sees it alive. */
  restartWorker(i: number): Promise<void>;
  /** Starts the coordinator again (stopping it first if it runs); waits until it is ready and its map
   *  shows the running workers alive. Nothing is lost: its state lives in JetStream KV. The dashboard
   *  keeps its address when it is free. */
  restartCoordinator(): Promise<void>;
  /** The cluster map, fresh from the coordinator. */
  config(): Promise<ClusterConfig>;
  /** Sends `signal` to the coordinator and waits (bounded) until it has exited. */
  killCoordinator(signal?: NodeJS.Signals): Promise<void>;
}

const OUTPUT_KEEP_CHARS = 64 * 1024;

/** Data folders of the clusters this process runs (cluster.json cannot tell them apart: same pid). */
const activeDataDirs = new Set<string>();

/** A child process that can be started again with the same command; output goes to a log file. */
class ManagedProcess implements DevProcess {
  private child: ChildProcess | undefined;
  private exitP: Promise<void> = Promise.resolve();
  private out = '';
  private logStream: WriteStream | undefined;
  private expectedExit = false;
  private lineBuf = '';
  private lineWaiters: Array<(line: string) => void> = [];

  constructor(
    readonly name: string,
    readonly logFile: string,
    private readonly command: string,
    private args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly onUnexpectedExit: (code: number | null, signal: NodeJS.Signals | null) => void,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.out;
  }

  /** The arguments of the next start (a restart may pin what the first start chose, e.g. a port). */
  setArgs(args: string[]): void {
    this.args = args;
  }

  /** Spawns the child and resolves when a stdout/stderr line satisfies `isReady` (bounded). */
  async start(isReady: (line: string) => boolean, timeoutMs: number): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    this.expectedExit = false;
    this.lineBuf = '';
    this.logStream ??= createWriteStream(this.logFile, { flags: 'a' });
    this.logStream.write(`---- ${new Date().toISOString()} ${this.command} ${this.args.join(' ')}\n`);
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.env });
    this.child = child;
    this.exitP = new Promise<void>((res) => {
      child.once('exit', (code, signal) => {
        this.append(`---- exited (${signal ?? `code ${code}`})\n`);
        if (!this.expectedExit) this.onUnexpectedExit(code, signal);
        res();
      });
      // A spawn failure (no node binary...) emits 'error' and maybe no 'exit'.
      child.once('error', (err) => {
        this.append(`---- spawn error: ${err.message}\n`);
        res();
      });
    });
    const onData = (d: Buffer) => this.append(d.toString());
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);

    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => finish(new Error(`${this.name} not ready after ${timeoutMs} ms`)), timeoutMs);
      const waiter = (line: string) => {
        if (isReady(line)) finish();
      };
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.lineWaiters = this.lineWaiters.filter((w) => w !== waiter);
        child.off('exit', onExit);
        child.off('error', onError);
        if (err) rej(new Error(`${err.message}; its output (${this.logFile}):\n${tail(this.out)}`));
        else res();
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        finish(new Error(`${this.name} exited (${signal ?? `code ${code}`}) before it was ready`));
      const onError = (e: Error) => finish(new Error(`${this.name} could not be started: ${e.message}`));
      this.lineWaiters.push(waiter);
      child.once('exit', onExit);
      child.once('error', onError);
    });
  }

  /** Sends `signal`; waits for exit up to `timeoutMs`, then SIGKILLs and waits (bounded) again. */
  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.expectedExit = true;
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
    if (await within(this.exitP, timeoutMs)) return;
    this.append(`---- no exit ${timeoutMs} ms after ${signal}: SIGKILL\n`);
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
    if (!(await within(this.exitP, 5000))) throw new Error(`${this.name} (pid ${child.pid}) did not exit after SIGKILL`);
  }

  /** Synchronous last resort for process exit handlers. */
  killNow(): void {
    if (this.running) {
      this.expectedExit = true;
      try {
        this.child!.kill('SIGKILL');
      } catch {
        // ignore
      }
    }
  }

  async closeLog(): Promise<void> {
    const s = this.logStream;
    this.logStream = undefined;
    if (s) await new Promise<void>((r) => s.end(r));
  }

  private append(text: string): void {
    this.logStream?.write(text);
    this.out += text;
    if (this.out.length > OUTPUT_KEEP_CHARS * 2) this.out = this.out.slice(-OUTPUT_KEEP_CHARS);
    if (this.lineWaiters.length === 0) {
      this.lineBuf = '';
      return;
    }
    this.lineBuf += text;
    const lines = this.lineBuf.split('\n');
    this.lineBuf = lines.pop() ?? '';
    if (this.lineBuf.length > OUTPUT_KEEP_CHARS) this.lineBuf = '';
    for (const line of lines) for (const w of [...this.lineWaiters]) w(line.replace(/\r$/, ''));
  }
}

class Worker extends ManagedProcess implements DevWorker {
  constructor(
    readonly index: number,
    readonly id: string,
    readonly dataDir: string,
    logFile: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    onUnexpectedExit: (code: number | null, signal: NodeJS.Signals | null) => void,
  ) {
    super(`worker-${index}`, logFile, command, args, env, onUnexpectedExit);
  }
}

function tail(text: string, maxChars = 8000): string {
  const t = text.length > maxChars ? `...${text.slice(-maxChars)}` : text;
  return t.trim() === '' ? '(no output)' : t;
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Finds `<package dir>/dist/src/main.js` of a service package. The service packages do not export
 * `./package.json`, so resolution falls back to walking up node_modules the way Node does, then to
 * the monorepo layout.
 */
export function resolveServiceMain(pkg: '@lambdastore/worker-service' | '@lambdastore/coordinator-service'): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let pkgDir: string | undefined;
  try {
    pkgDir = dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
  } catch {
    for (let dir = here; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', pkg, 'package.json');
      if (existsSync(candidate)) {
        pkgDir = dirname(realpathSync(candidate));
        break;
      }
      if (dirname(dir) === dir) break;
    }
  }
  // services/cli/dist/src -> services/<name>
  pkgDir ??= resolve(here, '../../..', pkg === '@lambdastore/worker-service' ? 'worker' : 'coordinator');
  const main = join(pkgDir, 'dist', 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${pkg} is not built: ${main} is missing (run \`npm run build\`)`);
  return main;
}

/** Environment variable naming the data folder of the dev cluster a child process belongs to. */
const DEV_DATA_VARIABLE = 'LAMBDASTORE_DEV_DATA';

/**
 * Stops processes left running by an earlier dev cluster on `dataDir` whose parent died without
 * stopping them (they would hold the worker databases and a second nats-server would share the
 * JetStream folder). Finds them by the marker in their environment; Linux only (elsewhere a no-op).
 */
async function stopOrphans(dataDir: string, log: (line: string) => void): Promise<void> {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid);
  } catch {
    return;
  }
  const needle = `${DEV_DATA_VARIABLE}=${dataDir}\u0000`;
  const orphans: number[] = [];
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(needle)) orphans.push(Number(pid));
    } catch {
      // gone, or not ours to read
    }
  }
  for (const pid of orphans) {
    log(`stopping process ${pid} left running by an earlier dev cluster on ${dataDir}`);
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  const deadline = Date.now() + 5000;
  while (orphans.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** Reads `<dataDir>/cluster.json`; returns it when the process that wrote it is still alive. */
export function liveClusterFile(dataDir: string): { natsUrl: string; prefix: string; pid: number } | undefined {
  const file = join(dataDir, 'cluster.json');
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as { natsUrl: string; prefix: string; pid: number };
    if (typeof info.pid !== 'number' || info.pid === process.pid) return undefined;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}

/** The coordinator's default chain length (its `--chain-length`), capped by the number of workers. */
const DEFAULT_CHAIN_LENGTH = 3;

/**
 * True when every shard has a chain of `length` live workers and every member behind the head
 * reports, in its latest heartbeat under this map, that it holds the shard caught up (its state
 * transfer done). Shared by the dev cluster's start, the bench and the replication tests.
 */
export function replicasCaughtUp(cfg: ClusterConfig, beats: ReadonlyMap<string, lambdastore.Heartbeat>, length: number): { ok: boolean; why: string } {
  const alive = new Set((cfg.workers ?? []).filter((w) => w.alive && !w.removed).map((w) => w.id ?? ''));
  for (const s of cfg.shards ?? []) {
    const chain = s.chain ?? [];
    if (chain.length !== length || !chain.every((w) => alive.has(w))) return { ok: false, why: `shard ${s.shard}: chain ${chain.join('->')}, want ${length} live workers` };
    for (const w of chain.slice(1)) {
      const beat = beats.get(w);
      if (!beat || Number(beat.configVersion) < Number(cfg.version) || !beat.replicaShards.includes(s.shard ?? 0)) return { ok: false, why: `shard ${s.shard}: replica ${w} not caught up yet` };
    }
  }
  return { ok: true, why: '' };
}

/**
 * True when the expected workers are alive in the map (the current incarnation: same pid, when the
 * map has one) and, with `allShards`, every shard is assigned to a chain of live expected workers.
 */
function clusterSettled(cfg: ClusterConfig, expect: ReadonlyArray<{ id: string; pid: number | undefined }>, allShards: boolean): { ok: boolean; why: string } {
  const infos = new Map((cfg.workers ?? []).map((w) => [w.id, w]));
  const alive = new Set((cfg.workers ?? []).filter((w) => w.alive).map((w) => w.id));
  const missing = expect.filter(({ id, pid }) => {
    const info = infos.get(id);
    return !info || !info.alive || (pid !== undefined && info.pid !== 0 && info.pid !== pid);
  });
  if (missing.length > 0) return { ok: false, why: `workers not (yet) alive in the cluster map: ${missing.map((w) => w.id).join(', ')}` };
  if (!allShards) return { ok: true, why: '' };
  const shards = cfg.shards ?? [];
  if (!cfg.numShards || shards.length < cfg.numShards) return { ok: false, why: `${shards.length}/${cfg.numShards ?? 0} shards assigned` };
  // Chain members must be workers we run: a restored map may still call a worker alive that is not.
  const ours = new Set(expect.map((w) => w.id));
  const bad = shards.filter((s) => !s.chain || s.chain.length === 0 || !s.chain.every((id) => alive.has(id) && ours.has(id)));
  if (bad.length > 0) {
    const owners = [...new Set(bad.flatMap((s) => s.chain ?? []).filter((id) => !expect.some((w) => w.id === id)))];
    const hint = owners.length > 0 ? ` (they belong to ${owners.join(', ')}, not started now: reuse a data folder with the same --workers, or start fresh)` : '';
    return { ok: false, why: `shards without a live chain: ${bad.map((s) => s.shard).join(', ')}${hint}` };
  }
  return { ok: true, why: '' };
}

export async function startDevCluster(opts: DevClusterOptions): Promise<DevCluster> {
  const nWorkers = opts.workers ?? 3;
  if (!Number.isInteger(nWorkers) || nWorkers < 1 || nWorkers > 64) throw new Error(`workers must be an integer in [1, 64], got ${nWorkers}`);
  const prefix = opts.prefix ?? 'lambdastore';
  const dataDir = resolve(opts.dataDir);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 8000;
  const log = opts.log ?? (() => {});
  const minWorkers = opts.minWorkers ?? nWorkers;

  const other = liveClusterFile(dataDir);
  if (other) throw new Error(`a dev cluster (pid ${other.pid}, ${other.natsUrl}) is already using ${dataDir}`);
  if (activeDataDirs.has(dataDir)) throw new Error(`a dev cluster of this process is already using ${dataDir}`);

  const workerMain = resolveServiceMain('@lambdastore/worker-service');
  const coordinatorMain = resolveServiceMain('@lambdastore/coordinator-service');
  const logsDir = join(dataDir, 'logs');
  await mkdir(logsDir, { recursive: true });
  await mkdir(join(dataDir, 'nats'), { recursive: true });
  // Every child carries the data folder in its environment, so the orphans of a dev process that was
  // killed outright (kill -9: no chance to stop its children) can be found and stopped next time.
  const mark = { [DEV_DATA_VARIABLE]: dataDir };
  await stopOrphans(dataDir, log);
  const env: NodeJS.ProcessEnv = { ...process.env, ...(opts.env ?? {}), ...mark };

  activeDataDirs.add(dataDir);
  let stopping = false;
  let wroteClusterFile = false;
  let nats: NatsServer | undefined;
  const procs: ManagedProcess[] = [];
  // Last resort when the parent exits without stop() (uncaught error, process.exit): no orphans.
  const onExit = () => {
    for (const p of procs) p.killNow();
    nats?.kill();
  };
  process.on('exit', onExit);

  const unexpected = (p: () => DevProcess) => (code: number | null, signal: NodeJS.Signals | null) => {
    if (stopping) return;
    const proc = p();
    log(`${proc.name} exited unexpectedly (${signal ?? `code ${code}`}); log: ${proc.logFile}`);
    opts.onUnexpectedExit?.(proc, code, signal);
  };

  const stopAll = async () => {
    stopping = true;
    const errors: unknown[] = [];
    const results = await Promise.allSettled(procs.map((p) => p.stop('SIGTERM', stopTimeoutMs)));
    for (const r of results) if (r.status === 'rejected') errors.push(r.reason);
    await Promise.allSettled(procs.map((p) => p.closeLog()));
    if (nats) {
      try {
        await nats.stop();
      } catch (err) {
        errors.push(err);
      }
    }
    process.off('exit', onExit);
    if (wroteClusterFile) await rm(join(dataDir, 'cluster.json'), { force: true });
    activeDataDirs.delete(dataDir);
    if (errors.length > 0) throw new AggregateError(errors, `dev cluster did not stop cleanly: ${errors.map(String).join('; ')}`);
  };

  const fetchConfig = async (): Promise<ClusterConfig> => {
    const client = await connect({ servers: nats!.url, prefix, requestTimeoutMs: 2000, maxAttempts: 1, connectTimeoutMs: 2000 });
    try {
      return await client.config();
    } finally {
      await client.close();
    }
  };

  /**
   * Polls the cluster map until the workers are alive and (with allShards) every shard has a live
   * chain and (with replicas) its members behind the head report, in their heartbeats, that they
   * hold the shard caught up: the cluster is "ready" only once its chains are whole. Writes racing
   * the initial state transfers are correct (integration/test/transfer-race.test.ts); this is a
   * readiness signal: the first writes are not held up by transfers.
   */
  const waitSettled = async (expectWorkers: readonly Worker[], allShards: boolean, what: string, replicas = allShards) => {
    const expect = expectWorkers.map((w) => ({ id: w.id, pid: w.pid }));
    const deadline = Date.now() + readyTimeoutMs;
    const client = await connect({ servers: nats!.url, prefix, requestTimeoutMs: 2000, maxAttempts: 1, connectTimeoutMs: 5000 });
    const beats = new Map<string, lambdastore.Heartbeat>();
    const hbConn = replicas ? await natsConnect({ servers: nats!.url }) : undefined;
    hbConn?.subscribe(subjects(prefix).heartbeat, { callback: (_e, m) => { try { const hb = lambdastore.Heartbeat.decode(m.data); beats.set(hb.workerId, hb); } catch { /* not ours to judge */ } } });
    const chainLength = Math.min(opts.chainLength ?? DEFAULT_CHAIN_LENGTH, expect.length);
    let why = 'no answer from the coordinator yet';
    try {
      for (;;) {
        try {
          const cfg = await client.config();
          const s = clusterSettled(cfg, expect, allShards);
          const r = s.ok && replicas ? replicasCaughtUp(cfg, beats, chainLength) : s;
          if (r.ok) return;
          why = r.why;
        } catch (err) {
          why = `config request failed: ${(err as Error).message}`;
        }
        if (Date.now() >= deadline) {
          throw new Error(`${what}: cluster map not settled after ${readyTimeoutMs} ms (${why}); coordinator output:\n${tail(coordinator.output(), 4000)}`);
        }
        await sleep(100);
      }
    } finally {
      await client.close();
      await hbConn?.close().catch(() => {});
    }
  };

  const coordArgs = (dashboard: string | undefined): string[] => {
    const args = [coordinatorMain, '--nats', nats!.url, '--prefix', prefix, '--min-workers', String(minWorkers)];
    if (opts.shards !== undefined) args.push('--shards', String(opts.shards));
    if (opts.chainLength !== undefined) args.push('--chain-length', String(opts.chainLength));
    if (dashboard !== undefined) args.push('--dashboard', dashboard);
    args.push(...(opts.coordinatorArgs ?? []));
    return args;
  };

  let coordinator!: ManagedProcess;
  let dashboardUrl: string | undefined;
  const workers: Worker[] = [];
  try {
    log(`starting nats-server (JetStream store ${join(dataDir, 'nats')})`);
    // testkit maps an omitted port to a free one; an explicit 0 would become nats-server's default 4222.
    nats = await startNatsServer({
      storeDir: join(dataDir, 'nats'),
      env: mark,
      ...(opts.natsPort ? { port: opts.natsPort } : {}),
      readyTimeoutMs: Math.min(readyTimeoutMs, 10_000),
    });
    log(`nats-server listening on ${nats.url}`);

    coordinator = new ManagedProcess('coordinator', join(logsDir, 'coordinator.log'), process.execPath, coordArgs(opts.dashboard), env, unexpected(() => coordinator));
    procs.push(coordinator);
    log('starting coordinator');
    await coordinator.start((line) => line.includes('coordinator ready'), readyTimeoutMs);
    dashboardUrl = opts.dashboard === 'off' ? undefined : await dashboardLine(coordinator);
    if (dashboardUrl) log(`ops dashboard at ${dashboardUrl}`);

    for (let i = 0; i < nWorkers; i++) {
      const id = `worker-${i}`;
      const dir = join(dataDir, id);
      await mkdir(dir, { recursive: true });
      const args = [workerMain, '--nats', nats.url, '--data', dir, '--id', id, '--prefix', prefix];
      if (opts.threads !== undefined) args.push('--threads', String(opts.threads));
      args.push(...(opts.workerArgs ?? []));
      const w: Worker = new Worker(i, id, dir, join(logsDir, `${id}.log`), process.execPath, args, env, unexpected(() => w));
      workers.push(w);
      procs.push(w);
    }
    log(`starting ${nWorkers} worker${nWorkers === 1 ? '' : 's'}`);
    await Promise.all(workers.map((w) => w.start((line) => line.includes(`worker ${w.id} ready`), readyTimeoutMs)));

    log('waiting for all shards to be assigned to live workers');
    await waitSettled(workers, true, 'start', opts.waitForReplicas ?? true);
    await writeFile(join(dataDir, 'cluster.json'), `${JSON.stringify({ natsUrl: nats.url, prefix, pid: process.pid }, null, 2)}\n`);
    wroteClusterFile = true;
    log(`cluster ready: ${nWorkers} workers, NATS ${nats.url}, prefix ${prefix}`);
  } catch (err) {
    try {
      await stopAll();
    } catch {
      // the start-up error is the one to report
    }
    throw err;
  }

  const natsServer = nats;
  let stopP: Promise<void> | undefined;
  const workerAt = (i: number): Worker => {
    const w = workers[i];
    if (!w) throw new Error(`no worker ${i} (the cluster has ${workers.length})`);
    return w;
  };

  return {
    natsUrl: natsServer.url,
    prefix,
    dataDir,
    nats: natsServer,
    workers,
    coordinator,
    get dashboardUrl() {
      return dashboardUrl;
    },
    stop: () => (stopP ??= stopAll()),
    async killWorker(i: number, signal: NodeJS.Signals = 'SIGKILL') {
      if (stopping) throw new Error('the cluster is stopping');
      await workerAt(i).stop(signal, stopTimeoutMs);
    },
    signalWorker(i: number, signal: NodeJS.Signals) {
      const pid = workerAt(i).pid;
      if (pid === undefined || !workerAt(i).running) throw new Error(`worker ${i} is not running`);
      process.kill(pid, signal);
    },
    async restartWorker(i: number) {
      if (stopping) throw new Error('the cluster is stopping');
      const w = workerAt(i);
      await w.stop('SIGTERM', stopTimeoutMs);
      log(`restarting ${w.name}`);
      await w.start((line) => line.includes(`worker ${w.id} ready`), readyTimeoutMs);
      await waitSettled([w], false, `restart of ${w.name}`);
    },
    async restartCoordinator() {
      if (stopping) throw new Error('the cluster is stopping');
      await coordinator.stop('SIGTERM', stopTimeoutMs);
      log('restarting coordinator');
      const ready = (line: string) => line.includes('coordinator ready');
      // Keep the dashboard's address (a port picked at random would change on every restart); if that
      // port was taken meanwhile, let the coordinator pick a free one as the first start did.
      const pinned = dashboardUrl ? /^https?:\/\/([^/]+)/.exec(dashboardUrl)?.[1] : undefined;
      if (pinned) {
        coordinator.setArgs(coordArgs(pinned));
        try {
          await coordinator.start(ready, readyTimeoutMs);
        } catch (err) {
          log(`coordinator did not start on dashboard ${pinned} (${(err as Error).message.split('\n')[0]}); letting it pick a port`);
          coordinator.setArgs(coordArgs(opts.dashboard));
          await coordinator.stop('SIGKILL', stopTimeoutMs);
          await coordinator.start(ready, readyTimeoutMs);
        }
      } else {
        await coordinator.start(ready, readyTimeoutMs);
      }
      if (opts.dashboard !== 'off') {
        const url = await dashboardLine(coordinator, coordinator.output().lastIndexOf('---- '));
        if (url && url !== dashboardUrl) log(`ops dashboard now at ${url}`);
        dashboardUrl = url ?? dashboardUrl;
      }
      // Its map comes back from JetStream KV; wait until it has heard the running workers again.
      await waitSettled(workers.filter((w) => w.running), false, 'restart of the coordinator');
    },
    config: fetchConfig,
    async killCoordinator(signal: NodeJS.Signals = 'SIGKILL') {
      if (stopping) throw new Error('the cluster is stopping');
      await coordinator.stop(signal, stopTimeoutMs);
    },
  };
}

/** The dashboard URL the coordinator logs next to its ready line (stderr may trail stdout a little);
 *  `from`: where in the output the current run starts (a restarted coordinator logs a new one). */
async function dashboardLine(coordinator: DevProcess, from = 0): Promise<string | undefined> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const m = /\[coordinator\] dashboard (\S+)/.exec(coordinator.output().slice(Math.max(0, from)));
    if (m) return m[1];
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}
