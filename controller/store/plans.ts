/**
 * Maintenance windows and wave plans in the store: one preference per group,
 * machine memberships set over the API (group, roles, tested, HA groups,
 * estimated minutes; those the agents report are on domains and hosts),
 * and plans with their waves, slots and unplaced machines. The plan executor
 * works only from these rows, so a restarted controller carries on where the
 * last one stopped: a slot's state, run id, outcome and notification times
 * are written as they change.
 */
import type { Db } from "./db.js";
import type { MaintenancePreference } from "../../shared/windows.js";
import type { MachineRecord, PlanState, SlotState, WaveRecord } from "../../shared/plans.js";

export interface MembershipRow {
  id: string;
  kind: "vm" | "host";
  name: string;
  host: string;
  grp: string;
  roles: string;
  tested: number;
  ha_groups: string;
  estimated_minutes: number;
  updated_at: number;
}

/** A membership as the API shows it (GET /v1/machines) is what is written; the table holds the "cli" ones. */
export type NewMembership = Omit<MachineRecord, "source">;

export interface PlanRow {
  id: string;
  name: string;
  spec: string;
  run_template: string;
  state: PlanState;
  paused_reason: string | null;
  created_at: number;
  week_start: number;
  finished_at: number | null;
  /** Why it ended when that is not its own doing (replaced by another plan). */
  note: string | null;
}

export type WaveState = WaveRecord["state"];

export interface WaveRow {
  plan_id: string;
  position: number;
  name: string;
  start_at: number;
  end_at: number;
  failure_budget: string | null;
  state: WaveState;
  failures_accepted: number;
}

export interface SlotRow {
  id: number;
  plan_id: string;
  wave: number;
  wave_name: string;
  machine_id: string;
  kind: "vm" | "host";
  name: string;
  host: string;
  grp: string;
  start_at: number;
  end_at: number;
  state: SlotState;
  run_id: string | null;
  outcome: string | null;
  announced_at: number | null;
  reminded_at: number | null;
}

export interface UnplacedRow {
  plan_id: string;
  machine_id: string;
  name: string;
  grp: string;
  wave: string | null;
  reason: string;
  detail: string;
}

/** Slot counts of one wave, counted by SQLite so a tick never reads every slot of a large plan. */
export interface WaveCounts {
  wave: number;
  total: number;
  scheduled: number;
  running: number;
  failed: number;
  cancelled: number;
  /** Start of the earliest slot not started yet, or null. */
  next_start: number | null;
}

export interface NewPlan {
  id: string;
  name: string;
  spec: unknown;
  runTemplate: unknown;
  createdAt: number;
  weekStart: number;
  waves: { name: string; start: number; end: number; failureBudget: number | string | null }[];
  slots: { wave: number; machineId: string; kind: "vm" | "host"; name: string; host: string; group: string; start: number; end: number }[];
  unplaced: { machineId: string; name: string; group: string; wave: string | null; reason: string; detail: string }[];
}

const SLOT_COLUMNS = `s.id, s.plan_id, s.wave, w.name AS wave_name, s.machine_id, s.kind, s.name, s.host, s.grp, s.start_at, s.end_at,
  s.state, s.run_id, s.outcome, s.announced_at, s.reminded_at`;
const SLOT_FROM = "plan_slots s JOIN plan_waves w ON w.plan_id = s.plan_id AND w.position = s.wave";

export class PlanStore {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      upsertPreference: db.prepare(`INSERT INTO plan_preferences (grp, preference, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (grp) DO UPDATE SET preference = excluded.preference, updated_at = excluded.updated_at`),
      preference: db.prepare("SELECT preference FROM plan_preferences WHERE grp = ?").pluck(),
      preferences: db.prepare("SELECT preference FROM plan_preferences ORDER BY grp").pluck(),
      deletePreference: db.prepare("DELETE FROM plan_preferences WHERE grp = ?"),
      upsertMembership: db.prepare(`INSERT INTO plan_machines (id, kind, name, host, grp, roles, tested, ha_groups, estimated_minutes, updated_at)
        VALUES (@id, @kind, @name, @host, @group, @roles, @tested, @haGroups, @estimatedMinutes, @now)
        ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, host = excluded.host, grp = excluded.grp,
          roles = excluded.roles, tested = excluded.tested, ha_groups = excluded.ha_groups,
          estimated_minutes = excluded.estimated_minutes, updated_at = excluded.updated_at`),
      memberships: db.prepare("SELECT * FROM plan_machines ORDER BY grp, kind DESC, name, id"),
      membership: db.prepare("SELECT * FROM plan_machines WHERE id = ?"),
      membershipsNamed: db.prepare("SELECT * FROM plan_machines WHERE name = ? ORDER BY kind DESC, id"),
      deleteMembership: db.prepare("DELETE FROM plan_machines WHERE id = ?"),
      insertPlan: db.prepare(`INSERT INTO plans (id, name, spec, run_template, state, created_at, week_start)
        VALUES (?, ?, ?, ?, 'scheduled', ?, ?)`),
      insertWave: db.prepare(`INSERT INTO plan_waves (plan_id, position, name, start_at, end_at, failure_budget, state)
        VALUES (?, ?, ?, ?, ?, ?, 'waiting')`),
      insertSlot: db.prepare(`INSERT INTO plan_slots (plan_id, wave, machine_id, kind, name, host, grp, start_at, end_at, state)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'scheduled')`),
      insertUnplaced: db.prepare(`INSERT INTO plan_unplaced (plan_id, machine_id, name, grp, wave, reason, detail)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      plan: db.prepare("SELECT * FROM plans WHERE id = ?"),
      current: db.prepare(`SELECT * FROM plans WHERE state NOT IN ('cancelled', 'finished') ORDER BY created_at DESC, id DESC LIMIT 1`),
      waves: db.prepare("SELECT * FROM plan_waves WHERE plan_id = ? ORDER BY position"),
      slots: db.prepare(`SELECT ${SLOT_COLUMNS} FROM ${SLOT_FROM} WHERE s.plan_id = ? ORDER BY s.start_at, s.machine_id`),
      slot: db.prepare(`SELECT ${SLOT_COLUMNS} FROM ${SLOT_FROM} WHERE s.id = ?`),
      waveCounts: db.prepare(`SELECT wave, count(*) AS total, sum(state = 'scheduled') AS scheduled, sum(state = 'running') AS running,
        sum(state = 'failed') AS failed, sum(state = 'cancelled') AS cancelled, min(CASE WHEN state = 'scheduled' THEN start_at END) AS next_start
        FROM plan_slots WHERE plan_id = ? GROUP BY wave`),
      dueSlots: db.prepare(`SELECT ${SLOT_COLUMNS} FROM ${SLOT_FROM} WHERE s.plan_id = ? AND s.start_at <= ? AND s.state = 'scheduled'
        ORDER BY s.start_at, s.machine_id`),
      unannounced: db.prepare(`SELECT ${SLOT_COLUMNS} FROM ${SLOT_FROM} WHERE s.plan_id = ? AND s.announced_at IS NULL AND s.state = 'scheduled'
        ORDER BY s.start_at, s.machine_id`),
      startingWithin: db.prepare(`SELECT ${SLOT_COLUMNS} FROM ${SLOT_FROM} WHERE s.plan_id = ? AND s.start_at > ? AND s.start_at <= ?
        AND s.state = 'scheduled' AND s.reminded_at IS NULL ORDER BY s.start_at, s.machine_id`),
      failedSlots: db.prepare(`SELECT ${SLOT_COLUMNS} FROM ${SLOT_FROM} WHERE s.plan_id = ? AND s.wave = ? AND s.state = 'failed'
        ORDER BY s.start_at, s.machine_id LIMIT ?`),
      slotsOfRuns: db.prepare(`SELECT ${SLOT_COLUMNS} FROM ${SLOT_FROM} WHERE s.plan_id = ? AND s.run_id IS NOT NULL
        AND (s.run_id IN (SELECT value FROM json_each(?)) OR s.host || '/' || s.name IN (SELECT value FROM json_each(?)))
        ORDER BY s.start_at, s.machine_id`),
      countsByWaveState: db.prepare(`SELECT w.name AS wave, s.state, count(*) AS n FROM ${SLOT_FROM} WHERE s.plan_id = ?
        GROUP BY s.wave, s.state ORDER BY s.wave, s.state`),
      nextPerGroup: db.prepare(`SELECT grp, min(start_at) AS start_at FROM plan_slots WHERE plan_id = ? AND state = 'scheduled'
        GROUP BY grp ORDER BY grp`),
      unplacedByReason: db.prepare("SELECT reason, count(*) AS n FROM plan_unplaced WHERE plan_id = ? GROUP BY reason ORDER BY reason"),
      runningSlots: db.prepare(`SELECT ${SLOT_COLUMNS} FROM ${SLOT_FROM} WHERE s.state = 'running' ORDER BY s.id`),
      unplaced: db.prepare("SELECT * FROM plan_unplaced WHERE plan_id = ? ORDER BY grp, name, machine_id"),
      setPlanState: db.prepare("UPDATE plans SET state = ?, paused_reason = ? WHERE id = ?"),
      endPlan: db.prepare("UPDATE plans SET state = ?, paused_reason = NULL, finished_at = ?, note = coalesce(?, note) WHERE id = ?"),
      setWaveState: db.prepare("UPDATE plan_waves SET state = ? WHERE plan_id = ? AND position = ?"),
      acceptFailures: db.prepare("UPDATE plan_waves SET failures_accepted = ? WHERE plan_id = ? AND position = ?"),
      startSlot: db.prepare("UPDATE plan_slots SET state = 'running', run_id = ?, outcome = ? WHERE id = ? AND state = 'scheduled'"),
      finishSlot: db.prepare("UPDATE plan_slots SET state = ?, outcome = ? WHERE id = ? AND state IN ('scheduled', 'running')"),
      cancelSlots: db.prepare("UPDATE plan_slots SET state = 'cancelled', outcome = ? WHERE plan_id = ? AND state = 'scheduled'"),
      announce: db.prepare("UPDATE plan_slots SET announced_at = ? WHERE id = ?"),
      remind: db.prepare("UPDATE plan_slots SET reminded_at = ? WHERE id = ?"),
    };
  }

  // --- preferences ---

  setPreference(pref: MaintenancePreference, now: number): void {
    this.stmts.upsertPreference.run(pref.group, JSON.stringify(pref), now);
  }

  preference(group: string): MaintenancePreference | undefined {
    const text = this.stmts.preference.get(group) as string | undefined;
    return text === undefined ? undefined : (JSON.parse(text) as MaintenancePreference);
  }

  preferences(): MaintenancePreference[] {
    return (this.stmts.preferences.all() as string[]).map((text) => JSON.parse(text) as MaintenancePreference);
  }

  deletePreference(group: string): boolean {
    return this.stmts.deletePreference.run(group).changes > 0;
  }

  // --- memberships ---

  setMembership(m: NewMembership, now: number): void {
    this.stmts.upsertMembership.run({
      id: m.id, kind: m.kind, name: m.name, host: m.host, group: m.group, roles: JSON.stringify(m.roles), tested: m.tested ? 1 : 0,
      haGroups: JSON.stringify(m.haGroups), estimatedMinutes: m.estimatedMinutes, now,
    });
  }

  memberships(): MembershipRow[] {
    return this.stmts.memberships.all() as MembershipRow[];
  }

  membership(id: string): MembershipRow | undefined {
    return this.stmts.membership.get(id) as MembershipRow | undefined;
  }

  /** Memberships of machines with this name (VMs on several hosts, or a host and a VM sharing it). */
  membershipsNamed(name: string): MembershipRow[] {
    return this.stmts.membershipsNamed.all(name) as MembershipRow[];
  }

  deleteMembership(id: string): boolean {
    return this.stmts.deleteMembership.run(id).changes > 0;
  }

  // --- plans ---

  /** Writes a whole plan (scheduled, every wave waiting, every slot scheduled). Call inside a transaction with what it replaces. */
  createPlan(plan: NewPlan): void {
    this.stmts.insertPlan.run(plan.id, plan.name, JSON.stringify(plan.spec), JSON.stringify(plan.runTemplate), plan.createdAt, plan.weekStart);
    plan.waves.forEach((w, i) => this.stmts.insertWave.run(plan.id, i, w.name, w.start, w.end,
      w.failureBudget === null ? null : JSON.stringify(w.failureBudget)));
    for (const s of plan.slots) {
      this.stmts.insertSlot.run(plan.id, s.wave, s.machineId, s.kind, s.name, s.host, s.group, s.start, s.end);
    }
    for (const u of plan.unplaced) this.stmts.insertUnplaced.run(plan.id, u.machineId, u.name, u.group, u.wave, u.reason, u.detail);
  }

  plan(id: string): PlanRow | undefined {
    return this.stmts.plan.get(id) as PlanRow | undefined;
  }

  /** The newest plan that is neither cancelled nor finished. */
  current(): PlanRow | undefined {
    return this.stmts.current.get() as PlanRow | undefined;
  }

  waves(planId: string): WaveRow[] {
    return this.stmts.waves.all(planId) as WaveRow[];
  }

  slots(planId: string): SlotRow[] {
    return this.stmts.slots.all(planId) as SlotRow[];
  }

  slot(id: number): SlotRow | undefined {
    return this.stmts.slot.get(id) as SlotRow | undefined;
  }

  waveCounts(planId: string): Map<number, WaveCounts> {
    return new Map((this.stmts.waveCounts.all(planId) as WaveCounts[]).map((c) => [c.wave, c]));
  }

  /** Slots not started whose start is at or before `now`. */
  dueSlots(planId: string, now: number): SlotRow[] {
    return this.stmts.dueSlots.all(planId, now) as SlotRow[];
  }

  /** Slots not started that were never announced. */
  unannounced(planId: string): SlotRow[] {
    return this.stmts.unannounced.all(planId) as SlotRow[];
  }

  /** Slots not started and not reminded of, starting in (from, to]. */
  startingWithin(planId: string, from: number, to: number): SlotRow[] {
    return this.stmts.startingWithin.all(planId, from, to) as SlotRow[];
  }

  failedSlots(planId: string, wave: number, limit: number): SlotRow[] {
    return this.stmts.failedSlots.all(planId, wave, limit) as SlotRow[];
  }

  /** Slots whose run is one of `runIds`, or whose machine is one of `vms` (HOST/VM) and that had a run. */
  slotsOfRuns(planId: string, runIds: readonly string[], vms: readonly string[]): SlotRow[] {
    return this.stmts.slotsOfRuns.all(planId, JSON.stringify(runIds), JSON.stringify(vms)) as SlotRow[];
  }

  /** For metrics: slots per wave name and state. */
  countsByWaveState(planId: string): { wave: string; state: string; n: number }[] {
    return this.stmts.countsByWaveState.all(planId) as { wave: string; state: string; n: number }[];
  }

  /** For metrics: each group's earliest slot not started yet. */
  nextPerGroup(planId: string): { grp: string; start_at: number }[] {
    return this.stmts.nextPerGroup.all(planId) as { grp: string; start_at: number }[];
  }

  unplacedByReason(planId: string): { reason: string; n: number }[] {
    return this.stmts.unplacedByReason.all(planId) as { reason: string; n: number }[];
  }

  /** Slots whose run is under way, in any plan (a cancelled plan's runs still get their outcome recorded). */
  runningSlots(): SlotRow[] {
    return this.stmts.runningSlots.all() as SlotRow[];
  }

  unplaced(planId: string): UnplacedRow[] {
    return this.stmts.unplaced.all(planId) as UnplacedRow[];
  }

  setPlanState(planId: string, state: "scheduled" | "running" | "paused", pausedReason: string | null = null): void {
    this.stmts.setPlanState.run(state, pausedReason, planId);
  }

  /** Finishes or cancels a plan; cancelling also cancels its slots not started yet. */
  endPlan(planId: string, state: "cancelled" | "finished", now: number, note: string | null = null): void {
    this.db.transaction(() => {
      this.stmts.endPlan.run(state, now, note, planId);
      if (state === "cancelled") this.stmts.cancelSlots.run(note ?? "plan cancelled", planId);
    })();
  }

  setWaveState(planId: string, position: number, state: WaveState): void {
    this.stmts.setWaveState.run(state, planId, position);
  }

  acceptFailures(planId: string, position: number, failures: number): void {
    this.stmts.acceptFailures.run(failures, planId, position);
  }

  /** scheduled -> running; false when the slot was not scheduled any more. */
  startSlot(slotId: number, runId: string | null, outcome: string | null = null): boolean {
    return this.stmts.startSlot.run(runId, outcome, slotId).changes > 0;
  }

  /** Records a slot's end (done, failed, skipped); false when it had ended already. */
  finishSlot(slotId: number, state: "done" | "failed" | "skipped", outcome: string): boolean {
    return this.stmts.finishSlot.run(state, outcome, slotId).changes > 0;
  }

  markAnnounced(slotIds: readonly number[], now: number): void {
    this.db.transaction(() => { for (const id of slotIds) this.stmts.announce.run(now, id); })();
  }

  markReminded(slotIds: readonly number[], now: number): void {
    this.db.transaction(() => { for (const id of slotIds) this.stmts.remind.run(now, id); })();
  }
}
