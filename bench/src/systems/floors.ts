/**
 * The floors: what a call costs here at the very least, to read every other figure against.
 * - raw NATS request/reply: a responder in its own process echoes the request (two NATS hops,
 *   nothing else), on a nats-server of its own;
 * - raw LevelDB: the same entries read (getMany) and written (one batch, fsync'd) in the load
 *   generator's own process: storage with no network, no isolation, no transactions.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '@lambdastore/testkit';
import { CALL_BYTES, ENTRIES, VALUE_BYTES, entryKey, fillValue } from '../values.js';
import { startChild, type Child } from '../proc.js';
import type { BenchSystem } from './system.js';

const here = dirname(fileURLToPath(import.meta.url));

export function natsFloor(): BenchSystem {
  let server: NatsServer | undefined;
  let echo: Child | undefined;
  let nc: NatsConnection | undefined;
  const enc = new TextEncoder();
  const call = async (id: string, entries: number[], seed?: number): Promise<number> => {
    // A request the size of a LambdaStore JSON invocation; the reply is the same bytes.
    const body = enc.encode(JSON.stringify({ type: 'Micro', id, method: seed === undefined ? 'read' : 'write', args: seed === undefined ? [entries] : [entries, seed] }));
    await nc!.request('bench.echo', body, { timeout: 10_000 });
    return CALL_BYTES;
  };
  return {
    id: 'nats-floor',
    label: 'raw NATS request/reply (floor)',
    kind: 'floor',
    description: '',
    async start() {
      server = await startNatsServer({});
      echo = await startChild('echo responder', process.execPath, [join(here, '..', 'echo.js'), server.url, 'bench.echo'], /echo ready/);
      nc = await natsConnect({ servers: server.url });
      this.description = `nats-server ${server.log().match(/Version:\s+(\S+)/)?.[1] ?? ''} and an echo responder (Node, one process): a request/reply of the size of a JSON invocation`;
    },
    createMicro: async () => {},
    read: (id, entries) => call(id, entries),
    write: (id, entries, seed) => call(id, entries, seed),
    processes: () => ({ client: [process.pid], 'nats-server': [server?.pid], echo: [echo?.pid] }),
    async stop() {
      await nc?.close().catch(() => {});
      await echo?.stop();
      await server?.stop();
    },
  };
}

export function levelDbFloor(): BenchSystem {
  let dir = '';
  let db: ClassicLevel<string, Uint8Array> | undefined;
  return {
    id: 'leveldb-floor',
    label: 'raw LevelDB, in process (floor)',
    kind: 'floor',
    description: '',
    async start() {
      dir = await mkdtemp(join(tmpdir(), 'ls-bench-leveldb-'));
      db = new ClassicLevel<string, Uint8Array>(dir, { valueEncoding: 'view' });
      await db.open();
      this.description = 'classic-level 3.0.0 in the load generator process: `getMany` of 5 entries; writes one batch of 5 puts with `sync: true` (LevelDB groups concurrent writers into one fsync)';
    },
    async createMicro(ids) {
      for (const id of ids) {
        await db!.batch(Array.from({ length: ENTRIES }, (_, i) => ({ type: 'put' as const, key: `${id}/${entryKey(i)}`, value: fillValue(VALUE_BYTES, i + 1) })));
      }
    },
    async read(id, entries) {
      const values = await db!.getMany(entries.map((e) => `${id}/${entryKey(e)}`));
      return values.reduce((n, v) => n + (v?.byteLength ?? 0), 0);
    },
    async write(id, entries, seed) {
      await db!.batch(entries.map((e, i) => ({ type: 'put' as const, key: `${id}/${entryKey(e)}`, value: fillValue(VALUE_BYTES, seed + i * 7919) })), { sync: true });
      return entries.length * VALUE_BYTES;
    },
    processes: () => ({ client: [process.pid] }),
    async stop() {
      await db?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}
