/**
 * Try-locks keyed by string (an object, later an entry set). Never waits: a transaction that
 * cannot lock aborts and retries, so no deadlock is possible.
 */
export class LockTable {
  private readonly holders = new Map<string, string>();
  private readonly waiters = new Map<string, Array<() => void>>();

  /** Takes the lock for `owner`; true if it now holds it (re-entrant for the same owner). */
  tryLock(key: string, owner: string): boolean {
    const h = this.holders.get(key);
    if (h === undefined) {
      this.holders.set(key, owner);
      return true;
    }
    return h === owner;
  }

  /** Takes all locks or none. */
  tryLockAll(keys: Iterable<string>, owner: string): boolean {
    const taken: string[] = [];
    for (const k of keys) {
      const had = this.holders.get(k) === owner;
      if (!this.tryLock(k, owner)) {
        for (const t of taken) this.unlock(t, owner);
        return false;
      }
      if (!had) taken.push(k);
    }
    return true;
  }

  unlock(key: string, owner: string): void {
    if (this.holders.get(key) !== owner) return;
    this.holders.delete(key);
    const ws = this.waiters.get(key);
    if (ws) {
      this.waiters.delete(key);
      for (const w of ws) w();
    }
  }

  /**
   * Resolves once `key` is free (at once when it is), or after `timeoutMs` regardless; true when it
   * is free. For readers that should see a prepared transaction's outcome rather than abort on it.
   */
  whenFree(key: string, timeoutMs: number): Promise<boolean> {
    if (!this.holders.has(key)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(!this.holders.has(key)), timeoutMs);
      const list = this.waiters.get(key) ?? [];
      list.push(() => { clearTimeout(timer); resolve(true); });
      this.waiters.set(key, list);
    });
  }

  unlockAll(keys: Iterable<string>, owner: string): void {
    for (const k of keys) this.unlock(k, owner);
  }

  holder(key: string): string | undefined {
    return this.holders.get(key);
  }

  get size(): number {
    return this.holders.size;
  }
}
