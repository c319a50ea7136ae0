/**
 * Maintenance runs in the store: the run, each target VM's phase and outcome
 * (the durable state machine the run engine resumes from), the evidence log
 * and the snapshots nightshift took. Every state change is one small
 * transaction written before the work it announces, so a controller killed at
 * any point finds each VM's last phase on disk.
 */
import type { Db } from "./db.js";
import type { RunSpec, RunState, VmOutcome, VmPhase, EvidenceResult, EvidenceRecord } from "../../shared/runs.js";

export interface RunRow {
  id: string;
  name: string;
  spec: string;
  state: RunState;
  halt_reason: string | null;
  created_at: number;
  finished_at: number | null;
}

export interface RunVmRow {
  run_id: string;
  position: number;
  host_id: number;
  host: string;
  vm: string;
  canary: number;
  phase: VmPhase;
  attempt: number;
  /** The id of this phase's step that must not run twice (patch, reboot), once it was picked. */
  step_id: string | null;
  /** 1 once that step's request may have reached the agent. */
  step_sent: number;
  outcome: VmOutcome | null;
  reason: string | null;
  snapshot: string | null;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
}

export interface EvidenceRow {
  seq: number;
  run_id: string;
  time: number;
  vm: string | null;
  host: string | null;
  step: string;
  check_name: string;
  command: string;
  result: EvidenceResult;
  output: string;
  duration_ms: number;
}

/** An evidence line to append: the API's record without what the store assigns, times in epoch ms. */
export type NewEvidence = Omit<EvidenceRecord, "seq" | "time"> & { runId: string; time: number };

export interface SnapshotRow {
  id: number;
  run_id: string;
  host_id: number;
  host: string;
  vm: string;
  name: string;
  created_at: number;
  expires_at: number | null;
  deleted_at: number | null;
  note: string | null;
}

export interface NewRunVm {
  position: number;
  hostId: number;
  vm: string;
  canary: boolean;
}

/** Output kept per evidence line: enough to see what went wrong, bounded so a chatty patch cannot bloat the store. */
export const EVIDENCE_OUTPUT_LIMIT = 4096;

const RUN_VM_COLUMNS = `rv.run_id, rv.position, rv.host_id, h.name AS host, rv.vm, rv.canary, rv.phase, rv.attempt, rv.step_id,
  rv.step_sent, rv.outcome, rv.reason, rv.snapshot, rv.started_at, rv.finished_at, rv.updated_at`;

/**
 * VMs flagged by a run that left them needing attention, until a later run on
 * the VM ends well or an operator resolves it (vm_resolutions) after that run.
 */
const NEEDS_ATTENTION = `SELECT rv.run_id, h.name AS host, rv.vm FROM run_vms rv JOIN hosts h ON h.id = rv.host_id
  WHERE rv.outcome = 'needs-attention' AND NOT EXISTS (
    SELECT 1 FROM run_vms later WHERE later.host_id = rv.host_id AND later.vm = rv.vm
      AND later.finished_at > rv.finished_at AND later.outcome IN ('succeeded', 'rolled-back'))
  AND NOT EXISTS (
    SELECT 1 FROM vm_resolutions res WHERE res.host_id = rv.host_id AND res.vm = rv.vm AND res.resolved_at >= rv.finished_at)`;

export class RunStore {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      insertRun: db.prepare(`INSERT INTO runs (id, name, spec, state, created_at) VALUES (?, ?, ?, 'running', ?)`),
      insertVm: db.prepare(`INSERT INTO run_vms (run_id, position, host_id, vm, canary, phase, updated_at)
        VALUES (?, ?, ?, ?, ?, 'pending', ?)`),
      getRun: db.prepare(`SELECT * FROM runs WHERE id = ?`),
      listRuns: db.prepare(`SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT ?`),
      unfinishedRuns: db.prepare(`SELECT * FROM runs WHERE state != 'finished' ORDER BY created_at`),
      vms: db.prepare(`SELECT ${RUN_VM_COLUMNS} FROM run_vms rv JOIN hosts h ON h.id = rv.host_id WHERE rv.run_id = ? ORDER BY rv.position`),
      vm: db.prepare(`SELECT ${RUN_VM_COLUMNS} FROM run_vms rv JOIN hosts h ON h.id = rv.host_id WHERE rv.run_id = ? AND rv.position = ?`),
      openVmsOn: db.prepare(`SELECT rv.run_id, rv.vm FROM run_vms rv JOIN runs r ON r.id = rv.run_id
        WHERE rv.host_id = ? AND rv.vm = ? AND rv.outcome IS NULL AND r.state != 'finished'`),
      // Re-entering the same phase (a resume) keeps its step; another phase starts without one.
      setPhase: db.prepare(`UPDATE run_vms SET phase = @phase, attempt = attempt + 1,
        step_id = CASE WHEN phase = @phase THEN step_id END, step_sent = CASE WHEN phase = @phase THEN step_sent ELSE 0 END,
        started_at = coalesce(started_at, @now), updated_at = @now WHERE run_id = @runId AND position = @position`),
      keepStep: db.prepare(`UPDATE run_vms SET step_id = ?, step_sent = 0, updated_at = ? WHERE run_id = ? AND position = ?`),
      stepSent: db.prepare(`UPDATE run_vms SET step_sent = 1, updated_at = ? WHERE run_id = ? AND position = ? AND step_id = ?`),
      setSnapshot: db.prepare(`UPDATE run_vms SET snapshot = ?, updated_at = ? WHERE run_id = ? AND position = ?`),
      setReason: db.prepare(`UPDATE run_vms SET reason = ?, updated_at = ? WHERE run_id = ? AND position = ?`),
      finishVm: db.prepare(`UPDATE run_vms SET phase = 'done', outcome = ?, reason = ?, finished_at = ?, updated_at = ?
        WHERE run_id = ? AND position = ? AND outcome IS NULL`),
      abortPending: db.prepare(`UPDATE run_vms SET phase = 'done', outcome = 'aborted', reason = ?, finished_at = ?, updated_at = ?
        WHERE run_id = ? AND phase = 'pending' AND outcome IS NULL`),
      halt: db.prepare(`UPDATE runs SET state = 'stopping', halt_reason = coalesce(halt_reason, ?) WHERE id = ? AND state != 'finished'`),
      finishRun: db.prepare(`UPDATE runs SET state = 'finished', finished_at = ? WHERE id = ? AND state != 'finished'`),
      insertEvidence: db.prepare(`INSERT INTO run_evidence (run_id, time, vm, host, step, check_name, command, result, output, duration_ms)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      evidence: db.prepare(`SELECT * FROM run_evidence WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
      insertSnapshot: db.prepare(`INSERT INTO snapshots (run_id, host_id, vm, name, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (host_id, vm, name) DO NOTHING`),
      setSnapshotExpiry: db.prepare(`UPDATE snapshots SET expires_at = ? WHERE host_id = ? AND vm = ? AND name = ? AND deleted_at IS NULL`),
      markSnapshotDeleted: db.prepare(`UPDATE snapshots SET deleted_at = ?, note = ? WHERE id = ? AND deleted_at IS NULL`),
      noteSnapshot: db.prepare(`UPDATE snapshots SET note = ? WHERE id = ?`),
      snapshots: db.prepare(`SELECT s.*, h.name AS host FROM snapshots s JOIN hosts h ON h.id = s.host_id
        WHERE (? OR s.deleted_at IS NULL) ORDER BY s.created_at DESC, s.id DESC`),
      expiredSnapshots: db.prepare(`SELECT s.*, h.name AS host FROM snapshots s JOIN hosts h ON h.id = s.host_id
        WHERE s.deleted_at IS NULL AND s.expires_at IS NOT NULL AND s.expires_at <= ? ORDER BY s.expires_at`),
      inMaintenance: db.prepare(`SELECT rv.run_id, h.name AS host, rv.vm FROM run_vms rv JOIN hosts h ON h.id = rv.host_id
        JOIN runs r ON r.id = rv.run_id WHERE rv.outcome IS NULL AND rv.phase != 'pending' AND r.state != 'finished'`),
      needsAttention: db.prepare(`${NEEDS_ATTENTION} ORDER BY rv.finished_at, rv.run_id`),
      needsAttentionOf: db.prepare(`${NEEDS_ATTENTION} AND rv.host_id = ? AND rv.vm = ? ORDER BY rv.finished_at, rv.run_id`),
      insertResolution: db.prepare(`INSERT INTO vm_resolutions (host_id, vm, runs, resolved_at, resolved_by, reason) VALUES (?, ?, ?, ?, ?, ?)`),
      hostsOfRunVm: db.prepare(`SELECT DISTINCT rv.host_id FROM run_vms rv WHERE rv.vm = ?`),
      snapshotOf: db.prepare(`SELECT s.*, h.name AS host FROM snapshots s JOIN hosts h ON h.id = s.host_id
        WHERE s.host_id = ? AND s.vm = ? AND s.name = ?`),
      activeRunCount: db.prepare(`SELECT count(*) AS n FROM runs WHERE state != 'finished'`),
    };
  }

  createRun(id: string, name: string, spec: RunSpec, vms: NewRunVm[], now: number): void {
    this.db.transaction(() => {
      this.stmts.insertRun.run(id, name, JSON.stringify(spec), now);
      for (const v of vms) this.stmts.insertVm.run(id, v.position, v.hostId, v.vm, v.canary ? 1 : 0, now);
    })();
  }

  getRun(id: string): RunRow | undefined {
    return this.stmts.getRun.get(id) as RunRow | undefined;
  }

  listRuns(limit: number): RunRow[] {
    return this.stmts.listRuns.all(limit) as RunRow[];
  }

  unfinishedRuns(): RunRow[] {
    return this.stmts.unfinishedRuns.all() as RunRow[];
  }

  activeRunCount(): number {
    return (this.stmts.activeRunCount.get() as { n: number }).n;
  }

  vms(runId: string): RunVmRow[] {
    return this.stmts.vms.all(runId) as RunVmRow[];
  }

  vm(runId: string, position: number): RunVmRow | undefined {
    return this.stmts.vm.get(runId, position) as RunVmRow | undefined;
  }

  /** Runs (not finished) in which this VM has no outcome yet. */
  openRunsOf(hostId: number, vm: string): string[] {
    return (this.stmts.openVmsOn.all(hostId, vm) as { run_id: string }[]).map((r) => r.run_id);
  }

  /** Records that a VM enters a phase; returns the new attempt number. */
  enterPhase(runId: string, position: number, phase: VmPhase, now: number): number {
    this.stmts.setPhase.run({ phase, now, runId, position });
    return this.vm(runId, position)!.attempt;
  }

  /** The phase's step that must not run twice, if one was picked: its id, and whether it may have been sent. */
  keptStep(runId: string, position: number): { id: string; sent: boolean } | null {
    const row = this.vm(runId, position);
    return row?.step_id ? { id: row.step_id, sent: row.step_sent === 1 } : null;
  }

  /** Keeps the id of the phase's step that must not run twice, before anything is sent (not sent yet). */
  keepStep(runId: string, position: number, stepId: string, now: number): void {
    this.stmts.keepStep.run(stepId, now, runId, position);
  }

  /** Marks the kept step as (possibly) sent; written just before its request goes out. */
  stepSent(runId: string, position: number, stepId: string, now: number): void {
    if (this.stmts.stepSent.run(now, runId, position, stepId).changes === 0) {
      throw new Error(`step ${stepId} is not the step kept for VM ${position} of run ${runId}`);
    }
  }

  setSnapshot(runId: string, position: number, snapshot: string | null, now: number): void {
    this.stmts.setSnapshot.run(snapshot, now, runId, position);
  }

  /** Why the VM is being rolled back, kept so a restarted controller can finish the rollback with it. */
  setReason(runId: string, position: number, reason: string, now: number): void {
    this.stmts.setReason.run(reason, now, runId, position);
  }

  /** Sets the outcome once; false when the VM already had one. */
  finishVm(runId: string, position: number, outcome: VmOutcome, reason: string | null, now: number): boolean {
    return this.stmts.finishVm.run(outcome, reason, now, now, runId, position).changes > 0;
  }

  /** Stops new VMs: the run goes `stopping` (first reason wins) and pending VMs are aborted with the reason. */
  halt(runId: string, reason: string, now: number): number {
    return this.db.transaction(() => {
      this.stmts.halt.run(reason, runId);
      return this.stmts.abortPending.run(`not started: ${reason}`, now, now, runId).changes;
    })();
  }

  finishRun(runId: string, now: number): boolean {
    return this.stmts.finishRun.run(now, runId).changes > 0;
  }

  addEvidence(e: NewEvidence): number {
    const output = e.output.length > EVIDENCE_OUTPUT_LIMIT ? `${e.output.slice(0, EVIDENCE_OUTPUT_LIMIT)}... [cut at ${EVIDENCE_OUTPUT_LIMIT} characters]` : e.output;
    return Number(this.stmts.insertEvidence.run(e.runId, e.time, e.vm, e.host, e.step, e.check, e.command, e.result, output,
      Math.round(e.durationMs * 10) / 10).lastInsertRowid);
  }

  evidence(runId: string, afterSeq = 0, limit = 100_000): EvidenceRow[] {
    return this.stmts.evidence.all(runId, afterSeq, limit) as EvidenceRow[];
  }

  recordSnapshot(runId: string, hostId: number, vm: string, name: string, now: number): void {
    this.stmts.insertSnapshot.run(runId, hostId, vm, name, now);
  }

  setSnapshotExpiry(hostId: number, vm: string, name: string, expiresAt: number): void {
    this.stmts.setSnapshotExpiry.run(expiresAt, hostId, vm, name);
  }

  markSnapshotDeleted(id: number, note: string, now: number): boolean {
    return this.stmts.markSnapshotDeleted.run(now, note, id).changes > 0;
  }

  noteSnapshot(id: number, note: string): void {
    this.stmts.noteSnapshot.run(note, id);
  }

  snapshots(includeDeleted: boolean): SnapshotRow[] {
    return this.stmts.snapshots.all(includeDeleted ? 1 : 0) as SnapshotRow[];
  }

  expiredSnapshots(now: number): SnapshotRow[] {
    return this.stmts.expiredSnapshots.all(now) as SnapshotRow[];
  }

  inMaintenance(): { run_id: string; host: string; vm: string }[] {
    return this.stmts.inMaintenance.all() as { run_id: string; host: string; vm: string }[];
  }

  needsAttention(): { run_id: string; host: string; vm: string }[] {
    return this.stmts.needsAttention.all() as { run_id: string; host: string; vm: string }[];
  }

  /** The runs that left this VM needing attention and still flag it, oldest first. */
  needsAttentionOf(hostId: number, vm: string): { run_id: string; host: string; vm: string }[] {
    return this.stmts.needsAttentionOf.all(hostId, vm) as { run_id: string; host: string; vm: string }[];
  }

  /** An operator's resolution: the VM no longer needs attention for what happened up to `now`. */
  recordResolution(hostId: number, vm: string, runIds: string[], by: string, reason: string, now: number): void {
    this.stmts.insertResolution.run(hostId, vm, JSON.stringify(runIds), now, by, reason);
  }

  /** Hosts on which a VM of this name was in some run. */
  hostsOfRunVm(vm: string): number[] {
    return (this.stmts.hostsOfRunVm.all(vm) as { host_id: number }[]).map((r) => r.host_id);
  }

  /** A snapshot nightshift took, deleted or not. */
  snapshotOf(hostId: number, vm: string, name: string): SnapshotRow | undefined {
    return this.stmts.snapshotOf.get(hostId, vm, name) as SnapshotRow | undefined;
  }
}
