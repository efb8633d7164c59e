/**
 * npm run bench [-- --quick] [--objects N] [--duration-s S] [--concurrency C] [--repeats R]
 *
 * Runs, side by side in one run on one machine: the raw NATS request/reply floor (an echo
 * responder in its own process) and LambdaStore's micro workload (the paper's: objects of 100
 * entries x 1 KiB, each call reads or writes 5 random entries) at 0/50/100 % writes through the
 * client, then low-load latency one call at a time. Repetitions are interleaved and medians
 * reported. Writes docs/BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect } from '@lambdastore/client';
import { startDevCluster, runClosedLoop, forEachLimited, type LoadResult } from '@lambdastore/cli';
import { entrySetBench } from './entrysets.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    objects: { type: 'string' },
    'duration-s': { type: 'string' },
    concurrency: { type: 'string', default: '64' },
    repeats: { type: 'string' },
    out: { type: 'string', default: join(repo, 'docs', 'BENCHMARKS.md') },
  },
});
const quick = values.quick!;
const objects = Number(values.objects ?? (quick ? 200 : 1000));
const durationMs = 1000 * Number(values['duration-s'] ?? (quick ? 3 : 10));
const concurrency = Number(values.concurrency);
const repeats = Number(values.repeats ?? (quick ? 1 : 3));
const ENTRIES = 100;
const OPS = 5;

const log = (s: string) => process.stdout.write(s + '\n');

/** CPU time (user + system) a process has used, in microseconds; undefined off Linux. */
function cpuMicros(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000; // clock ticks of 10 ms (USER_HZ 100)
  } catch {
    return undefined;
  }
}

type CpuShare = Record<string, number>;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN; };
const spread = (xs: number[]) => (xs.length > 1 ? `${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))}` : '');

function pick5(): number[] {
  const keys = new Set<number>();
  while (keys.size < OPS) keys.add(Math.floor(Math.random() * ENTRIES));
  return [...keys];
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ls-bench-'));
  log(`bench: ${quick ? 'quick' : 'full'} run, ${objects} objects, ${durationMs / 1000}s per measurement, ${concurrency} in flight, ${repeats} repeat(s)`);
  const cluster = await startDevCluster({ workers: 3, dataDir: join(dir, 'cluster'), log: (l) => log(`  ${l}`) });
  const echo = spawn(process.execPath, [join(here, 'echo.js'), cluster.natsUrl, 'bench.echo'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      echo.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('echo ready')) resolve(); });
      echo.once('exit', (c) => reject(new Error(`echo responder exited (${c})`)));
    });
    const client = await connect({ servers: cluster.natsUrl });
    const nc = await natsConnect({ servers: cluster.natsUrl });
    await client.deployFile(join(repo, 'examples', 'micro', 'micro.ts'));
    log(`creating ${objects} Micro objects (${ENTRIES} entries x 1 KiB)...`);
    await forEachLimited(Array.from({ length: objects }, (_, i) => i), 32, async (i) => {
      await client.create('Micro', `m${i}`, ENTRIES, 1024);
    });
    const payload = new Uint8Array(128);
    const floorCall = () => nc.request('bench.echo', payload, { timeout: 10_000 });
    const microCall = (writeShare: number) => () => {
      const id = `m${Math.floor(Math.random() * objects)}`;
      return Math.random() < writeShare
        ? client.invoke('Micro', id, 'write', [pick5(), Math.floor(Math.random() * 1e9)])
        : client.invoke('Micro', id, 'read', [pick5()]);
    };
    const lsProcs = () => ({ client: [process.pid], 'nats-server': [cluster.nats.pid], workers: cluster.workers.map((w) => w.pid), coordinator: [cluster.coordinator.pid] });
    const floorProcs = () => ({ client: [process.pid], 'nats-server': [cluster.nats.pid], echo: [echo.pid] });
    const workloads: Array<{ name: string; call: () => Promise<unknown>; procs: () => Record<string, Array<number | undefined>> }> = [
      { name: 'raw NATS request/reply (floor)', call: floorCall, procs: floorProcs },
      { name: 'micro, 0% writes', call: microCall(0), procs: lsProcs },
      { name: 'micro, 50% writes', call: microCall(0.5), procs: lsProcs },
      { name: 'micro, 100% writes', call: microCall(1), procs: lsProcs },
    ];
    // warm-up
    for (const w of workloads) await runClosedLoop({ concurrency, durationMs: 1000, call: () => w.call() });
    const results = new Map<string, LoadResult[]>(workloads.map((w) => [w.name, []]));
    const cpu = new Map<string, CpuShare[]>(workloads.map((w) => [w.name, []]));
    const sumCpu = (groups: Record<string, Array<number | undefined>>) =>
      Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, pids.reduce((a: number, p) => a + (cpuMicros(p) ?? NaN), 0)]));
    for (let r = 0; r < repeats; r++) {
      for (const w of workloads) {
        const before = sumCpu(w.procs());
        const res = await runClosedLoop({ concurrency, durationMs, call: () => w.call() });
        const after = sumCpu(w.procs());
        cpu.get(w.name)!.push(Object.fromEntries(Object.keys(before).map((k) => [k, (after[k]! - before[k]!) / Math.max(1, res.calls)])));
        results.get(w.name)!.push(res);
        log(`  [${r + 1}/${repeats}] ${w.name}: ${Math.round(res.callsPerSec)} calls/s, p50 ${res.p50Ms.toFixed(2)} ms, p99 ${res.p99Ms.toFixed(2)} ms, errors ${res.errors}`);
      }
    }
    // low load: one call at a time
    const lowLoad = new Map<string, LoadResult>();
    for (const w of [workloads[0]!, workloads[1]!, workloads[3]!]) {
      const res = await runClosedLoop({ concurrency: 1, durationMs: Math.min(durationMs, 5000), call: () => w.call() });
      lowLoad.set(w.name, res);
      log(`  one at a time, ${w.name}: p50 ${res.p50Ms.toFixed(3)} ms, p99 ${res.p99Ms.toFixed(3)} ms`);
    }
    const bank = await bankTransfers(client, nc);
    await client.close();
    await nc.close();
    echo.kill('SIGTERM');
    await cluster.stop();
    const entrySets = await entrySetBench({ repoRoot: repo, durationMs, concurrency, repeats, writeShares: [0, 0.5], log });
    await writeReport(results, lowLoad, cpu, bank, entrySets);
  } finally {
    echo.kill('SIGTERM');
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

interface BankRow {
  accounts: number;
  result: LoadResult;
  /** Attempts that conflicted and ran again, per acknowledged transfer (from worker heartbeats). */
  abortsPerCall: number;
  /** Transfers whose two accounts live on different workers (two-phase commit). */
  crossWorkerShare: number;
  audit: string;
}

/**
 * Bank transfers (Account.transfer: a nested call, one transaction) between random accounts:
 * with 10 accounts almost every transfer contends; with 1,000 few do. Most pairs sit on different
 * workers, so most transfers commit by two-phase commit. Ends with an audit of the total.
 */
async function bankTransfers(client: Awaited<ReturnType<typeof connect>>, nc: Awaited<ReturnType<typeof natsConnect>>): Promise<BankRow[]> {
  await client.deployFile(join(repo, 'examples', 'bank', 'account.ts'));
  const { lambdastore, shardOf } = await import('@lambdastore/proto');
  const aborts = new Map<string, number>();
  const sub = nc.subscribe('lambdastore.hb', { callback: (_e, m) => { const hb = lambdastore.Heartbeat.decode(m.data); aborts.set(hb.workerId, Number(hb.abortsTotal)); } });
  const totalAborts = () => [...aborts.values()].reduce((a, b) => a + b, 0);
  const cfg = await client.config();
  const ownerOf = (id: string) => cfg.shards.find((x) => x.shard === shardOf('Account', id, cfg.numShards))?.chain?.[0];
  const rows: BankRow[] = [];
  for (const accounts of [10, 1000]) {
    const ids = Array.from({ length: accounts }, (_, i) => `bank${accounts}-${i}`);
    const INITIAL = 1_000_000;
    await forEachLimited(ids, 32, async (id) => { await client.create('Account', id, INITIAL); });
    let cross = 0;
    let sent = 0;
    const transfer = () => {
      const a = ids[Math.floor(Math.random() * accounts)]!;
      let b = ids[Math.floor(Math.random() * accounts)]!;
      while (b === a) b = ids[Math.floor(Math.random() * accounts)]!;
      sent++;
      if (ownerOf(a) !== ownerOf(b)) cross++;
      return client.invoke('Account', a, 'transfer', [b, 1 + Math.floor(Math.random() * 10)]);
    };
    await runClosedLoop({ concurrency, durationMs: 1000, call: transfer });
    await new Promise((r) => setTimeout(r, 1100)); // a heartbeat with the warm-up's totals
    const before = totalAborts();
    const result = await runClosedLoop({ concurrency, durationMs, call: transfer });
    await new Promise((r) => setTimeout(r, 1100));
    const abortsPerCall = (totalAborts() - before) / Math.max(1, result.calls);
    const balances = (await Promise.all(ids.map((id) => client.invoke('Account', id, 'balance')))) as number[];
    const total = balances.reduce((x, y) => x + y, 0);
    const audit = total === INITIAL * accounts ? `total unchanged (${total.toLocaleString('en-US')})` : `TOTAL CHANGED: ${total} != ${INITIAL * accounts}`;
    rows.push({ accounts, result, abortsPerCall, crossWorkerShare: cross / Math.max(1, sent), audit });
    log(`  bank, ${accounts} accounts: ${Math.round(result.callsPerSec)} transfers/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, re-runs per transfer ${abortsPerCall.toFixed(2)}, errors ${result.errors}; ${audit}`);
  }
  sub.unsubscribe();
  return rows;
}

async function writeReport(results: Map<string, LoadResult[]>, lowLoad: Map<string, LoadResult>, cpu: Map<string, CpuShare[]>, bank: BankRow[], entrySets: string): Promise<void> {
  const floorName = 'raw NATS request/reply (floor)';
  const floor = median(results.get(floorName)!.map((r) => r.callsPerSec));
  const rows = [...results].map(([name, rs]) => {
    const cps = median(rs.map((r) => r.callsPerSec));
    const errors = rs.reduce((a, r) => a + r.errors, 0);
    return `| ${name} | ${Math.round(cps).toLocaleString('en-US')} | ${spread(rs.map((r) => r.callsPerSec))} | ${median(rs.map((r) => r.p50Ms)).toFixed(2)} | ${median(rs.map((r) => r.p99Ms)).toFixed(2)} | ${errors} | ${(cps / floor).toFixed(2)} |`;
  });
  const low = [...lowLoad].map(([name, r]) => `| ${name} | ${r.p50Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} | ${r.calls} |`);
  const cpuRows = [...cpu].map(([name, shares]) => {
    const keys = Object.keys(shares[0] ?? {});
    const cell = (k: string) => { const v = median(shares.map((s) => s[k]!)); return Number.isFinite(v) ? `${k} ${Math.round(v)}` : `${k} n/a`; };
    const total = median(shares.map((s) => Object.values(s).reduce((a, b) => a + b, 0)));
    return `| ${name} | ${Number.isFinite(total) ? Math.round(total) : 'n/a'} | ${keys.map(cell).join(', ')} |`;
  });
  const text = `# Benchmarks

Written by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${new Date().toISOString().slice(0, 10)}. Machine: ${cpus().length} cores
(${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB memory, Node.js ${process.version}. Everything runs
on this one machine: nats-server, the coordinator, 3 worker processes (one replica per shard, 16
shards, LevelDB with fsync'd group commits), the load generator and the echo responder. The machine
is shared and noisy: read the ratios, measured side by side in one run, rather than the absolutes.

## Throughput (closed loop, ${concurrency} calls in flight, ${durationMs / 1000} s per run, median of ${repeats} interleaved run(s))

Micro workload as in the paper: ${objects.toLocaleString('en-US')} objects of ${ENTRIES} entries x 1 KiB; each call
reads or writes ${OPS} random entries of one uniformly chosen object through the TypeScript client.
The floor is a NATS request/reply of 128 bytes to an echo responder in another process: the least
a remote call can cost here.

| workload | calls/s | spread | p50 ms | p99 ms | errors | ratio to floor |
|---|---|---|---|---|---|---|
${rows.join('\n')}

## Latency at low load (one call at a time)

| workload | p50 ms | p99 ms | calls |
|---|---|---|---|
${low.join('\n')}

## Where the CPU goes (µs of CPU per call, by process, median of the runs above)

On 2 cores every process competes for the same CPU, so throughput follows the total. Measured from
\`/proc/<pid>/stat\` around each run.

| workload | total µs/call | by process |
|---|---|---|
${cpuRows.join('\n')}

## Bank transfers across shards (\`Account.transfer\`: a nested call, one transaction)

Random pairs of accounts, ${concurrency} transfers in flight, ${durationMs / 1000} s. A pair on two workers commits by
two-phase commit. "Re-runs" are transaction attempts that conflicted and ran again inside the
worker (reported by the workers); "errors" are transfers that failed for good (e.g. \`TXN_ABORTED\`).

| accounts | transfers/s | p50 ms | p99 ms | across workers | re-runs per transfer | errors | audit |
|---|---|---|---|---|---|---|---|
${bank.map((b) => `| ${b.accounts.toLocaleString('en-US')} | ${Math.round(b.result.callsPerSec).toLocaleString('en-US')} | ${b.result.p50Ms.toFixed(2)} | ${b.result.p99Ms.toFixed(2)} | ${Math.round(b.crossWorkerShare * 100)} % | ${b.abortsPerCall.toFixed(2)} | ${b.result.errors} | ${b.audit} |`).join('\n')}

${entrySets}
## Reading these numbers

- A LambdaStore call is two NATS hops (client -> worker -> client, like the floor) plus decoding,
  one hop into a method thread and back, and for writes an fsync'd commit (grouped across
  concurrent calls). On 2 cores the load generator, nats-server and 3 workers share the CPU, so
  the ratio to the floor is the figure to watch.
- The paper's prototype reached 123,761 read-only calls/s on a multi-node cluster; its ratios
  between write shares (read-only ~4x 25 % writes, ~17x 100 % writes) are the shape to compare.
`;
  await writeFile(values.out!, text);
  log(`wrote ${values.out}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
