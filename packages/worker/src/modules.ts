/**
 * Deployed modules, by module id. The coordinator stores each module's source in JetStream KV;
 * a worker fetches it on first use and writes it to `<dataDir>/modules/<id>.js`, where its method
 * threads read it. Ids are content hashes, so a file never changes once written.
 */
import { mkdir, writeFile, rename, access } from 'node:fs/promises';
import { join } from 'node:path';
import type { KV } from '@nats-io/kv';
import { LambdaStoreError } from '@lambdastore/proto';

const MODULE_ID = /^[0-9a-f]{16,64}$/;

export class ModuleFiles {
  private readonly ready = new Map<string, Promise<string>>();

  constructor(private readonly dir: string, private readonly bucket: () => Promise<KV>) {}

  /** Path of the module's source file, fetching it first if needed. */
  path(moduleId: string): Promise<string> {
    let p = this.ready.get(moduleId);
    if (!p) {
      p = this.fetch(moduleId);
      this.ready.set(moduleId, p);
      p.catch(() => this.ready.delete(moduleId));
    }
    return p;
  }

  private async fetch(moduleId: string): Promise<string> {
    if (!MODULE_ID.test(moduleId)) throw new LambdaStoreError('TYPE_NOT_LOADED', `invalid module id ${moduleId}`);
    const file = join(this.dir, `${moduleId}.js`);
    try {
      await access(file);
      return file;
    } catch {
      // not cached yet
    }
    const kv = await this.bucket();
    const entry = await kv.get(moduleId);
    if (!entry || entry.operation !== 'PUT' || entry.value.length === 0) {
      throw new LambdaStoreError('TYPE_NOT_LOADED', `module ${moduleId} is not in the module store`);
    }
    await mkdir(this.dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, entry.value);
    await rename(tmp, file);
    return file;
  }
}
