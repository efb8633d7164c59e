/**
 * One active coordinator per cluster: a lease in JetStream KV (`<p>_meta` key `leader`).
 *
 * The holder rewrites the key every `leaseMs / 3` with compare-and-set on the revision it wrote
 * last. Anyone else (a standby, or a coordinator restarted after a crash) waits until the key has
 * not changed for `leaseMs` by its own clock, then takes it with compare-and-set on the revision it
 * saw: of several standbys exactly one wins. No clocks are compared across machines.
 *
 * A holder whose rewrite fails (someone took over while it was paused or cut off) has lost the
 * lease and must stop acting at once; one that cannot reach KV for `leaseMs` must assume the same.
 * A clean stop deletes the key, so a standby takes over without waiting out the lease.
 */
import type { KV } from '@nats-io/kv';

export const LEASE_KEY = 'leader';

const utf8 = new TextEncoder();

export interface LeaseLog {
  info(line: string): void;
}

export class LeaderLease {
  private revision = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastRenewedAt = 0;
  private stopped = false;

  constructor(
    private readonly kv: KV,
    private readonly holder: string,
    private readonly leaseMs: number,
    private readonly log: LeaseLog,
  ) {}

  /** Resolves once this process holds the lease (false: `cancelled()` said to give up). */
  async acquire(cancelled: () => boolean): Promise<boolean> {
    let seen: { revision: number; since: number; holder: string } | undefined;
    let announced = false;
    const pollMs = Math.max(50, Math.floor(this.leaseMs / 10));
    while (!cancelled()) {
      const e = await this.kv.get(LEASE_KEY);
      const value = utf8.encode(JSON.stringify({ holder: this.holder, pid: process.pid }));
      try {
        if (!e) {
          this.revision = await this.kv.create(LEASE_KEY, value);
          break;
        }
        if (e.operation !== 'PUT' || e.value.length === 0) {
          this.revision = await this.kv.update(LEASE_KEY, value, e.revision);
          break;
        }
        const now = performance.now();
        if (!seen || seen.revision !== e.revision) seen = { revision: e.revision, since: now, holder: e.string() };
        if (now - seen.since >= this.leaseMs) {
          this.revision = await this.kv.update(LEASE_KEY, value, e.revision);
          this.log.info(`took over the lease from ${seen.holder} (silent for ${Math.round(now - seen.since)} ms)`);
          break;
        }
        if (!announced) {
          this.log.info(`standby: another coordinator holds the lease (${seen.holder}); taking over when it is silent for ${this.leaseMs} ms`);
          announced = true;
        }
      } catch {
        // Someone else wrote first: look again.
        seen = undefined;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    if (cancelled()) return false;
    this.lastRenewedAt = performance.now();
    return true;
  }

  /** Keeps the lease; `onLost` runs once when it is gone (taken over, or unreachable too long). */
  keep(onLost: (why: string) => void): void {
    const every = Math.max(50, Math.floor(this.leaseMs / 3));
    let renewing = false;
    this.timer = setInterval(() => {
      if (renewing || this.stopped) return;
      // A pause longer than the lease: a standby may already act; stop before renewing anything.
      if (performance.now() - this.lastRenewedAt >= this.leaseMs) return this.lose(onLost, `no renewal for ${Math.round(performance.now() - this.lastRenewedAt)} ms`);
      renewing = true;
      const value = utf8.encode(JSON.stringify({ holder: this.holder, pid: process.pid }));
      this.kv.update(LEASE_KEY, value, this.revision).then(
        (rev) => { this.revision = rev; this.lastRenewedAt = performance.now(); },
        (err: Error) => { if (/wrong last sequence|key exists/i.test(err.message)) this.lose(onLost, 'another coordinator took the lease'); },
      ).finally(() => { renewing = false; });
    }, every);
    this.timer.unref();
  }

  private lose(onLost: (why: string) => void, why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    onLost(why);
  }

  /** A clean stop: hands the lease back at once (only if it is still ours). */
  async release(): Promise<void> {
    const held = !this.stopped && this.revision > 0;
    this.stopped = true;
    clearInterval(this.timer);
    if (!held) return;
    try {
      await this.kv.delete(LEASE_KEY, { previousSeq: this.revision });
    } catch {
      // Taken over meanwhile, or KV unreachable: the lease runs out on its own.
    }
  }
}
