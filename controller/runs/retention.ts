/**
 * Snapshot retention: on a node-cron schedule, every snapshot nightshift took
 * whose keep period is over is deleted through its host's agent, and the
 * deletion is recorded (on the snapshot and as an evidence line of its run).
 * Only rows of the snapshots table are touched, so an operator's own
 * snapshots, and snapshots of VMs that need attention (no expiry), stay.
 * A host whose agent is not connected, or a snapshot an operator is deleting
 * (nightshift snapshots delete), is tried again at the next tick.
 */
import cron, { type ScheduledTask } from "node-cron";
import type { Logger } from "../../shared/logging.js";
import { NightshiftError, errorMessage } from "../../shared/errors.js";
import type { Store } from "../store/index.js";
import type { AgentCalls } from "../hub/agent-calls.js";
import type { ControllerMetrics } from "../metrics.js";
import type { SnapshotDeleter } from "./recovery.js";

export interface RetentionOptions {
  store: Store;
  calls: AgentCalls;
  metrics: ControllerMetrics;
  log: Logger;
  schedule: string;
  stepTimeoutMs: number;
  /** Shared with the operator's deletes: a snapshot one of them is deleting is left for the next tick. */
  deleter?: SnapshotDeleter;
}

export interface SweepResult {
  deleted: number;
  gone: number;
  failed: number;
  waiting: number;
}

export class SnapshotRetention {
  private task: ScheduledTask | null = null;
  private sweeping: Promise<SweepResult> | null = null;
  private sweeps = 0;

  constructor(private readonly options: RetentionOptions) {
    if (!cron.validate(options.schedule)) {
      throw new NightshiftError("NS_ERR_CONFIG", `retention.schedule '${options.schedule}' is not a valid cron expression ` +
        `(5 fields, or 6 with seconds, e.g. "*/10 * * * *")`);
    }
  }

  start(): void {
    this.task = cron.schedule(this.options.schedule, () => this.sweep(), { name: "snapshot-retention", noOverlap: true });
  }

  async stop(): Promise<void> {
    await this.task?.destroy();
    this.task = null;
  }

  /** One pass now; a pass already under way is joined, not doubled. */
  sweep(now = Date.now()): Promise<SweepResult> {
    this.sweeping ??= this.pass(now).finally(() => { this.sweeping = null; });
    return this.sweeping;
  }

  private async pass(now: number): Promise<SweepResult> {
    const { store, calls, metrics, log } = this.options;
    const result: SweepResult = { deleted: 0, gone: 0, failed: 0, waiting: 0 };
    const sweep = ++this.sweeps;
    for (const snap of store.runs.expiredSnapshots(now)) {
      if (!calls.isConnected(snap.host_id) || (this.options.deleter && !this.options.deleter.claim(snap.id))) {
        result.waiting++;
        continue;
      }
      const started = Date.now();
      const command = `virDomainSnapshotDelete ${snap.vm} ${snap.name}`;
      try {
        const r = await calls.call(snap.host_id, snap.host, `retention:${snap.id}:${started}:${sweep}`,
          { kind: "snapshot-delete", vm: snap.vm, name: snap.name }, { timeoutMs: this.options.stepTimeoutMs, repeatable: true });
        const note = r.deleted ? "deleted by retention (keep period over)" : "already gone when retention came to delete it";
        const at = Date.now();
        store.transaction(() => {
          store.runs.markSnapshotDeleted(snap.id, note, at);
          store.runs.addEvidence({ runId: snap.run_id, time: started, vm: snap.vm, host: snap.host, step: "retention", check: "delete",
            command, result: "PASS", output: note, durationMs: at - started });
        });
        if (r.deleted) result.deleted++;
        else result.gone++;
        metrics.snapshotsDeleted.inc({ result: r.deleted ? "deleted" : "gone" });
        log.info({ vm: snap.vm, host: snap.host, snapshot: snap.name, deleted: r.deleted }, "expired snapshot removed");
      } catch (err) {
        result.failed++;
        metrics.snapshotsDeleted.inc({ result: "failed" });
        const detail = errorMessage(err);
        store.runs.noteSnapshot(snap.id, `deleting failed, will retry: ${detail}`);
        log.warn({ vm: snap.vm, host: snap.host, snapshot: snap.name, err: detail }, "deleting an expired snapshot failed; retrying next time");
      } finally {
        this.options.deleter?.release(snap.id);
      }
    }
    return result;
  }
}
