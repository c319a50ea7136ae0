/** Store rows of runs to the API's record shapes (shared/runs.ts). */
import { RunSpecSchema, VM_OUTCOMES, type EvidenceRecord, type RunDetail, type RunRecord, type RunVmRecord, type SnapshotRecord } from "../../shared/runs.js";
import type { EvidenceRow, RunRow, RunVmRow, SnapshotRow } from "../store/runs.js";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function runRecord(run: RunRow, vms: RunVmRow[]): RunRecord {
  const counts = Object.fromEntries([...VM_OUTCOMES, "in-flight", "pending"].map((k) => [k, 0])) as RunRecord["counts"];
  for (const v of vms) {
    if (v.outcome) counts[v.outcome]++;
    else if (v.phase === "pending") counts.pending++;
    else counts["in-flight"]++;
  }
  return {
    id: run.id, name: run.name, state: run.state, haltReason: run.halt_reason,
    createdAt: iso(run.created_at)!, finishedAt: iso(run.finished_at), vmCount: vms.length, counts,
  };
}

export function runVmRecord(v: RunVmRow): RunVmRecord {
  return {
    vm: v.vm, host: v.host, position: v.position, canary: v.canary === 1, phase: v.phase, outcome: v.outcome,
    reason: v.reason, snapshot: v.snapshot, startedAt: iso(v.started_at), finishedAt: iso(v.finished_at),
  };
}

export function runDetail(run: RunRow, vms: RunVmRow[]): RunDetail {
  return { ...runRecord(run, vms), spec: RunSpecSchema.parse(JSON.parse(run.spec)), vms: vms.map(runVmRecord) };
}

export function evidenceRecord(e: EvidenceRow): EvidenceRecord {
  return {
    seq: e.seq, time: iso(e.time)!, vm: e.vm, host: e.host, step: e.step, check: e.check_name, command: e.command,
    result: e.result, output: e.output, durationMs: e.duration_ms,
  };
}

export function snapshotRecord(s: SnapshotRow): SnapshotRecord {
  return {
    runId: s.run_id, vm: s.vm, host: s.host, name: s.name, createdAt: iso(s.created_at)!, expiresAt: iso(s.expires_at),
    deletedAt: iso(s.deleted_at), note: s.note,
  };
}
