/**
 * Cloudflare Durable Objects in Miniflare 4 (the real workerd runtime): a Worker routes
 * `/<kind>/<id>/<method>` to the Durable Object named `id` (`idFromName`) and calls its methods over
 * DO RPC. SQLite-backed storage, persisted to a folder (one fsync per write); one workerd process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forEachLimited } from '@lambdastore/cli';
import { HttpJson } from '../http.js';
import { childPidsNamed, freePort } from '../proc.js';
import { ENTRIES, VALUE_BYTES, entryKey, fillValue } from '../values.js';
import { SkipError, type BenchSystem } from './system.js';

const require = createRequire(import.meta.url);

/**
 * The Worker script, as workerd runs it. The helpers are the bench's own (values.ts), inlined by
 * their source text so the object computes the same values as every other system.
 */
const WORKER_SCRIPT = `
import { DurableObject } from 'cloudflare:workers';
const ENTRIES = ${ENTRIES}, VALUE_BYTES = ${VALUE_BYTES};
const entryKey = ${entryKey.toString()};
const fillValue = ${fillValue.toString()};

export class Micro extends DurableObject {
  async init() {
    const all = {};
    for (let i = 0; i < ENTRIES; i++) all[entryKey(i)] = fillValue(VALUE_BYTES, i + 1);
    await this.ctx.storage.put(all);
  }
  async read(entries) {
    const m = await this.ctx.storage.get(entries.map(entryKey));
    let n = 0;
    for (const v of m.values()) n += v.byteLength;
    return n;
  }
  async write(entries, seed) {
    const some = {};
    entries.forEach((e, i) => { some[entryKey(e)] = fillValue(VALUE_BYTES, seed + i * 7919); });
    await this.ctx.storage.put(some);
    return entries.length * VALUE_BYTES;
  }
}

export class Account extends DurableObject {
  async init(initial) { await this.ctx.storage.put('balance', initial); }
  async balance() { return (await this.ctx.storage.get('balance')) ?? 0; }
  async withdraw(amount) {
    const b = (await this.ctx.storage.get('balance')) ?? 0;
    if (b < amount) throw new Error('INSUFFICIENT_FUNDS');
    await this.ctx.storage.put('balance', b - amount);
  }
  async deposit(amount) {
    const b = (await this.ctx.storage.get('balance')) ?? 0;
    await this.ctx.storage.put('balance', b + amount);
  }
}

export default {
  async fetch(request, env) {
    const [, kind, id, method] = new URL(request.url).pathname.split('/');
    const body = await request.json();
    const micro = () => env.MICRO.get(env.MICRO.idFromName(id));
    const account = (name) => env.ACCOUNT.get(env.ACCOUNT.idFromName(name));
    let result = null;
    if (kind === 'micro' && method === 'read') result = await micro().read(body);
    else if (kind === 'micro' && method === 'write') result = await micro().write(body.entries, body.seed);
    else if (kind === 'micro' && method === 'init') result = await micro().init();
    else if (kind === 'account' && method === 'init') result = await account(id).init(body);
    else if (kind === 'account' && method === 'balance') result = await account(id).balance();
    else if (kind === 'account' && method === 'transfer') {
      // No transaction spans two objects: withdraw here, then deposit there; undo on failure.
      await account(id).withdraw(body.amount);
      try {
        await account(body.to).deposit(body.amount);
      } catch (err) {
        await account(id).deposit(body.amount);
        throw err;
      }
    } else return new Response('no such route', { status: 404 });
    return Response.json(result ?? null);
  },
};
`;

export function durableObjects(): BenchSystem {
  let dir = '';
  let mf: { ready: Promise<URL>; dispose(): Promise<void> } | undefined;
  let http: HttpJson | undefined;
  let workerdPids: number[] = [];
  return {
    id: 'durable-objects',
    label: 'Durable Objects (Miniflare/workerd)',
    kind: 'peer',
    description: '',
    bank: {
      guarantee: 'the Worker withdraws from one object, then deposits into the other (undoing the withdrawal if the deposit fails), as Cloudflare advises without cross-object transactions: not isolated, and a crash between the two calls loses the money; no exactly-once on retries',
      async create(ids, initial) {
        await forEachLimited(ids, 16, async (id) => { await http!.post(`/account/${id}/init`, initial); });
      },
      async transfer(from, to, amount) {
        await http!.post(`/account/${from}/transfer`, { to, amount });
      },
      balances: (ids) => Promise.all(ids.map((id) => http!.post<number>(`/account/${id}/balance`, null))),
    },
    async start() {
      let Miniflare: typeof import('miniflare').Miniflare;
      try {
        ({ Miniflare } = await import('miniflare'));
      } catch (err) {
        throw new SkipError(`miniflare cannot be loaded: ${(err as Error).message}`);
      }
      const version = (require('miniflare/package.json') as { version: string }).version;
      dir = await mkdtemp(join(tmpdir(), 'ls-bench-do-'));
      const port = await freePort();
      const before = new Set(childPidsNamed('workerd'));
      // workerd refuses module paths that climb out of its working directory: start it from `dir`.
      const cwd = process.cwd();
      process.chdir(dir);
      try {
      mf = new Miniflare({
        modules: true,
        script: WORKER_SCRIPT,
        compatibilityDate: '2026-04-01',
        durableObjects: { MICRO: { className: 'Micro', useSQLite: true }, ACCOUNT: { className: 'Account', useSQLite: true } },
        durableObjectsPersist: join(dir, 'do'),
        cf: false,
        host: '127.0.0.1',
        port,
      });
      await mf.ready;
      } finally {
        process.chdir(cwd);
      }
      workerdPids = childPidsNamed('workerd').filter((p) => !before.has(p));
      http = new HttpJson('127.0.0.1', port);
      this.description = `miniflare ${version} (workerd), SQLite-backed objects persisted to disk; the Worker calls the object over DO RPC`;
    },
    async createMicro(ids) {
      // workerd now and then answers a create with an internal error while 10,000 objects are made
      // at once (seen in a full run): init is idempotent (same deterministic values), so try again.
      await forEachLimited(ids, 32, async (id) => {
        for (let attempt = 1; ; attempt++) {
          try {
            await http!.post(`/micro/${id}/init`, null);
            return;
          } catch (err) {
            if (attempt >= 5) throw err;
            await new Promise((r) => setTimeout(r, 100 * attempt));
          }
        }
      });
    },
    read: (id, entries) => http!.post<number>(`/micro/${id}/read`, entries),
    write: (id, entries, seed) => http!.post<number>(`/micro/${id}/write`, { entries, seed }),
    processes: () => ({ client: [process.pid], workerd: workerdPids }),
    async stop() {
      http?.close();
      await mf?.dispose();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}
