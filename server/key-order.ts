/**
 * Per-key order behind async work (delivery.ts): a job on a key runs after
 * every job scheduled on that key before it, and only once its own async
 * results are in (`pending` back at 0). A key with nothing waiting runs a
 * ready job at once and costs no queue. Pure: no timers, no I/O.
 */

/** One notification's sending, waiting (or not) for async results. */
export interface Job {
  /** Async results still awaited; the job runs at 0, in its key's order. */
  pending: number;
  run(): void;
}

export class KeyOrder<K> {
  /** Per key, the jobs waiting (absent when none). */
  readonly #queues = new Map<K, Job[]>();

  /** Is something waiting on `key`? A job scheduled there now runs after it. */
  waiting(key: K): boolean {
    return this.#queues.has(key);
  }

  /** Runs `job` in `key`'s order: now when nothing waits and it is ready, else queued. */
  schedule(key: K, job: Job): void {
    const queue = this.#queues.get(key);
    if (!queue && job.pending === 0) {
      job.run();
      return;
    }
    if (queue) queue.push(job);
    else this.#queues.set(key, [job]);
    this.drain(key);
  }

  /** Runs the ready jobs at the head of `key`'s queue (call when a job's `pending` drops). */
  drain(key: K): void {
    const queue = this.#queues.get(key);
    if (!queue) return;
    while (queue.length > 0 && queue[0]?.pending === 0) queue.shift()?.run();
    if (queue.length === 0) this.#queues.delete(key);
  }
}
