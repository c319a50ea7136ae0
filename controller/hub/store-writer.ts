/**
 * Group commit: writes from many agents arriving in the same event-loop turn
 * are applied in one SQLite transaction, and their callbacks (acks) run only
 * after that transaction committed. One fsync for a thousand agents' events
 * is what makes thousands of events per second affordable.
 *
 * A failing job costs only itself: it is rejected, and the rest of its group
 * still commits once. (A fallback of one transaction per job when any job
 * failed let one agent whose jobs always fail turn every group into dozens of
 * fsyncs, and so cut everyone else's throughput.) While failures are recent,
 * each job runs in a savepoint of its own, so a failing one is rolled back to
 * it alone. Savepoints cost ~8 % of the store's CPU per event, so a group
 * with no failure for GUARDED_GROUPS groups runs without them; should a job
 * fail then, the group's transaction is rolled back and its other jobs are
 * done again in savepoints, once.
 */
import type { Store } from "../store/index.js";

interface Job {
  work: () => unknown;
  done: (err: Error | null, result: unknown) => void;
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** Groups run with a savepoint per job after a job failed. */
export const GUARDED_GROUPS = 100;

export class StoreWriter {
  private queue: Job[] = [];
  private scheduled = false;
  private flushes = 0;
  /** Groups left to run with a savepoint per job. */
  private guardedGroups = 0;
  /** Inside a transaction, better-sqlite3 runs a transaction function as a savepoint. */
  private readonly inSavepoint: (work: () => unknown) => unknown;

  constructor(private readonly store: Store, private readonly maxBatch = 5_000) {
    this.inSavepoint = store.db.transaction((work: () => unknown) => work());
  }

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
    while (this.queue.length > 0) this.commitGroup(this.queue.splice(0, this.maxBatch));
  }

  /**
   * One transaction for the group. A failure outside a savepoint, or one that
   * ends the whole transaction (SQLite rolls all of it back on SQLITE_FULL or
   * an I/O error), undoes the jobs before it too: those are done again, with
   * the ones not reached yet, in a new transaction, each in a savepoint.
   * Every pass rejects at least one job, so this ends.
   */
  private commitGroup(group: Job[]): void {
    const db = this.store.db;
    let guarded = this.guardedGroups > 0;
    if (guarded) this.guardedGroups--;
    let pending = group;
    while (pending.length > 0) {
      const done: { job: Job; result: unknown }[] = [];
      let again: Job[] = [];
      try {
        db.exec("BEGIN");
      } catch (err) {
        for (const job of pending) job.done(asError(err), undefined);
        return;
      }
      for (let i = 0; i < pending.length; i++) {
        const job = pending[i]!;
        try {
          done.push({ job, result: guarded ? this.inSavepoint(job.work) : job.work() });
        } catch (err) {
          job.done(asError(err), undefined);
          this.guardedGroups = GUARDED_GROUPS;
          if (!guarded || !db.inTransaction) {
            if (db.inTransaction) db.exec("ROLLBACK");
            again = [...done.map((d) => d.job), ...pending.slice(i + 1)];
            done.length = 0;
            guarded = true;
            break;
          }
        }
      }
      if (db.inTransaction) this.commit(done);
      pending = again;
    }
  }

  /** A commit that fails stores none of the group: every job of it is rejected (the agents are told and send again). */
  private commit(done: { job: Job; result: unknown }[]): void {
    const db = this.store.db;
    try {
      db.exec("COMMIT");
    } catch (err) {
      if (db.inTransaction) db.exec("ROLLBACK");
      for (const d of done) d.job.done(asError(err), undefined);
      return;
    }
    this.flushes++;
    for (const d of done) d.job.done(null, d.result);
  }
}
