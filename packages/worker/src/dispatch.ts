/**
 * Hands calls to the method threads. Three rules:
 *
 * - Calls that may write the same object take turns (one at a time per object, in arrival order)
 *   while the object is one entry set: two writers of it side by side would conflict under OCC and
 *   one would run for nothing. Readonly calls, and writers of an object split into entry sets, do
 *   not take turns (the executor decides).
 * - At most one Piscina task per thread is outstanding, so a call's time limit starts when it
 *   starts running, not while it queues behind others.
 * - Calls waiting when a thread frees up travel together, up to `maxBatch` in one Piscina task: a
 *   task hop costs tens of microseconds on each side, and a batch pays it once. The thread reports
 *   which call it is running and since when (a shared Int32Array), so each call keeps its own time
 *   limit: when one runs away the thread is terminated, that call fails with METHOD_TIMEOUT and the
 *   others of its batch (which applied nothing: writes only take effect in the main thread) are
 *   queued again.
 */
import { performance } from 'node:perf_hooks';
import type { Piscina } from 'piscina';
import type { TransferListItem } from 'node:worker_threads';
import type { ExecResult, ExecTask, ThreadBatch } from './task.js';

export interface DispatchResult {
  value?: ExecResult;
  timedOut: boolean;
  error?: Error;
}

interface Job {
  task: ExecTask;
  timeoutMs: number;
  transferList: TransferListItem[];
  /** Runs alone (after a crash of a batch it was part of, or when it carries a port). */
  solo: boolean;
  resolve: (r: DispatchResult) => void;
}

export class TaskDispatcher {
  private running = 0;
  private readonly queue: Job[] = [];
  private readonly turns = new Map<string, Promise<void>>();
  /** Batches sent and calls in them, for stats. */
  batches = 0;
  batchedCalls = 0;
  /** Thread time spent on batches (ms), for the utilisation metric. */
  busyMs = 0;

  constructor(private readonly pool: Piscina, private readonly slots: number, private readonly maxBatch = 8) {}

  /**
   * Waits for this object's write turn; call `release` to pass the turn on. `waited` says whether
   * another writer held it (contention the entry-set policy learns from).
   */
  async writeTurn(objectKey: string): Promise<{ release: () => void; waited: boolean }> {
    const previous = this.turns.get(objectKey);
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const tail = previous ? previous.then(() => mine) : mine;
    this.turns.set(objectKey, tail);
    if (previous) await previous;
    return {
      waited: previous !== undefined,
      release: () => {
        release();
        if (this.turns.get(objectKey) === tail) this.turns.delete(objectKey);
      },
    };
  }

  /** Runs a call on a thread once one is free; it is aborted `timeoutMs` after it starts. */
  run(task: ExecTask, timeoutMs: number, transferList: TransferListItem[]): Promise<DispatchResult> {
    return new Promise((resolve) => {
      this.queue.push({ task, timeoutMs, transferList, solo: transferList.length > 0, resolve });
      this.pump();
    });
  }

  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    while (this.running < this.slots && this.queue.length > 0) {
      const first = this.queue.shift()!;
      const jobs = [first];
      if (!first.solo) {
        while (jobs.length < this.maxBatch && this.queue.length > 0 && !this.queue[0]!.solo) jobs.push(this.queue.shift()!);
      }
      this.start(jobs);
    }
  }

  private start(jobs: Job[]): void {
    this.running++;
    this.batches++;
    this.batchedCalls += jobs.length;
    const progressBuffer = new SharedArrayBuffer(8);
    const progress = new Int32Array(progressBuffer);
    const baseMs = Date.now();
    const sentAt = performance.now();
    const ac = new AbortController();
    let culprit: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    // Fires at the earliest moment the running call could be over its limit, and re-arms. The main
    // thread does not see a call start, so it also wakes within the shortest limit of the calls still
    // to come: a later call with a shorter limit is then caught at most one limit late.
    const shortestFrom = (index: number) => jobs.slice(index).reduce((m, j) => Math.min(m, j.timeoutMs), Infinity);
    const check = () => {
      const running = Atomics.load(progress, 0); // 1-based index of the running call, 0 before the first
      const index = Math.max(0, running - 1);
      const startedAt = running === 0 ? baseMs : baseMs + progress[1]!;
      const job = jobs[index]!;
      const now = Date.now();
      if (now >= startedAt + job.timeoutMs) {
        culprit = index;
        ac.abort();
      } else {
        timer = setTimeout(check, Math.min(startedAt + job.timeoutMs - now, shortestFrom(index + 1)));
      }
    };
    timer = setTimeout(check, shortestFrom(0));
    const batch: ThreadBatch = { tasks: jobs.map((j) => j.task), progress: progressBuffer, baseMs };
    const transferList = jobs.flatMap((j) => j.transferList);
    this.pool.run(batch, { signal: ac.signal, transferList }).then(
      (results: ExecResult[]) => jobs.forEach((j, i) => j.resolve({ value: results[i]!, timedOut: false })),
      (err: Error) => {
        if (culprit !== undefined) {
          jobs[culprit]!.resolve({ timedOut: true });
          this.requeue(jobs.filter((_, i) => i !== culprit), false);
        } else if (jobs.length === 1) {
          jobs[0]!.resolve({ timedOut: false, error: err });
        } else {
          // The thread died (e.g. out of memory) and we cannot tell which call did it: each runs
          // alone now, so the next failure is attributed to the right call.
          this.requeue(jobs, true);
        }
      },
    ).finally(() => {
      clearTimeout(timer);
      this.busyMs += performance.now() - sentAt;
      this.running--;
      this.pump();
    });
  }

  private requeue(jobs: Job[], solo: boolean): void {
    this.queue.unshift(...jobs.map((j) => ({ ...j, solo: j.solo || solo })));
  }
}
