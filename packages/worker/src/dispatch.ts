/**
 * Hands tasks to the method threads. Two rules keep time limits honest and work useful:
 *
 * - At most one task per thread is handed to Piscina; the rest wait here. A method's time limit
 *   therefore starts when it starts running, not while it queues behind others.
 * - Calls that may write the same object take turns (one at a time per object, in arrival order).
 *   Two writers of one object running side by side would almost surely conflict under OCC, and
 *   one of them would run for nothing; readonly calls never wait for a turn.
 */
import type { Piscina } from 'piscina';
import type { TransferListItem } from 'node:worker_threads';

export class TaskDispatcher {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly turns = new Map<string, Promise<void>>();

  constructor(private readonly pool: Piscina, private readonly slots: number) {}

  /** Waits for this object's write turn; call the returned function to pass the turn on. */
  async writeTurn(objectKey: string): Promise<() => void> {
    const previous = this.turns.get(objectKey);
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const tail = previous ? previous.then(() => mine) : mine;
    this.turns.set(objectKey, tail);
    if (previous) await previous;
    return () => {
      release();
      if (this.turns.get(objectKey) === tail) this.turns.delete(objectKey);
    };
  }

  /** Runs a task on a thread once one is free, aborting it `timeoutMs` after it starts. */
  async run<T>(task: unknown, timeoutMs: number, transferList: TransferListItem[]): Promise<{ value?: T; timedOut: boolean; error?: Error }> {
    if (this.running >= this.slots) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      return { value: (await this.pool.run(task, { signal: ac.signal, transferList })) as T, timedOut: false };
    } catch (err) {
      return { timedOut: ac.signal.aborted, error: err as Error };
    } finally {
      clearTimeout(timer);
      this.running--;
      this.waiting.shift()?.();
    }
  }

  get queued(): number {
    return this.waiting.length;
  }
}
