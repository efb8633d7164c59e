/**
 * The disaggregated design the paper argues against: a stateless function server (a pool of Node
 * processes behind one HTTP port) whose every call reads and writes its state in a separate store,
 * Redis or PostgreSQL, atomically per call. Nothing is cached between calls.
 *   node fn-server.js <redis|postgres> <storeUrl> <httpPort> <processes>
 *
 * Routes (POST, JSON): /create {ids}, /read {id, entries}, /write {id, entries, seed},
 * /bank/create {ids, initial}, /bank/transfer {from, to, amount}, /bank/balances {ids}.
 * Per call, atomic:
 * - Redis: one HMGET / one HSET of the 5 fields of the object's hash; a transfer is a Lua script
 *   (the compute pushed into Redis: what Redis users write for a two-key invariant).
 * - PostgreSQL: one SELECT / one UPDATE ... FROM unnest(...) of the 5 rows; a transfer is one UPDATE
 *   of both rows (a transaction of its own, READ COMMITTED re-checks the rows it locks).
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ENTRIES, VALUE_BYTES, entryKey, fillValue } from './values.js';

const [backend, storeUrl, portArg, procsArg] = process.argv.slice(2);
const port = Number(portArg);
const procs = Math.max(1, Number(procsArg ?? 1));

interface Store {
  create(ids: string[]): Promise<void>;
  read(id: string, entries: number[]): Promise<number>;
  write(id: string, entries: number[], seed: number): Promise<number>;
  bankCreate(ids: string[], initial: number): Promise<void>;
  transfer(from: string, to: string, amount: number): Promise<void>;
  balances(ids: string[]): Promise<number[]>;
}

const values = (entries: number[], seed: number) => entries.map((e, i) => Buffer.from(fillValue(VALUE_BYTES, seed + i * 7919)));

async function redisStore(url: string): Promise<Store> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 1 });
  r.defineCommand('transfer', {
    numberOfKeys: 2,
    lua: `local b = tonumber(redis.call('GET', KEYS[1]) or '0')
          local amt = tonumber(ARGV[1])
          if b < amt then return redis.error_reply('INSUFFICIENT_FUNDS') end
          redis.call('DECRBY', KEYS[1], amt)
          redis.call('INCRBY', KEYS[2], amt)
          return b - amt`,
  });
  type WithTransfer = typeof r & { transfer(a: string, b: string, amount: number): Promise<number> };
  return {
    async create(ids) {
      for (const id of ids) {
        const args: Array<string | Buffer> = [];
        for (let i = 0; i < ENTRIES; i++) args.push(entryKey(i), Buffer.from(fillValue(VALUE_BYTES, i + 1)));
        await r.hset(`m:${id}`, ...args);
      }
    },
    async read(id, entries) {
      const vs = await r.hmgetBuffer(`m:${id}`, ...entries.map(entryKey));
      return vs.reduce((n, v) => n + (v?.length ?? 0), 0);
    },
    async write(id, entries, seed) {
      const vs = values(entries, seed);
      const args: Array<string | Buffer> = [];
      entries.forEach((e, i) => args.push(entryKey(e), vs[i]!));
      await r.hset(`m:${id}`, ...args);
      return vs.length * VALUE_BYTES;
    },
    async bankCreate(ids, initial) {
      await Promise.all(ids.map((id) => r.set(`a:${id}`, String(initial))));
    },
    async transfer(from, to, amount) {
      await (r as WithTransfer).transfer(`a:${from}`, `a:${to}`, amount);
    },
    async balances(ids) {
      if (ids.length === 0) return [];
      return (await r.mget(...ids.map((id) => `a:${id}`))).map(Number);
    },
  };
}

async function postgresStore(url: string): Promise<Store> {
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({ connectionString: url, max: 16 });
  return {
    async create(ids) {
      for (const id of ids) {
        const ks = Array.from({ length: ENTRIES }, (_, i) => i);
        await pool.query('INSERT INTO micro (obj, k, v) SELECT $1, k, v FROM unnest($2::int[], $3::bytea[]) AS u(k, v) ON CONFLICT DO NOTHING', [id, ks, ks.map((i) => Buffer.from(fillValue(VALUE_BYTES, i + 1)))]);
      }
    },
    async read(id, entries) {
      const res = await pool.query<{ v: Buffer }>({ name: 'read', text: 'SELECT v FROM micro WHERE obj = $1 AND k = ANY($2::int[])', values: [id, entries] });
      return res.rows.reduce((n, row) => n + row.v.length, 0);
    },
    async write(id, entries, seed) {
      const res = await pool.query({ name: 'write', // Rows locked in key order first: two writes to one object never wait on each other in a cycle.
        text: `WITH locked AS (SELECT k FROM micro WHERE obj = $1 AND k = ANY($2::int[]) ORDER BY k FOR UPDATE)
               UPDATE micro SET v = u.v FROM unnest($2::int[], $3::bytea[]) AS u(k, v)
               WHERE micro.obj = $1 AND micro.k = u.k AND micro.k IN (SELECT k FROM locked)`, values: [id, entries, values(entries, seed)] });
      return (res.rowCount ?? 0) * VALUE_BYTES;
    },
    async bankCreate(ids, initial) {
      await pool.query('INSERT INTO accounts (id, balance) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING', [ids, initial]);
    },
    async transfer(from, to, amount) {
      const res = await pool.query({
        name: 'transfer',
        // Both rows locked in id order first (no deadlock between opposite transfers), then one UPDATE.
        text: `WITH locked AS (SELECT id FROM accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE)
               UPDATE accounts SET balance = balance + CASE WHEN id = $1 THEN -$3::bigint ELSE $3::bigint END
               WHERE id IN (SELECT id FROM locked) AND (SELECT balance FROM accounts WHERE id = $1) >= $3`,
        values: [from, to, amount],
      });
      if (res.rowCount !== 2) throw new Error(`transfer ${from} -> ${to} updated ${res.rowCount} rows`);
    },
    async balances(ids) {
      const res = await pool.query<{ id: string; balance: string }>('SELECT id, balance FROM accounts WHERE id = ANY($1::text[])', [ids]);
      const by = new Map(res.rows.map((r) => [r.id, Number(r.balance)]));
      return ids.map((id) => by.get(id) ?? NaN);
    },
  };
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
}

async function serve(): Promise<void> {
  const store = backend === 'redis' ? await redisStore(storeUrl!) : await postgresStore(storeUrl!);
  const routes: Record<string, (b: Record<string, unknown>) => Promise<unknown>> = {
    '/create': async (b) => store.create(b.ids as string[]),
    '/read': async (b) => store.read(b.id as string, b.entries as number[]),
    '/write': async (b) => store.write(b.id as string, b.entries as number[], b.seed as number),
    '/bank/create': async (b) => store.bankCreate(b.ids as string[], b.initial as number),
    '/bank/transfer': async (b) => store.transfer(b.from as string, b.to as string, b.amount as number),
    '/bank/balances': async (b) => store.balances(b.ids as string[]),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const route = routes[req.url ?? ''];
    if (!route) { res.writeHead(404).end(); return; }
    body(req)
      .then(route)
      .then((result) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result ?? null)); })
      .catch((err: unknown) => { res.writeHead(500).end(String((err as Error).message ?? err)); });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => console.log(`fn-server ${process.pid} listening`));
}

if (cluster.isPrimary && procs > 1) {
  let up = 0;
  for (let i = 0; i < procs; i++) cluster.fork().on('listening', () => { if (++up === procs) console.log(`fn-server ready, processes ${Object.values(cluster.workers ?? {}).map((w) => w!.process.pid).join(',')}`); });
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers ?? {})) w!.process.kill('SIGTERM'); process.exit(0); });
} else {
  await serve();
  if (procs === 1) console.log(`fn-server ready, processes ${process.pid}`);
}
