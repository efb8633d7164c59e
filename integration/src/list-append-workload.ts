/**
 * A list-append workload for fault tests: loops of `Reg.txn` chains (read 1-2 lists, append a
 * unique element to 1-2 lists, one transaction) with retries across failovers (same idempotency
 * key). `check` closes the history with one read of every list and asserts it is serializable
 * (src/checker, with real-time order) and that every append is present as its outcome says:
 * committed exactly once, aborted never, unknown at most once.
 */
import { expect } from 'chai';
import { connect, type LambdaStoreClient } from '@lambdastore/client';
import { eventually } from '@lambdastore/testkit';
import type { TestCluster } from './cluster.js';
import { checkHistory, formatReport, type Op, type Txn } from './checker/index.js';
import type { Step } from '../fixtures/txntypes.js';

/** Nothing was applied (see serializability.test.ts). */
const ABORTED: readonly string[] = ['TXN_ABORTED', 'METHOD_TIMEOUT'];

export class ListAppendWorkload {
  readonly history: Txn[] = [];
  readonly appended = new Map<string, { key: string; status: Txn['status'] }>();
  readonly failures: string[] = [];
  private committed = 0;
  private client: LambdaStoreClient | undefined;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private seq = 0;

  constructor(private readonly t: TestCluster, readonly lists: readonly string[]) {}

  async start(n: number): Promise<void> {
    this.client = await connect({ servers: this.t.cluster.natsUrl, prefix: this.t.cluster.prefix, maxAttempts: 1000 });
    const client = this.client;
    this.loops = Array.from({ length: n }, async (_, k) => {
      while (!this.stopped) {
        const id = `c${k}-${this.seq++}`;
        const pick = () => this.lists[Math.floor(Math.random() * this.lists.length)]!;
        const steps: Step[] = [['readList', pick()], ['append', pick(), `${id}.0`]];
        if (Math.random() < 0.5) steps.push(['append', pick(), `${id}.1`]);
        const start = Date.now();
        try {
          const res = (await client.invoke('Reg', pick(), 'txn', [steps], { timeoutMs: 60_000 })) as string[][];
          const ops: Op[] = [];
          steps.forEach((s, i) => {
            // An append returned the list before it: a read of this transaction, then the append.
            ops.push({ kind: 'read', key: s[1] as string, value: res[i]! });
            if (s[0] === 'append') ops.push({ kind: 'append', key: s[1], value: s[2] });
          });
          this.history.push({ id, ops, status: 'committed', start, end: Date.now() });
          this.committed++;
          for (const s of steps) if (s[0] === 'append') this.appended.set(s[2], { key: s[1], status: 'committed' });
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          const status: Txn['status'] | undefined = ABORTED.includes(code) ? 'aborted' : code === 'TIMEOUT' ? 'unknown' : undefined;
          if (!status) {
            this.failures.push(`${id}: ${code} ${(err as Error).message}`);
            // A call that fails at once (a closed client) must not spin: that would starve the event loop.
            await new Promise((r) => setTimeout(r, 10));
            continue;
          }
          const ops: Op[] = steps.filter((s) => s[0] === 'append').map((s) => ({ kind: 'append', key: s[1] as string, value: s[2] as string }));
          this.history.push({ id, ops, status, start });
          for (const s of steps) if (s[0] === 'append') this.appended.set(s[2], { key: s[1], status });
        }
      }
    });
  }

  /** Waits until `n` more chains committed. */
  async progress(n: number, what: string): Promise<void> {
    const before = this.committed;
    await eventually(() => this.committed >= before + n, 60_000, what);
  }

  /** Idempotent: a test's `after` stops it too, so a failed test leaves no loop running. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.loops);
    await this.client?.close();
  }

  async check(): Promise<void> {
    expect(this.failures, this.failures.slice(0, 5).join('\n')).to.deep.equal([]);
    const finals = (await this.t.client.invoke('Reg', this.lists[0]!, 'readLists', [this.lists], { timeoutMs: 30_000 })) as string[][];
    this.history.push({ id: 'final', ops: this.lists.map((k, i) => ({ kind: 'read', key: k, value: finals[i]! })), status: 'committed' });
    const result = checkHistory(this.history, { realtime: true, maxAnomaliesPerKind: 10 });
    expect(result.ok, formatReport(result)).to.equal(true);
    const seen = new Map<string, number>();
    this.lists.forEach((k, i) => {
      for (const el of finals[i]!) {
        seen.set(el, (seen.get(el) ?? 0) + 1);
        expect(this.appended.get(el)?.key, `${el} in the wrong list or never appended`).to.equal(k);
      }
    });
    for (const [el, { status }] of this.appended) {
      const n = seen.get(el) ?? 0;
      if (status === 'committed') expect(n, `committed ${el}`).to.equal(1);
      else if (status === 'aborted') expect(n, `aborted ${el}`).to.equal(0);
      else expect(n, `unknown ${el}`).to.be.at.most(1);
    }
  }
}
