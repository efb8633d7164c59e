/**
 * Bank transfers side by side: random pairs of accounts, amounts 1..10, with 10 accounts (almost
 * every transfer contends) and 1,000 (few do). Each system moves money the way its users would
 * (BankApi.guarantee says how, and what is lost). The audit replays every acknowledged transfer:
 * each balance must equal its initial amount plus what was acknowledged in and out, and the total
 * must be unchanged. Systems that finish a transfer after acknowledging it (Restate's one-way
 * deposit) get a bounded wait for the balances to settle; the time it took is reported.
 */
import { measure, summarize, type Summary } from './measure.js';
import type { BenchConfig } from './config.js';
import type { BenchSystem } from './systems/system.js';

export const BANK_SIZES = [10, 1000];
const INITIAL = 1_000_000;
const SETTLE_MS = 30_000;

export interface BankResult {
  accounts: number;
  summary: Summary;
  audit: { ok: boolean; text: string };
}

function compare(ids: string[], balances: number[], expected: Map<string, number>): { total: number; mismatched: number } {
  let total = 0;
  let mismatched = 0;
  ids.forEach((id, i) => {
    total += balances[i]!;
    if (balances[i] !== expected.get(id)) mismatched++;
  });
  return { total, mismatched };
}

export async function bankRun(sys: BenchSystem, accounts: number, cfg: BenchConfig): Promise<BankResult> {
  const bank = sys.bank!;
  const ids = Array.from({ length: accounts }, (_, i) => `bank${accounts}-${i}`);
  await bank.create(ids, INITIAL);
  const expected = new Map(ids.map((id) => [id, INITIAL]));
  let acknowledged = 0; // warm-up included: its transfers are in the balances too
  const call = async () => {
    const a = ids[Math.floor(Math.random() * accounts)]!;
    let b = a;
    while (b === a) b = ids[Math.floor(Math.random() * accounts)]!;
    const amount = 1 + Math.floor(Math.random() * 10);
    await bank.transfer(a, b, amount);
    expected.set(a, expected.get(a)! - amount);
    expected.set(b, expected.get(b)! + amount);
    acknowledged++;
  };
  const run = await measure(sys, call, { concurrency: cfg.concurrency, warmupMs: cfg.warmupMs, durationMs: cfg.durationMs });
  const summary = summarize([run]);
  const t0 = Date.now();
  let balances = await bank.balances(ids);
  let { total, mismatched } = compare(ids, balances, expected);
  let reads = 1;
  while (mismatched > 0 && Date.now() - t0 < SETTLE_MS) {
    await new Promise((r) => setTimeout(r, 200));
    balances = await bank.balances(ids);
    reads++;
    ({ total, mismatched } = compare(ids, balances, expected));
  }
  // Only a system that needed more than one look has money in flight after acknowledging.
  const settled = reads > 1 ? Date.now() - t0 : 0;
  const want = INITIAL * accounts;
  const failed = summary.errors;
  const parts: string[] = [];
  parts.push(total === want ? `total unchanged` : `TOTAL CHANGED by ${(total - want).toLocaleString('en-US')}`);
  if (mismatched === 0) parts.push(`every balance matches the ${acknowledged.toLocaleString('en-US')} acknowledged transfers`);
  else parts.push(`${mismatched} balance(s) differ from the acknowledged transfers${failed > 0 ? ` (${failed} transfers failed: their outcome is unknown to the caller)` : ''}`);
  if (settled > 0) parts.push(`settled within ${(settled / 1000).toFixed(1)} s after the last acknowledgement`);
  return { accounts, summary, audit: { ok: total === want && (mismatched === 0 || failed > 0), text: parts.join('; ') } };
}
