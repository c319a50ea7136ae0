/**
 * Executes the current plan. Every `plans.tick` (and right after a
 * plan changes) one tick, all from the store, so a restarted controller goes
 * on where the last one stopped:
 *
 * 1. Slots under way: a VM slot's run that finished gives the slot its outcome
 *    (succeeded -> done; rolled-back, needs-attention, aborted -> failed;
 *    skipped -> skipped); a host slot is done when its time is over.
 * 2. Notifications: slots not announced yet are announced per group
 *    (`slots-assigned`); `plans.reminder` before a slot its group gets a
 *    `slot-reminder`, unless the announcement itself came that late.
 * 3. Unless the plan is paused: the pause rules, then the waves in order. A
 *    wave starts (running) when its first slot's time comes and every earlier
 *    wave is done. Each slot whose start has come starts: a VM slot as a
 *    maintenance run of that VM (the plan's run template, canary 0), a host
 *    slot (hypervisor, router, storage server) is not patched by nightshift: it
 *    is marked running with outcome `manual` for its time, then done — the
 *    operator does the work in that window. A slot whose end passed before it
 *    could start (plan paused, controller down) is skipped as `missed`. A wave
 *    is done when all its slots are; the plan is finished when all waves are.
 *
 * Pause rules, checked before anything starts: a VM of this plan that needs
 * attention (store.runs.needsAttention(): until a later run on it succeeds or
 * rolls back, or an operator resolves it: nightshift vm resolve), or a wave whose failed slots reached its failure budget (a
 * count, or a percentage of the wave's slots rounded up; default 1), pauses
 * the plan with the reason; runs in flight go on. `resume` is refused while a
 * VM still needs attention, and accepts the failures so far: the budget then
 * counts failures beyond them. `cancel` cancels every slot not started.
 */
import { failureBudget, type VmOutcome } from "../../shared/runs.js";
import type { PlanRecord } from "../../shared/plans.js";
import type { Logger } from "../../shared/logging.js";
import type { Store } from "../store/index.js";
import type { PlanRow, SlotRow } from "../store/plans.js";
import type { RunEngine } from "../runs/engine.js";
import { RunRequestError } from "../runs/plan.js";
import { isoMinute } from "./scheduler.js";
import { PlanError } from "./plan-errors.js";
import { failureBudgetOf } from "./plan-records.js";
import { localTime, type PlanNotifier, type PlanSlotNotice } from "./plan-notifier.js";
import { hasStarted, type PlanService } from "./plan-service.js";

export interface PlanExecutorOptions {
  store: Store;
  engine: RunEngine;
  notifier: PlanNotifier;
  service: PlanService;
  clock: () => number;
  tickMs: number;
  reminderMs: number;
  log: Logger;
}

const SLOT_OF_OUTCOME: Record<VmOutcome, "done" | "failed" | "skipped"> = {
  "succeeded": "done", "rolled-back": "failed", "needs-attention": "failed", "aborted": "failed", "skipped": "skipped",
};

/** The run of a slot is named after it, so a restarted controller recognises a run it started just before it died. */
const runMarker = (plan: PlanRow, slot: SlotRow) => `plan ${plan.id} slot ${slot.id}:`;

export class PlanExecutor {
  private timer: NodeJS.Timeout | null = null;
  private kicked = false;
  private ticking = false;

  constructor(private readonly options: PlanExecutorOptions) {}

  start(): void {
    this.timer = setInterval(() => this.safeTick(), this.options.tickMs);
    this.timer.unref();
    this.kick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A tick soon (after the current request): a plan was created or changed. */
  kick(): void {
    if (this.kicked) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      if (this.timer) this.safeTick();
    });
  }

  private safeTick(): void {
    try {
      this.tick();
    } catch (err) {
      this.options.log.error({ err }, "plan tick failed");
    }
  }

  tick(): void {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.options.clock();
      this.collectOutcomes(now);
      const plan = this.options.store.plans.current();
      if (!plan) return;
      this.closeWaves(plan);
      this.announce(plan, now);
      if (plan.state === "paused") return;
      this.remind(plan, now);
      const reason = this.pauseReason(plan);
      if (reason) {
        this.pause(plan, reason);
        return;
      }
      this.advance(plan, now);
    } finally {
      this.ticking = false;
    }
  }

  // --- operator actions ---

  pauseCurrent(): PlanRecord {
    const plan = this.options.service.currentRow();
    if (plan.state !== "paused") this.pause(plan, "paused by the operator");
    return this.options.service.record(plan.id)!;
  }

  resumeCurrent(): PlanRecord {
    const { store, service, log } = this.options;
    const plan = service.currentRow();
    if (plan.state !== "paused") return service.record(plan.id)!;
    const attention = this.needingAttention(plan);
    if (attention) {
      store.plans.setPlanState(plan.id, "paused", attention);
      throw new PlanError("NS_ERR_PLAN_BLOCKED", `plan ${plan.name} stays paused: ${attention}`);
    }
    const counts = store.plans.waveCounts(plan.id);
    const started = hasStarted(store, plan.id);
    store.transaction(() => {
      for (const w of store.plans.waves(plan.id)) {
        const c = counts.get(w.position);
        store.plans.acceptFailures(plan.id, w.position, c?.failed ?? 0);
        if (w.state === "blocked") store.plans.setWaveState(plan.id, w.position, c && c.total > c.scheduled ? "running" : "waiting");
      }
      store.plans.setPlanState(plan.id, started ? "running" : "scheduled");
    });
    log.info({ plan: plan.id, was: plan.paused_reason }, "plan resumed");
    this.kick();
    return service.record(plan.id)!;
  }

  cancelCurrent(): PlanRecord {
    const { store, service, clock, log } = this.options;
    const plan = service.currentRow();
    store.plans.endPlan(plan.id, "cancelled", clock(), "cancelled by the operator");
    log.info({ plan: plan.id }, "plan cancelled");
    return service.record(plan.id)!;
  }

  // --- the tick's parts ---

  private collectOutcomes(now: number): void {
    const { store, log } = this.options;
    for (const slot of store.plans.runningSlots()) {
      if (slot.kind === "host") {
        if (now >= slot.end_at) store.plans.finishSlot(slot.id, "done", "manual");
        continue;
      }
      const run = slot.run_id ? store.runs.getRun(slot.run_id) : undefined;
      if (!run || run.state !== "finished") continue;
      const vm = store.runs.vms(run.id)[0];
      const outcome: VmOutcome = vm?.outcome ?? "aborted";
      const state = SLOT_OF_OUTCOME[outcome];
      store.plans.finishSlot(slot.id, state, vm?.reason ? `${outcome}: ${vm.reason}` : outcome);
      log.info({ plan: slot.plan_id, slot: slot.id, vm: slot.name, run: run.id, outcome }, "plan slot finished");
    }
  }

  /** A running wave whose slots all ended is done, paused or not. */
  private closeWaves(plan: PlanRow): void {
    const { store, log } = this.options;
    const counts = store.plans.waveCounts(plan.id);
    for (const w of store.plans.waves(plan.id)) {
      const c = counts.get(w.position);
      if (w.state === "running" && (!c || c.scheduled + c.running === 0)) {
        store.plans.setWaveState(plan.id, w.position, "done");
        log.info({ plan: plan.id, wave: w.name }, "wave done");
      }
    }
  }

  private notice(slot: SlotRow, zone: string | null): PlanSlotNotice {
    return {
      id: slot.id, machineId: slot.machine_id, name: slot.name, kind: slot.kind, host: slot.host, wave: slot.wave_name,
      start: new Date(slot.start_at).toISOString(), end: new Date(slot.end_at).toISOString(),
      localStart: zone ? localTime(zone, slot.start_at) : null, localEnd: zone ? localTime(zone, slot.end_at) : null,
    };
  }

  private sendPerGroup(plan: PlanRow, event: "slots-assigned" | "slot-reminder", slots: SlotRow[], now: number): void {
    const byGroup = new Map<string, SlotRow[]>();
    for (const s of slots) {
      const list = byGroup.get(s.grp);
      if (list) list.push(s);
      else byGroup.set(s.grp, [s]);
    }
    for (const [group, own] of byGroup) {
      const zone = this.options.store.plans.preference(group)?.timezone ?? null;
      this.options.notifier.notify({
        event, time: new Date(now).toISOString(), plan: { id: plan.id, name: plan.name }, group, timezone: zone,
        slots: own.map((s) => this.notice(s, zone)),
      });
    }
  }

  private announce(plan: PlanRow, now: number): void {
    const fresh = this.options.store.plans.unannounced(plan.id);
    if (fresh.length === 0) return;
    this.options.store.plans.markAnnounced(fresh.map((s) => s.id), now);
    this.sendPerGroup(plan, "slots-assigned", fresh, now);
  }

  private remind(plan: PlanRow, now: number): void {
    const { store, reminderMs } = this.options;
    if (reminderMs <= 0) return;
    const due = store.plans.startingWithin(plan.id, now, now + reminderMs);
    if (due.length === 0) return;
    store.plans.markReminded(due.map((s) => s.id), now);
    // An announcement that came within the reminder period was reminder enough.
    const send = due.filter((s) => s.announced_at !== null && s.announced_at < s.start_at - reminderMs);
    if (send.length > 0) this.sendPerGroup(plan, "slot-reminder", send, now);
  }

  /**
   * A VM of this plan (a slot that had a run) that needs attention, as the
   * reason to pause; null when none does. Flagged by the slot's own run, or by
   * any later run on the same VM that left it needing attention.
   */
  private needingAttention(plan: PlanRow): string | null {
    const { store } = this.options;
    const flagged = store.runs.needsAttention();
    if (flagged.length === 0) return null;
    const slot = store.plans.slotsOfRuns(plan.id, flagged.map((r) => r.run_id), flagged.map((r) => `${r.host}/${r.vm}`))[0];
    if (!slot) return null;
    const hit = flagged.find((r) => r.run_id === slot.run_id) ?? flagged.find((r) => `${r.host}/${r.vm}` === `${slot.host}/${slot.name}`)!;
    return `${hit.host}/${hit.vm} (wave ${slot.wave_name}, run ${hit.run_id}) needs attention: ` +
      `a later run on it that succeeds or rolls back resolves it, as does nightshift vm resolve ${hit.host}/${hit.vm} --reason TEXT ` +
      "once it is repaired; or cancel the plan";
  }

  private pauseReason(plan: PlanRow): string | null {
    const attention = this.needingAttention(plan);
    if (attention) return attention;
    const counts = this.options.store.plans.waveCounts(plan.id);
    for (const w of this.options.store.plans.waves(plan.id)) {
      const c = counts.get(w.position);
      if (!c) continue;
      const budget = failureBudget(failureBudgetOf(w) ?? 1, c.total);
      if (c.failed - w.failures_accepted >= budget) {
        const failed = this.options.store.plans.failedSlots(plan.id, w.position, 5);
        return `failure budget of wave ${w.name} spent: ${c.failed} of ${c.total} slot(s) failed ` +
          `(budget ${failureBudgetOf(w) ?? "1 (default)"}${w.failures_accepted ? `, ${w.failures_accepted} accepted by a resume` : ""}): ` +
          failed.map((s) => `${s.name} ${s.outcome ?? ""}`.trim()).join("; ");
      }
    }
    return null;
  }

  private pause(plan: PlanRow, reason: string): void {
    const { store, log, notifier, clock } = this.options;
    const counts = store.plans.waveCounts(plan.id);
    // The wave the pause holds back: the first one not done that still has slots to start.
    const held = store.plans.waves(plan.id).find((w) => {
      const c = counts.get(w.position);
      return w.state !== "done" && (!c || c.scheduled > 0);
    });
    store.transaction(() => {
      store.plans.setPlanState(plan.id, "paused", reason);
      if (held) store.plans.setWaveState(plan.id, held.position, "blocked");
    });
    log.warn({ plan: plan.id, reason, wave: held?.name }, "plan paused");
    notifier.notify({ event: "plan-paused", time: new Date(clock()).toISOString(), plan: { id: plan.id, name: plan.name }, reason });
  }

  private advance(plan: PlanRow, now: number): void {
    const { store, log } = this.options;
    const waves = store.plans.waves(plan.id);
    let counts = store.plans.waveCounts(plan.id);
    let allDone = true;
    for (const w of waves) {
      if (w.state === "done") continue;
      const c = counts.get(w.position);
      if (w.state !== "running") {
        const due = !c ? now >= w.start_at : c.next_start !== null && c.next_start <= now;
        const earlierOpen = waves.some((e) => e.position < w.position && e.state !== "done");
        if (!due || earlierOpen) {
          allDone = false;
          break;
        }
        store.plans.setWaveState(plan.id, w.position, "running");
        if (plan.state !== "running") store.plans.setPlanState(plan.id, "running");
        log.info({ plan: plan.id, wave: w.name, slots: c?.total ?? 0 }, "wave started");
      }
      if (c && c.next_start !== null && c.next_start <= now) {
        for (const slot of store.plans.dueSlots(plan.id, now)) {
          if (slot.wave !== w.position) continue;
          if (now >= slot.end_at) {
            store.plans.finishSlot(slot.id, "skipped", `missed: the slot ended (${isoMinute(slot.end_at)}) before it could start`);
          } else {
            this.startSlot(plan, slot);
          }
        }
        counts = store.plans.waveCounts(plan.id);
      }
      const after = counts.get(w.position);
      if (!after || after.scheduled + after.running === 0) {
        store.plans.setWaveState(plan.id, w.position, "done");
        w.state = "done";
        log.info({ plan: plan.id, wave: w.name }, "wave done");
        continue;
      }
      allDone = false;
      break;
    }
    if (allDone) {
      store.plans.endPlan(plan.id, "finished", now);
      log.info({ plan: plan.id }, "plan finished");
    }
  }

  private startSlot(plan: PlanRow, slot: SlotRow): void {
    const { store, engine, log } = this.options;
    if (slot.kind === "host") {
      store.plans.startSlot(slot.id, null, "manual");
      log.info({ plan: plan.id, slot: slot.id, host: slot.name }, "host slot open: the operator does the work in it (manual)");
      return;
    }
    const marker = runMarker(plan, slot);
    const hosts = store.domains.findByName(slot.name);
    const target = hosts.find((h) => h.host === slot.host) ?? (hosts.length === 1 ? hosts[0] : undefined);
    if (!target) {
      const why = hosts.length === 0 ? "it is not in the inventory" : `it is on several hosts (${hosts.map((h) => h.host).join(", ")}), none of them ${slot.host}`;
      store.plans.finishSlot(slot.id, "failed", `not-started: VM ${slot.name}: ${why}`);
      return;
    }
    const busy = store.runs.openRunsOf(target.host_id, target.name);
    const own = busy.find((id) => store.runs.getRun(id)?.name.startsWith(marker));
    if (own) {
      store.plans.startSlot(slot.id, own);
      return;
    }
    if (busy.length > 0) return; // in an operator's run: tried again next tick, until the slot is over
    const template = JSON.parse(plan.run_template) as Record<string, unknown>;
    const label = `${plan.name}/${slot.wave_name}${typeof template.name === "string" ? ` ${template.name}` : ""}`;
    try {
      const spec = { ...template, name: `${marker} ${label}`.slice(0, 200), vms: [`${target.host}/${target.name}`], canary: 0 };
      const result = engine.start(spec, false);
      if ("run" in result) {
        store.plans.startSlot(slot.id, result.run.id);
        log.info({ plan: plan.id, slot: slot.id, vm: `${target.host}/${target.name}`, run: result.run.id }, "plan slot started");
      }
    } catch (err) {
      if (!(err instanceof RunRequestError)) throw err;
      store.plans.finishSlot(slot.id, "failed", `not-started: ${err.message}`);
      log.warn({ plan: plan.id, slot: slot.id, vm: slot.name, err: err.message }, "plan slot could not start its run");
    }
  }
}
