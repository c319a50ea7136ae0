/**
 * Plans over the API: `plan week` builds a plan from a wave spec over every
 * machine in scope (machines.ts: set over the API, or reported from domain
 * metadata and agent config; buildWavePlan, waves.ts) and stores it as the current
 * plan, replacing a current plan that has not started; the records and the
 * cross-check read the store.
 */
import { PlanRequestSchema, type PlanCheckRecord, type PlanRecord } from "../../shared/plans.js";
import { CalendarDateSchema, WaveSpecError } from "../../shared/windows.js";
import type { Store } from "../store/index.js";
import type { PlanRow, SlotRow, UnplacedRow, WaveRow } from "../store/plans.js";
import { newRunId } from "../runs/engine.js";
import { patternError } from "../runs/output-match.js";
import { NOT_IN_INVENTORY, resolveMemberships } from "./machines.js";
import { PlanError } from "./plan-errors.js";
import { planRecord, storedPlan } from "./plan-records.js";
import { startOfLocalDay } from "./time-windows.js";
import { buildWavePlan, crossCheck, type Plan } from "./waves.js";

export interface PlanServiceOptions {
  store: Store;
  clock: () => number;
  /** A plan was created, replaced or changed state: the executor looks at it now. */
  onChange(): void;
}

function requestError(issues: { path: PropertyKey[]; message: string }[]): PlanError {
  const where = issues[0]?.path[0];
  const code = where === "spec" ? "NS_ERR_WAVE_SPEC" : where === "run" ? "NS_ERR_RUN_SPEC" : "NS_ERR_BAD_REQUEST";
  const text = issues.slice(0, 8).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
  return new PlanError(code, `invalid plan request: ${text}`);
}

/** A plan has started once a wave left `waiting` (or `blocked` before it ever ran) or a slot left `scheduled`. */
export function hasStarted(store: Store, planId: string): boolean {
  return store.plans.waves(planId).some((w) => w.state !== "waiting" && w.state !== "blocked")
    || [...store.plans.waveCounts(planId).values()].some((c) => c.total - c.scheduled - c.cancelled > 0);
}

export class PlanService {
  constructor(private readonly options: PlanServiceOptions) {}

  /** POST /v1/plans: the plan (stored unless a dry run) and whether it was stored. */
  create(body: unknown): { record: PlanRecord; stored: boolean } {
    const parsed = PlanRequestSchema.safeParse(body ?? {});
    if (!parsed.success) throw requestError(parsed.error.issues);
    const { spec, run, dryRun } = parsed.data;
    if (run.verify.outputPattern !== undefined) {
      const error = patternError(run.verify.outputPattern);
      if (error) throw new PlanError("NS_ERR_RUN_SPEC", `run verify outputPattern is not a valid regular expression: ${error}`);
    }
    const { store, clock } = this.options;
    const now = clock();
    const start = this.startOf(parsed.data.start, spec.timezone, now);

    const resolved = resolveMemberships(store);
    const machines = resolved.flatMap((r) => (r.resolution.machine ? [r.resolution.machine] : []));
    let plan: Plan;
    try {
      plan = buildWavePlan(spec, machines, { preferences: store.plans.preferences(), now, start });
    } catch (err) {
      if (err instanceof WaveSpecError || err instanceof RangeError) throw new PlanError("NS_ERR_WAVE_SPEC", err.message);
      throw err;
    }
    const unplaced = [
      ...plan.unplaced.map((u) => ({ machineId: u.machineId, name: u.name, group: u.group, wave: u.wave, reason: u.reason as string, detail: u.detail })),
      ...resolved.flatMap((r) => (r.resolution.problem === null ? [] : [{
        machineId: r.membership.id, name: r.membership.name, group: r.membership.group, wave: null, reason: NOT_IN_INVENTORY,
        detail: r.resolution.problem,
      }])),
    ];
    const waveIndex = new Map(plan.waves.map((w, i) => [w.name, i]));
    const id = dryRun ? "dry-run" : newRunId(new Date(now));
    const newPlan = {
      id, name: plan.name, spec, runTemplate: run, createdAt: now, weekStart: plan.weekStart,
      waves: plan.waves.map((w) => ({ name: w.name, start: w.start, end: w.end, failureBudget: w.failureBudget })),
      slots: plan.waves.flatMap((w) => w.slots).sort((a, b) => a.start - b.start || (a.machineId < b.machineId ? -1 : 1))
        .map((s) => ({ wave: waveIndex.get(s.wave)!, machineId: s.machineId, kind: s.kind, name: s.name, host: s.host, group: s.group,
          start: s.start, end: s.end })),
      unplaced,
    };
    if (dryRun) return { record: this.dryRunRecord(newPlan), stored: false };

    store.transaction(() => {
      const current = store.plans.current();
      if (current) {
        if (hasStarted(store, current.id)) {
          throw new PlanError("NS_ERR_PLAN_ACTIVE", `plan ${current.name} (${current.id}) is ${current.state} and has started: ` +
            `cancel it first (nightshift plan cancel)`);
        }
        store.plans.endPlan(current.id, "cancelled", now, `replaced by plan ${id}`);
      }
      store.plans.createPlan(newPlan);
    });
    this.options.onChange();
    return { record: this.record(id)!, stored: true };
  }

  record(id: string): PlanRecord | undefined {
    const plan = this.options.store.plans.plan(id);
    return plan ? planRecord(plan, ...this.parts(plan)) : undefined;
  }

  current(): PlanRecord {
    return this.record(this.currentRow().id)!;
  }

  currentRow(): PlanRow {
    const plan = this.options.store.plans.current();
    if (!plan) throw new PlanError("NS_ERR_NO_PLAN", "there is no current plan (make one with nightshift plan week --spec FILE)");
    return plan;
  }

  /** Every machine in scope now without exactly one slot in the current plan. */
  check(): PlanCheckRecord[] {
    const plan = this.currentRow();
    const inScope = resolveMemberships(this.options.store).map(({ membership: m }) => ({ id: m.id, name: m.name, group: m.group }));
    return crossCheck(storedPlan(plan, ...this.parts(plan)), inScope);
  }

  private parts(plan: PlanRow): [WaveRow[], SlotRow[], UnplacedRow[]] {
    const { store } = this.options;
    return [store.plans.waves(plan.id), store.plans.slots(plan.id), store.plans.unplaced(plan.id)];
  }

  private startOf(text: string | undefined, zone: string, now: number): number {
    if (text === undefined) return now;
    if (CalendarDateSchema.safeParse(text).success) return startOfLocalDay(zone, text);
    const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN;
    if (Number.isNaN(ms)) throw new PlanError("NS_ERR_BAD_REQUEST", `start=${text}: expected a date YYYY-MM-DD or an ISO time`);
    return ms;
  }

  private dryRunRecord(plan: Parameters<Store["plans"]["createPlan"]>[0]): PlanRecord {
    const row: PlanRow = {
      id: plan.id, name: plan.name, spec: "", run_template: "", state: "scheduled", paused_reason: null, created_at: plan.createdAt,
      week_start: plan.weekStart, finished_at: null, note: null,
    };
    const waves: WaveRow[] = plan.waves.map((w, i) => ({
      plan_id: plan.id, position: i, name: w.name, start_at: w.start, end_at: w.end,
      failure_budget: w.failureBudget === null ? null : JSON.stringify(w.failureBudget), state: "waiting", failures_accepted: 0,
    }));
    const slots: SlotRow[] = plan.slots.map((s, i) => ({
      id: i + 1, plan_id: plan.id, wave: s.wave, wave_name: plan.waves[s.wave]!.name, machine_id: s.machineId, kind: s.kind, name: s.name,
      host: s.host, grp: s.group, start_at: s.start, end_at: s.end, state: "scheduled", run_id: null, outcome: null,
      announced_at: null, reminded_at: null,
    }));
    const unplaced: UnplacedRow[] = plan.unplaced.map((u) => ({ plan_id: plan.id, machine_id: u.machineId, name: u.name, grp: u.group,
      wave: u.wave, reason: u.reason, detail: u.detail }));
    return planRecord(row, waves, slots, unplaced);
  }
}
