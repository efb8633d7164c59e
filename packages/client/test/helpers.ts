/**
 * Scripted peers on real NATS standing in for a worker and a coordinator, so client behaviour is
 * tested against the wire protocol without the rest of the platform.
 */
import { connect, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { lambdastore, encodeResult, subjects, type Subjects } from '@lambdastore/proto';

export interface Received {
  subject: string;
  req: lambdastore.InvokeRequest;
  headers: MsgHdrs | undefined;
}

export type Reply = lambdastore.InvokeResponse.$Properties | undefined;
export type Handler = (req: lambdastore.InvokeRequest, n: number, subject: string) => Reply | Promise<Reply>;

export function ok(value: unknown): lambdastore.InvokeResponse.$Properties {
  const enc = encodeResult(value);
  return { ok: true, result: enc.bytes, resultEncoding: enc.encoding };
}

export function fail(code: string, message: string, extra: Omit<lambdastore.WireError.$Properties, 'code' | 'message'> = {}): lambdastore.InvokeResponse.$Properties {
  return { ok: false, error: { code, message, ...extra } };
}

/** A peer answering InvokeRequests on some subjects; a handler returning undefined stays silent. */
export class FakeWorker {
  readonly received: Received[] = [];
  private readonly subs: Subscription[] = [];
  constructor(private readonly nc: NatsConnection, private handler: Handler) {}

  listen(subject: string): this {
    this.subs.push(
      this.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          void this.onMsg(subject, msg);
        },
      }),
    );
    return this;
  }

  setHandler(h: Handler): void {
    this.handler = h;
  }

  private async onMsg(subject: string, msg: Msg): Promise<void> {
    const req = lambdastore.InvokeRequest.decode(msg.data);
    this.received.push({ subject, req, headers: msg.headers });
    const reply = await this.handler(req, this.received.length, subject);
    if (reply !== undefined) msg.respond(lambdastore.InvokeResponse.encode(reply).finish());
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
  }
}

export function makeConfig(version: number, numShards: number, workerOf: (shard: number) => string | undefined = () => 'w1'): lambdastore.ClusterConfig {
  const shards: lambdastore.ShardAssignment.$Properties[] = [];
  for (let s = 0; s < numShards; s++) {
    const w = workerOf(s);
    shards.push({ shard: s, chain: w ? [w] : [], epoch: 1 });
  }
  return lambdastore.ClusterConfig.create({
    version,
    numShards,
    shards,
    workers: [{ id: 'w1', alive: true, callsTotal: 3 }],
    types: [{ name: 'Account', version: 1, moduleId: 'abc', methods: [{ name: 'deposit' }, { name: 'balance', readonly: true }] }],
    clusterId: 'test',
  });
}

/** A peer answering admin.config (and optionally admin.deploy); counts config fetches. */
export class FakeCoordinator {
  configFetches = 0;
  deploys: lambdastore.DeployRequest[] = [];
  private readonly subs: Subscription[] = [];
  readonly s: Subjects;
  deployHandler: (req: lambdastore.DeployRequest) => lambdastore.DeployResponse.$Properties = () => ({ ok: true, types: [] });

  constructor(private readonly nc: NatsConnection, public config: lambdastore.ClusterConfig, prefix?: string) {
    this.s = subjects(prefix);
    this.subs.push(
      nc.subscribe(this.s.adminConfig, {
        callback: (err, msg) => {
          if (err) return;
          this.configFetches++;
          msg.respond(lambdastore.ConfigResponse.encode({ ok: true, config: this.config }).finish());
        },
      }),
      nc.subscribe(this.s.adminDeploy, {
        callback: (err, msg) => {
          if (err) return;
          const req = lambdastore.DeployRequest.decode(msg.data);
          this.deploys.push(req);
          msg.respond(lambdastore.DeployResponse.encode(this.deployHandler(req)).finish());
        },
      }),
    );
  }

  broadcast(cfg: lambdastore.ClusterConfig = this.config): void {
    this.nc.publish(this.s.config, lambdastore.ClusterConfig.encode(cfg).finish());
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
  }
}

export async function peer(url: string): Promise<NatsConnection> {
  return connect({ servers: url, name: 'test-peer' });
}
