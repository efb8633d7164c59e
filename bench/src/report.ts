/**
 * Writes docs/BENCHMARKS.md and the charts (docs/bench/*.svg) from one run's outcome: the machine
 * and versions, per workload a table (calls/s, spread, p50, p99, errors, LambdaStore's ratio to
 * each system) and a chart, low-load latency, bank transfers with their audits, the goals of
 * issue 6 with the measured ratios, the worker profile, then the registered sections.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { barChart, type Bar } from './chart.js';
import { summarize, type Run, type Summary } from './measure.js';
import { throughputWorkloads } from './workloads.js';
import { BANK_SIZES, type BankResult } from './bank.js';
import type { BenchConfig } from './config.js';
import type { BenchSystem } from './systems/system.js';
import type { ProfileSummary } from './profile-summary.js';

export interface Outcome {
  cfg: BenchConfig;
  systems: BenchSystem[];
  /** system id (or `id|what`) -> why it was not measured. */
  skipped: Map<string, string>;
  /** `workload|system` -> runs, one per round. */
  throughput: Map<string, Run[]>;
  /** system -> [read-only run, write-only run], one call at a time. */
  lowLoad: Map<string, Run[]>;
  bank: Map<string, BankResult[]>;
  sections: string[];
  profile: Record<string, ProfileSummary> | undefined;
  elapsedMs: number;
}

const US = 'lambdastore-c1';

/** The LambdaStore build measured: the commit of the working tree (and whether it had changes). */
function lambdaStoreVersion(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return `commit ${commit}${dirty ? ' with uncommitted changes' : ''}`;
  } catch {
    return 'unknown commit';
  }
}
const num = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

function errorsCell(s: Summary): string {
  if (!s.errors) return '0';
  return `${s.errors} (${Object.entries(s.errorCodes).map(([k, v]) => `${k} ${v}`).join(', ')})`;
}

function cpuCell(s: Summary): string {
  const parts = Object.entries(s.cpuPerCall).filter(([, v]) => Number.isFinite(v));
  const total = parts.reduce((a, [, v]) => a + v, 0);
  return parts.length ? `${Math.round(total)} (${parts.map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')})` : 'n/a';
}

export async function writeReport(o: Outcome): Promise<string[]> {
  const { cfg } = o;
  const chartDir = join(dirname(cfg.out), 'bench');
  await mkdir(chartDir, { recursive: true });
  const written: string[] = [cfg.out];
  const rel = (f: string) => relative(dirname(cfg.out), f);
  const measured = (id: string) => !o.skipped.has(id);
  const sysById = new Map(o.systems.map((s) => [s.id, s]));
  const get = (w: string, sys: string): Summary | undefined => {
    const runs = o.throughput.get(`${w}|${sys}`);
    return runs?.length ? summarize(runs) : undefined;
  };

  const out: string[] = [];
  out.push(`# Benchmarks

Written by \`npm run bench${cfg.quick ? ' -- --quick' : ''}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC in ${Math.round(o.elapsedMs / 60000)} min.
Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB memory, Node.js ${process.version}; LambdaStore-TS ${lambdaStoreVersion()}.
Every system below ran on this one machine, started by the bench, driven in turn by the same load
generator in one Node process: a closed loop of ${cfg.concurrency} calls in flight, ${cfg.warmupMs / 1000} s warm-up, then
${cfg.durationMs / 1000} s measured; ${cfg.repeats} interleaved round(s) (each round runs every system once per workload),
medians reported with the spread (min-max) of the rounds. The machine is shared and noisy: read
the ratios, measured side by side, rather than the absolutes. CPU per call counts every process of
the system (from \`/proc/<pid>/stat\`), the load generator included.

## Systems

| system | how it runs here |
|---|---|
${o.systems.map((s) => `| ${s.label} | ${o.skipped.has(s.id) ? `**skipped**: ${o.skipped.get(s.id)}` : s.description} |`).join('\n')}

Workloads, identical for every system: the paper's micro workload (${cfg.objects.toLocaleString('en-US')} objects of 100 entries x 1 KiB;
each call reads or writes 5 random entries of one object, uniform or Zipf 0.99 over the objects),
one hot object at 50 % writes, the same read-only and write-only calls one at a time, and bank
transfers. Every call's answer is checked (bytes read or written); a wrong answer is an error
(\`WRONG_RESULT\`), not a call. The ratio column is LambdaStore (client, chain 1) divided by the row.
`);

  const workloads = throughputWorkloads(cfg.objects);
  for (const w of workloads) {
    const ours = get(w.id, US);
    const rows = o.systems.map((s) => {
      const r = get(w.id, s.id);
      if (!r) return `| ${s.label} | skipped | | | | | |`;
      return `| ${s.label} | ${num(r.callsPerSec)} | ${num(r.min)}-${num(r.max)} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${errorsCell(r)} | ${s.id === US ? '1.00x' : ratio(ours?.callsPerSec ?? NaN, r.callsPerSec)} |`;
    });
    const bars: Bar[] = o.systems.filter((s) => measured(s.id)).map((s) => {
      const r = get(w.id, s.id);
      return { label: s.label, value: r?.callsPerSec ?? NaN, note: r ? `p50 ${ms(r.p50Ms)} ms` : undefined, kind: s.kind };
    });
    const chart = join(chartDir, `${w.id}.svg`);
    await writeFile(chart, barChart(`${w.title}: calls/s (${cfg.concurrency} in flight)`, 'calls/s', bars));
    written.push(chart);
    // A count alone does not say what went wrong: show the first answers of each system that erred.
    const samples = o.systems.flatMap((s) => {
      const r = get(w.id, s.id);
      return r?.errors ? [`- ${s.label}, first errors: ${r.errorSamples.map((e) => `\`${e.replace(/\s+/g, ' ').slice(0, 200)}\``).join('; ')}`] : [];
    });
    out.push(`## ${w.title[0]!.toUpperCase()}${w.title.slice(1)}

![${w.title}](${rel(chart)})

| system | calls/s | spread | p50 ms | p99 ms | errors | LambdaStore ÷ this |
|---|---|---|---|---|---|---|
${rows.join('\n')}
${samples.length ? `\n${samples.join('\n')}\n` : ''}`);
  }

  out.push(`## CPU per call (µs, all processes of the system; micro, 0 % and 100 % writes, uniform)

On 2 cores every process competes for the same CPU, so throughput follows the total.

| system | read-only µs/call | write-only µs/call |
|---|---|---|
${o.systems.filter((s) => measured(s.id)).map((s) => {
    const r = get(workloads[0]!.id, s.id);
    const wr = get(workloads[2]!.id, s.id);
    return `| ${s.label} | ${r ? cpuCell(r) : 'n/a'} | ${wr ? cpuCell(wr) : 'n/a'} |`;
  }).join('\n')}
`);

  const lowBars: Bar[] = [];
  const lowRows = o.systems.filter((s) => o.lowLoad.has(s.id)).map((s) => {
    const [r, wr] = o.lowLoad.get(s.id)!.map((x) => summarize([x]));
    lowBars.push({ label: s.label, value: r!.p50Ms * 1000, note: `p99 ${ms(r!.p99Ms * 1000, 0)} µs`, kind: s.kind });
    return `| ${s.label} | ${ms(r!.p50Ms, 3)} | ${ms(r!.p99Ms, 3)} | ${ms(wr!.p50Ms, 3)} | ${ms(wr!.p99Ms, 3)} | ${r!.errors + wr!.errors} |`;
  });
  const lowChart = join(chartDir, 'low-load.svg');
  await writeFile(lowChart, barChart('one call at a time: read-only p50 (µs, lower is better)', 'µs', lowBars));
  written.push(lowChart);
  out.push(`## Latency at low load (one call at a time, ${cfg.lowLoadMs / 1000} s each)

![low load](${rel(lowChart)})

| system | read p50 ms | read p99 ms | write p50 ms | write p99 ms | errors |
|---|---|---|---|---|---|
${lowRows.join('\n')}
`);

  const bankSystems = o.systems.filter((s) => s.bank);
  for (const n of BANK_SIZES) {
    const ours = o.bank.get(US)?.find((b) => b.accounts === n);
    const bars: Bar[] = [];
    const rows = bankSystems.map((s) => {
      const b = o.bank.get(s.id)?.find((x) => x.accounts === n);
      if (!b) return `| ${s.label} | skipped${o.skipped.get(`${s.id}|bank${n}`) ? `: ${o.skipped.get(`${s.id}|bank${n}`)}` : ''} | | | | | | |`;
      bars.push({ label: s.label, value: b.summary.callsPerSec, note: `p50 ${ms(b.summary.p50Ms)} ms`, kind: s.kind });
      return `| ${s.label} | ${num(b.summary.callsPerSec)} | ${ms(b.summary.p50Ms)} | ${ms(b.summary.p99Ms)} | ${errorsCell(b.summary)} | ${s.id === US ? '1.00x' : ratio(ours?.summary.callsPerSec ?? NaN, b.summary.callsPerSec)} | ${b.audit.ok ? 'ok' : '**FAILED**'}: ${b.audit.text} |`;
    });
    const chart = join(chartDir, `bank-${n}.svg`);
    await writeFile(chart, barChart(`bank transfers between ${n} accounts: transfers/s`, 'transfers/s', bars));
    written.push(chart);
    out.push(`## Bank transfers, ${n.toLocaleString('en-US')} accounts

![bank ${n}](${rel(chart)})

| system | transfers/s | p50 ms | p99 ms | errors | LambdaStore ÷ this | audit |
|---|---|---|---|---|---|---|
${rows.join('\n')}
`);
  }
  out.push(`What each system's transfer guarantees (and what is lost against one serializable transaction):

${bankSystems.filter((s) => measured(s.id)).map((s) => `- **${s.label}**: ${s.bank!.guarantee}.`).join('\n')}

The audit replays every acknowledged transfer: each balance must equal its initial amount plus the
acknowledged transfers in and out, and the total must be unchanged.
`);

  out.push(goals(o, get));
  out.push(profileText(o));
  out.push(READING);
  out.push(...o.sections);
  await writeFile(cfg.out, out.join('\n'));
  return written;
}

type Getter = (w: string, sys: string) => Summary | undefined;

interface Goal {
  what: string;
  target: number;
  got: number;
  note: string;
  /** Title of the workload whose worker profile explains a shortfall. */
  profiled: string;
  /** What the peer's CPU per call says (on 2 cores throughput follows it), when measured. */
  cpu: string;
}

const cpuTotal = (s: Summary | undefined) => Object.values(s?.cpuPerCall ?? {}).filter(Number.isFinite).reduce((a, b) => a + b, 0);

function cpuVersus(ours: Summary | undefined, peer: Summary | undefined, peerLabel: string): string {
  const a = cpuTotal(ours);
  const b = cpuTotal(peer);
  return a > 0 && b > 0 ? `CPU per call ${Math.round(a)} µs for us against ${Math.round(b)} µs for ${peerLabel}` : '';
}

function goals(o: Outcome, get: Getter): string {
  const w = throughputWorkloads(o.cfg.objects);
  const read = w[0]!;
  const half = w[1]!;
  const c3 = get(half.id, 'lambdastore-c3');
  const halfUs = c3 ?? get(half.id, US);
  const halfNote = c3 ? '' : ` (chain 3 ${o.skipped.has('lambdastore-c3') ? 'skipped, see Systems' : 'not measured'}; chain 1 shown)`;
  const readGoal = (peer: string, label: string, target: number): Goal => ({
    what: `read-only micro: LambdaStore ÷ ${label}`, target, got: ratioOf(get(read.id, US), get(read.id, peer)), note: '',
    profiled: read.title, cpu: cpuVersus(get(read.id, US), get(read.id, peer), label),
  });
  const writeGoal = (peer: string, label: string, target: number): Goal => ({
    what: `50 % writes, chain 3: LambdaStore ÷ ${label}`, target, got: ratioOf(halfUs, get(half.id, peer)), note: halfNote,
    profiled: half.title, cpu: cpuVersus(halfUs, get(half.id, peer), label),
  });
  const rows: Goal[] = [
    readGoal('restate', 'Restate', 10),
    readGoal('durable-objects', 'Durable Objects', 5),
    readGoal('redis', 'Redis function', 1),
    readGoal('nats-floor', 'raw NATS floor', 0.5),
    writeGoal('restate', 'Restate', 5),
    writeGoal('postgres', 'PostgreSQL function', 1.5),
  ];
  const low = o.lowLoad.get(US)?.[0];
  const lowP50 = low ? low.result.p50Ms : NaN;
  const floorP50 = o.lowLoad.get('nats-floor')?.[0]?.result.p50Ms ?? NaN;
  const short = (g: Goal) => Number.isFinite(g.got) && g.got < g.target;
  const line = (g: Goal) =>
    `| ${g.what}${g.note} | ≥ ${g.target}x | ${Number.isFinite(g.got) ? `${g.got.toFixed(2)}x` : 'not measured'} | ${!Number.isFinite(g.got) ? 'n/a' : short(g) ? `**short by ${Math.round((1 - g.got / g.target) * 100)} %** (needs ${(g.target / g.got).toFixed(2)}x our throughput)` : 'met'} |`;

  const fixes: string[] = [];
  for (const g of rows.filter(short)) {
    const why = [g.cpu, profileHint(o, g.profiled)].filter(Boolean).join('; ');
    fixes.push(`- **${g.what}**: ${g.got.toFixed(2)}x of ${g.target}x, short by ${Math.round((1 - g.got / g.target) * 100)} %.${why ? ` ${why}.` : ''}`);
  }
  if (Number.isFinite(lowP50) && lowP50 > 0.35) {
    const floor = Number.isFinite(floorP50) ? ` The raw NATS request/reply alone takes ${floorP50.toFixed(3)} ms p50 here, so the goal leaves ${Math.max(0, 0.35 - floorP50).toFixed(3)} ms for the worker, the thread hop and the client.` : '';
    fixes.push(`- **p50 at low load**: ${lowP50.toFixed(3)} ms, ${Math.round((lowP50 / 0.35 - 1) * 100)} % over 0.35 ms.${floor} One call at a time pays every hop in series: the thread hop (two \`postMessage\`s and two wake-ups) is the part we control; running short read-only methods on the main thread removes it.`);
  }
  return `## Goals of issue 6 (ratios in this run; micro workloads uniform)

| goal | target | measured | |
|---|---|---|---|
${rows.map(line).join('\n')}
| p50 at low load (read-only micro, client) | ≤ 0.35 ms | ${Number.isFinite(lowP50) ? `${lowP50.toFixed(3)} ms` : 'not measured'} | ${!Number.isFinite(lowP50) ? 'n/a' : lowP50 <= 0.35 ? 'met' : `**short: ${Math.round((lowP50 / 0.35 - 1) * 100)} % over**`} |
${fixes.length ? `
### Where we fall short, what the profile shows, and the next fix

${fixes.join('\n')}
` : ''}`;
}

/** The largest buckets of the worker profile of `workload` and the fix the largest points to. */
function profileHint(o: Outcome, workload: string): string {
  const p = o.profile?.[workload];
  if (!p?.categories.length) return 'no worker profile in this run';
  // "Other" is not ours to fix directly: propose the fix of the largest bucket of our own work.
  const ours = p.categories.filter((c) => !c.name.startsWith('other'));
  const top = ours[0] ?? p.categories[0]!;
  const buckets = p.categories.slice(0, 3).map((c) => `${c.name} ${Math.round(c.share * 100)} %`).join(', ');
  return `the worker profile (${workload}) spends its busy time on ${buckets}; next fix (${top.name}): ${top.nextFix}`;
}

function ratioOf(a: Summary | undefined, b: Summary | undefined): number {
  return a && b && b.callsPerSec > 0 ? a.callsPerSec / b.callsPerSec : NaN;
}

function profileText(o: Outcome): string {
  if (!o.profile) return '## Where a LambdaStore worker spends its time\n\nNot profiled in this run.\n';
  const parts = Object.entries(o.profile).map(([title, p]) => `### ${title}

${p.samples.toLocaleString('en-US')} samples over the 3 workers' main threads; busy ${Math.round(p.busyShare * 100)} % of the time.
By kind of work (share of busy samples): ${p.categories.map((c) => `${c.name} ${(c.share * 100).toFixed(0)} %`).join('; ')}.

Top ${p.rows.length} functions by self time:

| self time | function | where |
|---|---|---|
${p.rows.map((r) => `| ${(r.share * 100).toFixed(1)} % | \`${r.name}\` | ${r.where} |`).join('\n')}
`);
  return `## Where a LambdaStore worker spends its time

V8 CPU profiles of the 3 workers' main threads (NATS, decoding, dispatch, commit; method threads
are separate isolates and not included), taken with the inspector Profiler during a micro run at
${o.cfg.concurrency} calls in flight, by a hook loaded with \`--import\` (\`bench/src/profile-hook.ts\`).

${parts.join('\n')}`;
}

const READING = `## Reading these numbers

- A LambdaStore call is two NATS hops (client -> worker -> client, like the NATS floor) plus
  protobuf decoding, a hop into a method thread (Piscina) and back, and for writes an fsync'd group
  commit. The object's entries travel to the thread as a shared, immutable snapshot (no copy), so
  the hop costs a \`postMessage\` each way, not the object's size.
- The Redis and PostgreSQL functions pay one HTTP hop and one store round trip per call, and no
  thread hop: compute and state are split, but on one machine the split costs less than a thread
  hop under load. The paper's argument is about networks between machines; here the "network" is
  loopback.
- Restate persists every invocation (journal and state) in its log before it answers, reads
  included, and ships the object's state to the SDK endpoint with the invocation; Durable Objects
  in Miniflare run every object on one workerd thread and fsync each write.
- On 2 cores the load generator, the system's processes and everything else on the machine share
  the CPU, so the ratios of one run are the figures to read, and CPU per call (above) says where a
  system's time goes.
- The paper's prototype reached 123,761 read-only calls/s on a multi-node cluster; its ratios
  between write shares (read-only ~4x 25 % writes, ~17x 100 % writes) are the shape to compare.
`;
