/**
 * Retention of resolved findings: on the retention schedule (the snapshot
 * job's), findings resolved longer ago than `maxAgeMs` are deleted, and then,
 * per host, all but its `perHost` most recently resolved. Open findings are
 * never touched. Deleted in chunks, each its own transaction, with a turn of
 * the event loop between them: a first sweep over millions of rows must not
 * hold agents' writes for seconds.
 */
import cron, { type ScheduledTask } from "node-cron";
import type { Logger } from "../shared/logging.js";
import type { Store } from "./store/index.js";
import type { ControllerMetrics } from "./metrics.js";

export interface FindingRetentionOptions {
  store: Store;
  metrics: ControllerMetrics;
  log: Logger;
  /** node-cron expression (validated by the snapshot retention, which shares it). */
  schedule: string;
  maxAgeMs: number;
  perHost: number;
  /** Rows deleted per transaction. */
  chunk?: number;
}

export interface FindingSweepResult {
  byAge: number;
  byPerHostLimit: number;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class FindingRetention {
  private task: ScheduledTask | null = null;
  private sweeping: Promise<FindingSweepResult> | null = null;

  constructor(private readonly options: FindingRetentionOptions) {}

  start(): void {
    this.task = cron.schedule(this.options.schedule, () => this.sweep(), { name: "finding-retention", noOverlap: true });
  }

  async stop(): Promise<void> {
    await this.task?.destroy();
    this.task = null;
    await this.sweeping;
  }

  /** One pass now; a pass already under way is joined, not doubled. */
  sweep(now = Date.now()): Promise<FindingSweepResult> {
    this.sweeping ??= this.pass(now).finally(() => { this.sweeping = null; });
    return this.sweeping;
  }

  private async pass(now: number): Promise<FindingSweepResult> {
    const { store, metrics, log, maxAgeMs, perHost } = this.options;
    const result: FindingSweepResult = { byAge: 0, byPerHostLimit: 0 };
    try {
      result.byAge = await this.inChunks(() => store.health.deleteResolvedBefore(now - maxAgeMs, this.chunk));
      metrics.resolvedFindingsDeleted.inc({ reason: "age" }, result.byAge);
      for (const hostId of store.health.hostsWithResolvedOver(perHost)) {
        const n = await this.inChunks(() => store.health.trimResolved(hostId, perHost, this.chunk));
        result.byPerHostLimit += n;
        metrics.resolvedFindingsDeleted.inc({ reason: "per-host-limit" }, n);
      }
    } catch (err) {
      // The store closing under a sweep at shutdown, or a full disk: the next tick tries again.
      log.warn({ err, ...result }, "deleting old resolved findings failed; trying again at the next tick");
      return result;
    }
    if (result.byAge + result.byPerHostLimit > 0) log.info({ ...result }, "old resolved findings deleted");
    return result;
  }

  private get chunk(): number {
    return this.options.chunk ?? 5_000;
  }

  private async inChunks(deleteChunk: () => number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = this.options.store.transaction(deleteChunk);
      total += n;
      if (n < this.chunk) return total;
      await nextTurn();
    }
  }
}
