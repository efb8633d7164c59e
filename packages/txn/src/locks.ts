/**
 * Try-locks keyed by string (an object, later an entry set). Never waits: a transaction that
 * cannot lock aborts and retries, so no deadlock is possible.
 */
export class LockTable {
  private readonly holders = new Map<string, string>();

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
    if (this.holders.get(key) === owner) this.holders.delete(key);
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
