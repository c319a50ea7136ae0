/** Store rows of plans to the API's record shapes (shared/plans.ts), and back to a Plan for the cross-check. */
import type { PlanRecord, SlotRecord, UnplacedRecord, WaveRecord, WindowsRecord } from "../../shared/plans.js";
import type { MaintenancePreference } from "../../shared/windows.js";
import type { PlanRow, SlotRow, UnplacedRow, WaveRow } from "../store/plans.js";
import type { Plan, PlanUnplaced } from "./waves.js";
import { windowOccurrences } from "./time-windows.js";

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

export function slotRecord(s: SlotRow): SlotRecord {
  return {
    id: s.id, wave: s.wave_name, machineId: s.machine_id, name: s.name, kind: s.kind, host: s.host, group: s.grp,
    start: iso(s.start_at), end: iso(s.end_at), state: s.state, runId: s.run_id, outcome: s.outcome,
  };
}

export function failureBudgetOf(w: Pick<WaveRow, "failure_budget">): number | string | null {
  return w.failure_budget === null ? null : (JSON.parse(w.failure_budget) as number | string);
}

export function waveRecord(w: WaveRow, slots: number): WaveRecord {
  return { name: w.name, start: iso(w.start_at), end: iso(w.end_at), state: w.state, failureBudget: failureBudgetOf(w), slots };
}

export function unplacedRecord(u: UnplacedRow): UnplacedRecord {
  return { machineId: u.machine_id, name: u.name, group: u.grp, wave: u.wave, reason: u.reason, detail: u.detail };
}

export function planRecord(plan: PlanRow, waves: WaveRow[], slots: SlotRow[], unplaced: UnplacedRow[]): PlanRecord {
  const perWave = new Map<number, number>();
  for (const s of slots) perWave.set(s.wave, (perWave.get(s.wave) ?? 0) + 1);
  return {
    id: plan.id, name: plan.name, state: plan.state, pausedReason: plan.paused_reason, createdAt: iso(plan.created_at),
    weekStart: iso(plan.week_start), waves: waves.map((w) => waveRecord(w, perWave.get(w.position) ?? 0)),
    slots: slots.map(slotRecord), unplaced: unplaced.map(unplacedRecord),
  };
}

/** The stored plan as the planner's Plan, for crossCheck. */
export function storedPlan(plan: PlanRow, waves: WaveRow[], slots: SlotRow[], unplaced: UnplacedRow[]): Plan {
  return {
    name: plan.name, createdAt: plan.created_at, weekStart: plan.week_start,
    waves: waves.map((w) => {
      const own = slots.filter((s) => s.wave === w.position);
      return {
        name: w.name, start: w.start_at, end: w.end_at, failureBudget: failureBudgetOf(w), maxParallel: null,
        machineIds: own.map((s) => s.machine_id),
        slots: own.map((s) => ({
          requestId: s.machine_id, machineId: s.machine_id, name: s.name, kind: s.kind, host: s.host, group: s.grp,
          start: s.start_at, end: s.end_at, window: { start: s.start_at, end: s.end_at }, wave: w.name,
        })),
      };
    }),
    // Reasons the controller adds (not-in-inventory) are not among the planner's own.
    unplaced: unplaced.map((u) => ({
      requestId: u.machine_id, machineId: u.machine_id, name: u.name, group: u.grp, wave: u.wave,
      reason: u.reason as PlanUnplaced["reason"], detail: u.detail,
    })),
  };
}

/** GET /v1/windows entries: the preference, its next open window from `now` (within 60 days) and its machine count. */
export function windowsRecord(pref: MaintenancePreference, now: number, machines: number): WindowsRecord {
  const next = windowOccurrences(pref, now, now + 60 * DAY)[0];
  return { ...pref, nextWindowStart: next ? iso(next.start) : null, nextWindowEnd: next ? iso(next.end) : null, machines };
}
