/**
 * The disaggregated baseline: a stateless function server (fn-server.ts, a pool of 2 Node
 * processes) in front of Redis or PostgreSQL, both started here on loopback, non-default ports.
 * Redis persists with AOF `appendfsync everysec` (up to a second of acknowledged writes can be lost
 * on a crash); PostgreSQL with its defaults (fsync at every commit, like LambdaStore).
 */
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forEachLimited } from '@lambdastore/cli';
import { HttpJson } from '../http.js';
import { freePort, startChild, waitFor, type Child } from '../proc.js';
import { ensureDebianBinary, versionOf } from '../setup-debian.js';
import { SkipError, type BenchSystem } from './system.js';

const here = dirname(fileURLToPath(import.meta.url));
const FN_PROCESSES = 2;

interface Store {
  url: string;
  version: string;
  pids: Array<number | undefined>;
  stop(): Promise<void>;
}

async function startRedis(dir: string, log: (s: string) => void): Promise<Store> {
  const bin = ensureDebianBinary('redis-server', 'redis-server', log);
  if (bin instanceof Error) throw new SkipError(bin.message);
  const port = await freePort();
  const child = await startChild('redis-server', bin, ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir], /Ready to accept connections/);
  return { url: `redis://127.0.0.1:${port}`, version: versionOf(bin).replace(/ sha=.*/, ''), pids: [child.pid], stop: () => child.stop() };
}

/** Runs as the `postgres` user when we are root (postgres refuses to run as root). */
async function startPostgres(dir: string, log: (s: string) => void): Promise<Store> {
  const bin = ensureDebianBinary('postgres', 'postgresql', log);
  if (bin instanceof Error) throw new SkipError(bin.message);
  const initdb = join(dirname(bin), 'initdb');
  const psql = ensureDebianBinary('psql', 'postgresql-client', log);
  if (psql instanceof Error) throw new SkipError(psql.message);
  let ids: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    try {
      ids = { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
    } catch {
      throw new SkipError('running as root and there is no postgres user to run PostgreSQL as');
    }
    await chown(dir, ids.uid, ids.gid);
    await chmod(dir, 0o700);
  }
  const data = join(dir, 'data');
  execFileSync(initdb, ['-D', data, '--auth=trust', '-U', 'postgres', '--no-sync'], { stdio: 'ignore', ...(ids ?? {}) });
  const port = await freePort();
  const child = await startChild('postgres', bin, ['-D', data, '-c', 'listen_addresses=127.0.0.1', '-c', `port=${port}`, '-c', `unix_socket_directories=${dir}`, '-c', 'max_connections=100'], /ready to accept connections/, ids ?? {});
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  execFileSync(psql, [url, '-q', '-c', 'CREATE TABLE micro (obj text, k int, v bytea, PRIMARY KEY (obj, k)); CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL)'], { stdio: 'ignore' });
  return { url, version: versionOf(bin), pids: [child.pid], stop: () => child.stop() };
}

export function disaggregated(backend: 'redis' | 'postgres', log: (s: string) => void): BenchSystem {
  let dir = '';
  let store: Store | undefined;
  let fn: Child | undefined;
  let fnPids: number[] = [];
  let http: HttpJson | undefined;
  return {
    id: backend,
    label: backend === 'redis' ? 'stateless function + Redis' : 'stateless function + PostgreSQL',
    kind: 'peer',
    description: '',
    bank: {
      guarantee: backend === 'redis'
        ? 'atomic (a Lua script runs both updates in Redis), but with `appendfsync everysec` up to 1 s of acknowledged transfers is lost on a crash; no exactly-once on client retries'
        : 'atomic and durable (one UPDATE of both rows, fsync at commit); no exactly-once on client retries',
      create: async (ids, initial) => { await http!.post('/bank/create', { ids, initial }); },
      transfer: async (from, to, amount) => { await http!.post('/bank/transfer', { from, to, amount }); },
      balances: (ids) => http!.post<number[]>('/bank/balances', { ids }),
    },
    async start() {
      dir = await mkdtemp(join(tmpdir(), `ls-bench-${backend}-`));
      store = backend === 'redis' ? await startRedis(dir, log) : await startPostgres(dir, log);
      const port = await freePort();
      fn = await startChild('function server', process.execPath, [join(here, '..', 'fn-server.js'), backend, store.url, String(port), String(FN_PROCESSES)], /fn-server ready/);
      fnPids = (fn.output().match(/processes ([\d,]+)/)?.[1] ?? '').split(',').map(Number).filter(Boolean);
      http = new HttpJson('127.0.0.1', port);
      await waitFor('function server', async () => (await http!.post<number[]>('/bank/balances', { ids: [] })) !== undefined);
      this.description = backend === 'redis'
        ? `${store.version}, AOF \`appendfsync everysec\`; a pool of ${FN_PROCESSES} stateless Node processes (ioredis) behind HTTP; one HMGET / HSET per call`
        : `${store.version}, default durability (fsync at commit); a pool of ${FN_PROCESSES} stateless Node processes (pg, 16 connections each) behind HTTP; one SELECT / UPDATE per call`;
    },
    async createMicro(ids) {
      const chunks = Array.from({ length: Math.ceil(ids.length / 20) }, (_, i) => ids.slice(i * 20, i * 20 + 20));
      await forEachLimited(chunks, 8, async (chunk) => { await http!.post('/create', { ids: chunk }); });
    },
    read: (id, entries) => http!.post<number>('/read', { id, entries }),
    write: (id, entries, seed) => http!.post<number>('/write', { id, entries, seed }),
    processes: () => ({ client: [process.pid], functions: [fn?.pid, ...fnPids], [backend]: store?.pids ?? [] }),
    async stop() {
      http?.close();
      await fn?.stop();
      await store?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}
