/**
 * Group commit: writes from many agents arriving in the same event-loop turn
 * are applied in one SQLite transaction, and their callbacks (acks) run only
 * after that transaction committed. One fsync for a thousand agents' events
 * is what makes thousands of events per second affordable.
 */
import type { Store } from "../store/index.js";

interface Job {
  work: () => unknown;
  done: (err: Error | null, result: unknown) => void;
}

export class StoreWriter {
  private queue: Job[] = [];
  private scheduled = false;
  private flushes = 0;

  constructor(private readonly store: Store, private readonly maxBatch = 5_000) {}

  /** Runs `work` in the next group transaction; resolves after commit. */
  write<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, done: (err, result) => (err ? reject(err) : resolve(result as T)) });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  get transactionsCommitted(): number {
    return this.flushes;
  }

  /** Applies everything queued now; used by flush timers and at shutdown. */
  flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const results: unknown[] = [];
      try {
        this.store.transaction(() => {
          for (const job of batch) results.push(job.work());
        });
        this.flushes++;
        batch.forEach((job, i) => job.done(null, results[i]));
      } catch {
        // One bad job must not sink the others: redo each on its own.
        for (const job of batch) {
          try {
            const result = this.store.transaction(job.work);
            this.flushes++;
            job.done(null, result);
          } catch (err) {
            job.done(err instanceof Error ? err : new Error(String(err)), undefined);
          }
        }
      }
    }
  }
}
