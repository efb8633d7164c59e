/**
 * Peers for the integration tests: fake workers that publish real Heartbeat protos, and an admin
 * client speaking the real request/reply protocol. They are protocol peers on a real nats-server,
 * not mocks of NATS.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { errorFromWire, lambdastore, subjects, type Subjects } from '@lambdastore/proto';
import { configFromProto, typeFromProto, type ClusterConfigData, type CoordinatorLogger, type TypeInfoData } from '../src/index.js';

export interface DeployReply {
  ok: boolean;
  moduleId: string;
  types: TypeInfoData[];
  error?: { code: string; message: string; retryable: boolean };
}

export const silentLogger: CoordinatorLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

let prefixCounter = 0;
/** A fresh prefix per test, so tests sharing one nats-server never see each other's subjects or buckets. */
export function freshPrefix(): string {
  return `t${process.pid}x${++prefixCounter}`;
}

export class FakeWorker {
  private timer: NodeJS.Timeout | undefined;
  readonly startedAtMs = Date.now();
  callsTotal = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly s: Subjects,
    readonly id: string,
    private readonly intervalMs = 100,
  ) {}

  beat(): void {
    const hb = lambdastore.Heartbeat.create({
      workerId: this.id, startedAtMs: this.startedAtMs, pid: 4242, inflight: 1,
      callsTotal: ++this.callsTotal, shards: [], configVersion: 0, threads: 2,
    });
    this.nc.publish(this.s.heartbeat, lambdastore.Heartbeat.encode(hb).finish());
  }

  start(): this {
    this.beat();
    this.timer = setInterval(() => this.beat(), this.intervalMs);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Talks to the coordinator like the client and workers do, and records config broadcasts. */
export class Peer {
  readonly s: Subjects;
  lastBroadcast: ClusterConfigData | undefined;
  broadcasts = 0;
  private readonly workers: FakeWorker[] = [];

  private constructor(readonly nc: NatsConnection, prefix: string) {
    this.s = subjects(prefix);
    nc.subscribe(this.s.config, {
      callback: (err, msg) => {
        if (err) return;
        this.lastBroadcast = configFromProto(lambdastore.ClusterConfig.decode(msg.data));
        this.broadcasts++;
      },
    });
  }

  static async connect(url: string, prefix: string): Promise<Peer> {
    const nc = await connect({ servers: url });
    const p = new Peer(nc, prefix);
    await nc.flush();
    return p;
  }

  worker(id: string, intervalMs = 100): FakeWorker {
    const w = new FakeWorker(this.nc, this.s, id, intervalMs).start();
    this.workers.push(w);
    return w;
  }

  async config(): Promise<ClusterConfigData> {
    const m = await this.nc.request(this.s.adminConfig, lambdastore.ConfigRequest.encode({ knownVersion: 0 }).finish(), { timeout: 5000 });
    const resp = lambdastore.ConfigResponse.decode(m.data);
    if (!resp.ok) throw errorFromWire(resp.error);
    return configFromProto(resp.config!);
  }

  /** Sends a DeployRequest; the reply as plain data (error fields defaulted, types as TypeInfoData). */
  async deployRaw(source: string, filename = 'test.js'): Promise<DeployReply> {
    const m = await this.nc.request(this.s.adminDeploy, lambdastore.DeployRequest.encode({ source, filename }).finish(), { timeout: 10_000 });
    const r = lambdastore.DeployResponse.decode(m.data);
    const e = r.error;
    return {
      ok: r.ok,
      moduleId: r.moduleId,
      types: r.types.map(typeFromProto),
      ...(e ? { error: { code: e.code ?? '', message: e.message ?? '', retryable: !!e.retryable } } : {}),
    };
  }

  async close(): Promise<void> {
    for (const w of this.workers) w.stop();
    await this.nc.close();
  }
}
