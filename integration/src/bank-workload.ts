/**
 * A bank workload whose every transfer can be audited: `Account` objects (fixtures/bank.ts)
 * record each transfer's token in the sender's `out` and the receiver's `in` log, in the same
 * transaction as the money. The audit checks that money is conserved, every acknowledged transfer
 * is applied exactly once on both sides, and nothing refused or failed was applied.
 */
import { expect } from 'chai';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { eventually } from '@lambdastore/testkit';
import type { TestCluster } from './cluster.js';

export class BankWorkload {
  readonly ids: string[];
  readonly acked = new Set<string>();
  /** INSUFFICIENT_FUNDS: applied nothing. */
  readonly refused = new Set<string>();
  /**
   * METHOD_TIMEOUT: a transfer whose callee's shard was failing over waited inside the method, and
   * that wait counts toward the method's time limit; nothing was applied (the audit checks it).
   */
  readonly timedOut = new Set<string>();
  readonly failures: string[] = [];
  private client: LambdaStoreClient | undefined;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly t: TestCluster, readonly accounts = 24, readonly initial = 1000) {
    this.ids = Array.from({ length: accounts }, (_, i) => `acct-${i}`);
  }

  async setup(): Promise<void> {
    for (const id of this.ids) await this.t.client.create('Account', id, this.initial);
  }

  /** Starts `n` loops of transfers; retries go on across failovers with the same idempotency key. */
  async start(n = 6): Promise<void> {
    this.client = await connect({ servers: this.t.cluster.natsUrl, prefix: this.t.cluster.prefix, maxAttempts: 1000 });
    const client = this.client;
    const N = this.accounts;
    this.loops = Array.from({ length: n }, async (_, k) => {
      while (!this.stopped) {
        const s = this.seq++;
        const from = this.ids[(k * 7 + s * 5) % N]!;
        const to = this.ids[(k * 11 + s * 3 + 1) % N]!;
        if (from === to) continue;
        const token = `tx-${k}-${s}`;
        try {
          await client.invoke('Account', from, 'transfer', [to, 1 + (s % 7), token], { timeoutMs: 60_000, idempotencyKey: token });
          this.acked.add(token);
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          if (code === 'INSUFFICIENT_FUNDS') this.refused.add(token);
          else if (code === 'METHOD_TIMEOUT') this.timedOut.add(token);
          else this.failures.push(`${token}: ${code} ${(err as Error).message}`);
          // A call that fails at once (a closed client) must not spin: that would starve the event loop.
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    });
  }

  /** Waits until `n` more transfers were acknowledged. */
  async progress(n: number, what: string): Promise<void> {
    const before = this.acked.size;
    await eventually(() => this.acked.size >= before + n, 60_000, what);
  }

  /** Idempotent: a test's `after` stops it too, so a failed test leaves no loop running. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.loops);
    await this.client?.close();
  }

  async audit(): Promise<void> {
    expect(this.failures, this.failures.slice(0, 5).join('\n')).to.deep.equal([]);
    let total = 0;
    const balances: Array<[string, number]> = [];
    const outs = new Map<string, number>();
    const ins = new Map<string, number>();
    for (const id of this.ids) {
      const s = (await this.t.client.invoke('Account', id, 'state')) as { balance: number; out: string[]; in: string[] };
      total += s.balance;
      balances.push([id, s.balance]);
      for (const tok of s.out) outs.set(tok, (outs.get(tok) ?? 0) + 1);
      for (const tok of s.in) ins.set(tok, (ins.get(tok) ?? 0) + 1);
    }
    expect(total, `money was created or destroyed: ${JSON.stringify(balances)}`).to.equal(this.accounts * this.initial);
    for (const tok of this.acked) {
      expect(outs.get(tok), `acknowledged ${tok} in the sender's log`).to.equal(1);
      expect(ins.get(tok), `acknowledged ${tok} in the receiver's log`).to.equal(1);
    }
    for (const [tok, n] of outs) {
      expect(n, `${tok} applied twice`).to.equal(1);
      expect(ins.get(tok), `${tok} half applied`).to.equal(1);
      expect(this.refused.has(tok) || this.timedOut.has(tok), `${tok} failed yet was applied`).to.equal(false);
    }
    for (const tok of ins.keys()) expect(outs.has(tok), `${tok} received but never sent`).to.equal(true);
  }
}
