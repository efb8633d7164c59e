/**
 * `lambdastore start` (what `npm start` runs): a fresh local cluster, the example types deployed,
 * the paper's micro workload (0 / 50 / 100 % writes) and a bank consistency check, then (without
 * `--once`) the cluster stays up for you to play with.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { LambdaStoreError } from '@lambdastore/proto';
import { liveClusterFile, startDevCluster, type DevCluster } from './dev-cluster.js';
import { parseIntOption } from './args.js';
import { usageBanner } from './dev.js';
import { errorCode, forEachLimited, runClosedLoop, type LoadResult } from './load.js';

export const START_USAGE = `usage: lambdastore start [--once] [--objects 1000] [--accounts 1000] [--duration-s 10] [--concurrency 64] [--workers 3] [--data <repo>/.lambdastore/start]

Starts a fresh dev cluster in an EMPTY data folder: it deletes what --data holds (default
<repo>/.lambdastore/start, its own folder, never the .lambdastore/dev of \`lambdastore dev\`).
Then deploys examples/bank and examples/micro, runs the paper's micro workload at 0/50/100 %
writes and a bank consistency check, and prints the results.
With --once it then stops and exits 0 only if every check held; otherwise it keeps running until Ctrl-C.`;

/** start's data folder under the repository root (wiped on every start; dev uses .lambdastore/dev). */
export const DEFAULT_START_DATA = '.lambdastore/start';

const MICRO_ENTRIES = 100;
const MICRO_VALUE_BYTES = 1024;
const OPS_PER_CALL = 5;
const CREATE_CONCURRENCY = 32;
const WRITE_SHARES = [0, 0.5, 1] as const;
/** How long an unanswered bank call is retried (same idempotency key) before it counts as unknown. */
const RESOLVE_BOUND_MS = 60_000;

/** The repository root: the folder above services/cli holding examples/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'examples', 'bank', 'account.ts')) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  // services/cli/dist/src -> repo root
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
}

const randInt = (n: number) => Math.floor(Math.random() * n);

/** `k` distinct integers in [0, n). */
function distinct(k: number, n: number): number[] {
  const out = new Set<number>();
  while (out.size < Math.min(k, n)) out.add(randInt(n));
  return [...out];
}

const pad = (s: string, n: number) => s.padStart(n);

function fmtRow(share: string, r: LoadResult): string {
  return `${pad(share, 11)} | ${pad(r.callsPerSec.toFixed(0), 8)} | ${pad(r.p50Ms.toFixed(2), 7)} | ${pad(r.p99Ms.toFixed(2), 7)} | ${pad(String(r.errors), 6)}`;
}

/** Creates `ids` with bounded concurrency, printing progress; an object that already exists is fine. */
async function createAll(client: LambdaStoreClient, type: string, ids: string[], initArgs: unknown[], signal: AbortSignal): Promise<void> {
  let done = 0;
  let lastPrint = Date.now();
  const t0 = Date.now();
  await forEachLimited(
    ids,
    CREATE_CONCURRENCY,
    async (id) => {
      try {
        await client.create(type, id, ...initArgs);
      } catch (err) {
        // A retried create whose first attempt was applied reports OBJECT_EXISTS: the object is there.
        if (!(err instanceof LambdaStoreError && err.code === 'OBJECT_EXISTS')) throw err;
      }
      done++;
      // Progress in place on a terminal; in a log (CI) a line every 5 s at most.
      const every = process.stdout.isTTY ? 500 : 5000;
      if (Date.now() - lastPrint >= every && done < ids.length) {
        lastPrint = Date.now();
        process.stdout.write(process.stdout.isTTY ? `\r  created ${done}/${ids.length} ${type} objects` : `  created ${done}/${ids.length} ${type} objects\n`);
      }
    },
    signal,
  );
  const s = (Date.now() - t0) / 1000;
  process.stdout.write(`${process.stdout.isTTY ? '\r' : ''}  created ${done}/${ids.length} ${type} objects in ${s.toFixed(1)} s (${(done / Math.max(s, 0.001)).toFixed(0)}/s)\n`);
}

interface BankOutcome {
  deposits: number;
  depositSum: number;
  withdrawals: number;
  withdrawSum: number;
  rejected: number;
  /** Definite failures other than INSUFFICIENT_FUNDS: not applied. */
  failedNotApplied: number;
  /** Calls that never got a definite answer: may or may not be applied. */
  unknown: number;
  errorCodes: Record<string, number>;
}

/** Definite answers: success, or an error that says the call was not applied. */
function isDefinite(err: unknown): boolean {
  return err instanceof LambdaStoreError && !err.retryable;
}

async function runBank(client: LambdaStoreClient, ids: string[], opts: { durationMs: number; concurrency: number; signal: AbortSignal }) {
  const o: BankOutcome = { deposits: 0, depositSum: 0, withdrawals: 0, withdrawSum: 0, rejected: 0, failedNotApplied: 0, unknown: 0, errorCodes: {} };
  const runId = `${Date.now().toString(36)}-${process.pid}`;
  const note = (code: string) => {
    o.errorCodes[code] = (o.errorCodes[code] ?? 0) + 1;
  };
  const load = await runClosedLoop({
    concurrency: opts.concurrency,
    durationMs: opts.durationMs,
    signal: opts.signal,
    call: async (_w, seq) => {
      const id = ids[randInt(ids.length)]!;
      const deposit = Math.random() < 0.5;
      const amount = 1 + randInt(100);
      const key = `start-bank-${runId}-${seq}`;
      const deadline = Date.now() + RESOLVE_BOUND_MS;
      for (let attempt = 1; ; attempt++) {
        try {
          await client.invoke('Account', id, deposit ? 'deposit' : 'withdraw', [amount], { idempotencyKey: key });
          if (deposit) {
            o.deposits++;
            o.depositSum += amount;
          } else {
            o.withdrawals++;
            o.withdrawSum += amount;
          }
          return;
        } catch (err) {
          if (!deposit && err instanceof LambdaStoreError && err.code === 'INSUFFICIENT_FUNDS') {
            o.rejected++;
            return;
          }
          if (isDefinite(err)) {
            o.failedNotApplied++;
            note(errorCode(err));
            throw err;
          }
          // Unknown outcome (timeout, worker gone...): ask again with the same key until it is definite.
          if (Date.now() >= deadline || (opts.signal.aborted && attempt > 3)) {
            o.unknown++;
            note(`${errorCode(err)} (unresolved)`);
            throw err;
          }
          await new Promise((r) => setTimeout(r, Math.min(1000, 20 * attempt)));
        }
      }
    },
  });
  return { outcome: o, load };
}

async function sumBalances(client: LambdaStoreClient, ids: string[], signal: AbortSignal): Promise<{ sum: number; negative: string[] }> {
  let sum = 0;
  const negative: string[] = [];
  await forEachLimited(
    ids,
    CREATE_CONCURRENCY,
    async (id) => {
      const b = await client.invoke('Account', id, 'balance', [], { timeoutMs: 30_000 });
      if (typeof b !== 'number') throw new Error(`balance of ${id} is not a number: ${JSON.stringify(b)}`);
      sum += b;
      if (b < 0) negative.push(`${id}=${b}`);
    },
    signal,
  );
  return { sum, negative };
}

export async function startCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        once: { type: 'boolean' },
        objects: { type: 'string' },
        accounts: { type: 'string' },
        'duration-s': { type: 'string' },
        concurrency: { type: 'string' },
        workers: { type: 'string' },
        data: { type: 'string' },
        prefix: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${START_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(START_USAGE);
    return 0;
  }
  let objects: number, accounts: number, durationS: number, concurrency: number, workers: number;
  try {
    objects = parseIntOption('objects', values.objects as string | undefined, 1, 1_000_000, 1000);
    accounts = parseIntOption('accounts', values.accounts as string | undefined, 1, 1_000_000, 1000);
    durationS = parseIntOption('duration-s', values['duration-s'] as string | undefined, 1, 3600, 10);
    concurrency = parseIntOption('concurrency', values.concurrency as string | undefined, 1, 10_000, 64);
    workers = parseIntOption('workers', values.workers as string | undefined, 1, 64, 3);
  } catch (err) {
    console.error(`${(err as Error).message}\n${START_USAGE}`);
    return 2;
  }
  const once = values.once === true;
  const root = repoRoot();
  // Its own default folder: start wipes it, and must never wipe the objects of \`lambdastore dev\`.
  const dataDir = resolve((values.data as string | undefined) ?? join(root, ...DEFAULT_START_DATA.split('/')));
  const prefix = (values.prefix as string | undefined) ?? 'lambdastore';

  const live = liveClusterFile(dataDir);
  if (live) {
    console.error(`lambdastore start: a dev cluster (pid ${live.pid}) is running on ${dataDir}; stop it first`);
    return 1;
  }

  // Ctrl-C at any point: stop starting work, then stop the cluster.
  const abort = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) return;
    signalled = sig;
    console.log(`\n${sig}: stopping`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let cluster: DevCluster | undefined;
  let client: LambdaStoreClient | undefined;
  try {
    // Say it before deleting anything: a user who pointed --data at a folder they care about sees why it is empty.
    console.log(`Starting from an empty data folder: ${dataDir} (anything in it is deleted now)`);
    await rm(dataDir, { recursive: true, force: true });
    console.log(`Starting a fresh dev cluster (${workers} workers) in ${dataDir}`);
    cluster = await startDevCluster({ workers, dataDir, prefix, log: (line) => console.log(`  ${line}`) });
    if (signalled) return 130;
    client = await connect({ servers: cluster.natsUrl, prefix });

    for (const rel of ['examples/bank/account.ts', 'examples/micro/micro.ts']) {
      const types = await client.deployFile(join(root, rel));
      console.log(`Deployed ${rel}: ${types.map((t) => `${t.name} v${t.version}`).join(', ')}`);
    }

    // ---- micro workload ----------------------------------------------------------------------
    console.log(`\nMicro workload: ${objects} Micro objects x ${MICRO_ENTRIES} entries x ${MICRO_VALUE_BYTES} B, ${OPS_PER_CALL} entries per call, ${concurrency} calls in flight, ${durationS} s per write share`);
    const microIds = Array.from({ length: objects }, (_, i) => `m${String(i).padStart(6, '0')}`);
    await createAll(client, 'Micro', microIds, [MICRO_ENTRIES, MICRO_VALUE_BYTES], abort.signal);
    if (signalled) return 130;

    const expectedRead = OPS_PER_CALL * MICRO_VALUE_BYTES;
    const rows: Array<[string, LoadResult]> = [];
    for (const share of WRITE_SHARES) {
      const c = client;
      const r = await runClosedLoop({
        concurrency,
        durationMs: durationS * 1000,
        signal: abort.signal,
        call: async (_w, seq) => {
          const id = microIds[randInt(microIds.length)]!;
          const keys = distinct(OPS_PER_CALL, MICRO_ENTRIES);
          if (Math.random() < share) {
            await c.invoke('Micro', id, 'write', [keys, seq]);
          } else {
            const got = await c.invoke('Micro', id, 'read', [keys]);
            if (got !== expectedRead) throw new LambdaStoreError('BAD_RESULT', `read returned ${JSON.stringify(got)}, expected ${expectedRead}`);
          }
        },
      });
      rows.push([`${Math.round(share * 100)} %`, r]);
      console.log(`  ${Math.round(share * 100)} % writes: ${r.callsPerSec.toFixed(0)} calls/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${r.errors} errors${r.errors ? ` (${JSON.stringify(r.errorCodes)})` : ''}`);
      for (const s of r.errorSamples.slice(0, 2)) console.log(`    e.g. ${s}`);
      if (signalled) return 130;
    }

    // ---- bank workload -----------------------------------------------------------------------
    console.log(`\nBank workload: ${accounts} accounts, deposits and withdrawals of 1..100, ${concurrency} in flight, ${durationS} s`);
    const accountIds = Array.from({ length: accounts }, (_, i) => `acct-${String(i).padStart(6, '0')}`);
    await createAll(client, 'Account', accountIds, [0], abort.signal);
    if (signalled) return 130;
    const { outcome: o, load: bankLoad } = await runBank(client, accountIds, { durationMs: durationS * 1000, concurrency, signal: abort.signal });
    if (signalled) return 130;
    const { sum, negative } = await sumBalances(client, accountIds, abort.signal);
    if (signalled) return 130;
    const expected = o.depositSum - o.withdrawSum;
    const bankPass = sum === expected && negative.length === 0 && o.unknown === 0;

    // ---- report ------------------------------------------------------------------------------
    console.log('\nMicro (paper workload, this machine):');
    console.log(' write share | calls/s  | p50 ms  | p99 ms  | errors');
    console.log('-------------+----------+---------+---------+-------');
    for (const [share, r] of rows) console.log(fmtRow(share, r));
    console.log(fmtRow('bank 50/50', bankLoad));
    const microErrors = rows.reduce((n, [, r]) => n + r.errors, 0);
    console.log('');
    console.log(
      `bank check: ${bankPass ? 'PASS' : 'FAIL'}  sum(balances)=${sum} expected=${expected} ` +
        `(deposits ${o.deposits} = +${o.depositSum}, withdrawals ${o.withdrawals} = -${o.withdrawSum}, rejected INSUFFICIENT_FUNDS ${o.rejected}) ` +
        `negative=${negative.length}${negative.length ? ` [${negative.slice(0, 5).join(', ')}]` : ''} ` +
        `other errors: ${o.failedNotApplied} not applied, ${o.unknown} unknown${Object.keys(o.errorCodes).length ? ` ${JSON.stringify(o.errorCodes)}` : ''}`,
    );
    const ok = bankPass && microErrors === 0;
    if (!ok && microErrors > 0) console.log(`micro check: FAIL (${microErrors} errors)`);

    if (once) return ok ? 0 : 1;

    console.log('\nThe cluster keeps running with the Account and Micro types deployed.');
    console.log(usageBanner(cluster, { deployed: true }));
    console.log(`  (accounts acct-000000..acct-${String(accounts - 1).padStart(6, '0')} and Micro objects m000000.. exist)`);
    console.log('\nPress Ctrl-C to stop.');
    if (!signalled) await new Promise<void>((r) => abort.signal.addEventListener('abort', () => r(), { once: true }));
    return ok ? 0 : 1;
  } catch (err) {
    if (signalled) return 130;
    console.error(`\nlambdastore start failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    try {
      await client?.close();
    } catch {
      // closing a broken connection
    }
    if (cluster) {
      console.log('Stopping the cluster');
      try {
        await cluster.stop();
      } catch (err) {
        console.error(`lambdastore start: ${(err as Error).message}`);
      }
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

