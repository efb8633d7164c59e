/**
 * The client's view of the cluster map: the newest ClusterConfig it has seen, from the
 * `<p>.admin.config` answer or a `<p>.config` broadcast. Pure: no NATS here.
 */
import { lambdastore, shardOf } from '@lambdastore/proto';

export type ClusterConfig = lambdastore.ClusterConfig;

export interface Route {
  /** -1 when no config is known (the call goes to the ingress subject). */
  shard: number;
  /** Version of the config the route was computed from (0 = none). */
  configVersion: number;
  /** True when the config names at least one worker for the shard. */
  assigned: boolean;
}

const NO_ROUTE: Route = Object.freeze({ shard: -1, configVersion: 0, assigned: false });

export class RoutingTable {
  private current: ClusterConfig | undefined;
  /** shard -> has a non-empty chain; rebuilt once per applied config, read per call. */
  private assignedShards: boolean[] = [];

  get config(): ClusterConfig | undefined {
    return this.current;
  }

  get version(): number {
    return this.current ? Number(this.current.version) : 0;
  }

  /** Takes `cfg` when it is newer than what we have; returns whether it was taken. */
  apply(cfg: ClusterConfig): boolean {
    const v = Number(cfg.version ?? 0);
    if (this.current && v <= Number(this.current.version)) return false;
    const assigned: boolean[] = [];
    for (const s of cfg.shards ?? []) {
      if (s.shard !== undefined && s.shard !== null && (s.chain?.length ?? 0) > 0) assigned[s.shard] = true;
    }
    this.current = cfg;
    this.assignedShards = assigned;
    return true;
  }

  /** Where a call on (type, id) goes; `shard` overrides the hash (a redirect hint). */
  route(type: string, id: string, shard?: number): Route {
    const cfg = this.current;
    const n = cfg?.numShards ?? 0;
    if (!cfg || n <= 0) {
      if (shard === undefined) return NO_ROUTE;
      return { shard, configVersion: 0, assigned: false };
    }
    const s = shard ?? shardOf(type, id, n);
    return { shard: s, configVersion: Number(cfg.version), assigned: this.assignedShards[s] === true };
  }
}
