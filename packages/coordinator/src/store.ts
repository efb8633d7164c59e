/**
 * The coordinator's durable state in JetStream KV: `<p>_meta` key `config` (the whole ClusterConfig
 * as protobuf) and `<p>_modules` (module sources by module id). Buckets are created when missing.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import type { Subjects } from '@lambdastore/proto';
import { decodeConfig } from './config-codec.js';
import type { ClusterConfigData } from './cluster-model.js';

export const CONFIG_KEY = 'config';

const utf8 = new TextEncoder();

export class CoordinatorStore {
  private constructor(
    /** Also holds the active coordinator's lease (lease.ts). */
    readonly meta: KV,
    private readonly modules: KV,
  ) {}

  static async open(nc: NatsConnection, s: Subjects, maxModuleBytes: number): Promise<CoordinatorStore> {
    const kvm = new Kvm(nc);
    // Only the latest config matters; older ones would just be restored by mistake.
    const meta = await kvm.create(s.metaBucket, { history: 1, description: 'LambdaStore cluster config' });
    // A module is immutable under its content hash, so one revision per key is all there is.
    const modules = await kvm.create(s.modulesBucket, { history: 1, maxValueSize: maxModuleBytes, description: 'LambdaStore module sources' });
    return new CoordinatorStore(meta, modules);
  }

  /** The persisted config, or undefined for a new cluster. Throws if the stored bytes are corrupt. */
  async loadConfig(): Promise<ClusterConfigData | undefined> {
    const e = await this.meta.get(CONFIG_KEY);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    try {
      return decodeConfig(e.value);
    } catch (err) {
      throw new Error(`KV ${CONFIG_KEY} does not hold a ClusterConfig (${(err as Error).message}); refusing to start over it`, { cause: err });
    }
  }

  /** First write of a new cluster; false when another coordinator created it meanwhile. */
  async createConfig(bytes: Uint8Array): Promise<boolean> {
    try {
      await this.meta.create(CONFIG_KEY, bytes);
      return true;
    } catch (err) {
      if (await this.meta.get(CONFIG_KEY)) return false;
      throw err;
    }
  }

  async saveConfig(bytes: Uint8Array): Promise<void> {
    await this.meta.put(CONFIG_KEY, bytes);
  }

  async putModule(moduleId: string, source: string): Promise<void> {
    await this.modules.put(moduleId, utf8.encode(source));
  }

  async getModule(moduleId: string): Promise<string | undefined> {
    const e = await this.modules.get(moduleId);
    return e && e.operation === 'PUT' ? new TextDecoder().decode(e.value) : undefined;
  }
}
