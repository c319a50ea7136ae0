/**
 * The run engine: starts runs, decides which VM goes next, applies the run's
 * rules, and resumes unfinished runs when the controller starts.
 *
 * Rules, checked every time a VM finishes:
 * - canaries (the first `canary` VMs) go strictly one at a time, before any
 *   other VM; a canary that rolls back or needs attention halts the run;
 * - a VM that needs attention halts the run;
 * - once the failure budget is spent (rolled back + needs attention), no new
 *   VM starts;
 * - otherwise VMs start in order, up to maxParallel at once and
 *   maxParallelPerHost per host.
 * Halting (and `abort`) marks every VM not yet started `aborted`; VMs in flight
 * go on to their own end (succeed or roll back). A run is finished when every
 * VM has an outcome.
 */
import { newRunId } from "../../shared/ids.js";
import type { Logger } from "../../shared/logging.js";
import { failureBudget, RunSpecSchema, type RunDetail, type RunPlan, type RunSpec, type VmOutcome } from "../../shared/runs.js";
import type { Store } from "../store/index.js";
import type { RunVmRow } from "../store/runs.js";
import type { AgentCalls } from "../hub/agent-calls.js";
import { VmProcedure } from "./vm-procedure.js";
import { buildRunPlan, defaultRunName, resolveTargets, RunRequestError } from "./plan.js";
import { runDetail, runRecord } from "./records.js";
import type { RunTimeouts } from "./timeouts.js";
import type { RunNotifier } from "./notifier.js";

export interface RunEngineOptions {
  store: Store;
  calls: AgentCalls;
  notifier: RunNotifier;
  timeouts: RunTimeouts;
  log: Logger;
  /** Whether the host has a connected agent now (the hub's view). */
  isConnected(hostId: number): boolean;
}

export interface StartOptions {
  /** Start even when a target's host has no connected agent: its steps wait for it (runs.agentLostTimeout). */
  waitForAgent?: boolean;
}

const FAILED: ReadonlySet<VmOutcome> = new Set(["rolled-back", "needs-attention"]);

/** Run ids are made in shared/ids.ts, next to the pattern agents check them against. */
export { newRunId };

export class RunEngine {
  /** Per run: the VMs whose procedure runs in this process, by position. */
  private readonly flying = new Map<string, Map<number, RunVmRow>>();
  private readonly specs = new Map<string, RunSpec>();
  private stopped = false;

  constructor(private readonly options: RunEngineOptions) {}

  start(input: unknown, dryRun: boolean, startOptions: StartOptions = {}): { run: RunDetail } | { plan: RunPlan } {
    const parsed = RunSpecSchema.safeParse(input);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 8).map((i) => `${i.path.join(".") || "(spec)"}: ${i.message}`);
      throw new RunRequestError("NS_ERR_RUN_SPEC", `invalid run: ${issues.join("; ")}`);
    }
    const spec = parsed.data;
    const { store, log, notifier } = this.options;
    const targets = resolveTargets(store, spec);
    const name = defaultRunName(spec);
    if (dryRun) return { plan: buildRunPlan(name, spec, targets) };
    const disconnected = [...new Set(targets.filter((t) => !this.options.isConnected(t.hostId)).map((t) => t.host))];
    if (disconnected.length > 0 && !startOptions.waitForAgent) {
      // Every step would wait runs.agentLostTimeout for the agent and then leave the VM as it was: say so now.
      throw new RunRequestError("NS_ERR_HOST_DISCONNECTED", `no agent is connected for host${disconnected.length > 1 ? "s" : ""} ` +
        `${disconnected.join(", ")} (see nightshift hosts): bring the agent back, or start anyway with --wait-for-agent ` +
        `(API: "waitForAgent": true) and its steps wait up to ${this.options.timeouts.agentLostMs / 1000} s for it`);
    }

    const id = newRunId();
    const now = Date.now();
    const plan = buildRunPlan(name, spec, targets);
    store.transaction(() => {
      store.runs.createRun(id, name, spec, targets.map((t) => ({ position: t.position, hostId: t.hostId, vm: t.vm, canary: t.canary })), now);
      this.runNote(id, "start", "INFO", `${targets.length} VM(s): ${targets.map((t) => `${t.host}/${t.vm}`).join(", ")}\n` +
        `rules: ${plan.rules.join("; ")}`, name);
      if (disconnected.length > 0) {
        this.runNote(id, "start", "WARN", `host(s) ${disconnected.join(", ")} not connected at start; their VMs' steps wait for the agent ` +
          `up to ${this.options.timeouts.agentLostMs / 1000} s (started with waitForAgent)`, name);
      }
    });
    log.info({ run: id, name, vms: targets.length }, "maintenance run started");
    notifier.notify({ event: "run-started", time: new Date(now).toISOString(), run: { id, name } });
    this.specs.set(id, spec);
    this.schedule(id);
    return { run: this.detail(id)! };
  }

  detail(id: string): RunDetail | undefined {
    const run = this.options.store.runs.getRun(id);
    return run ? runDetail(run, this.options.store.runs.vms(id)) : undefined;
  }

  /** Stops new VMs; in-flight VMs finish or roll back. */
  abort(id: string): boolean {
    const run = this.options.store.runs.getRun(id);
    if (!run) return false;
    if (run.state !== "finished") {
      this.halt(id, "aborted by the operator");
      this.schedule(id);
    }
    return true;
  }

  /** Picks up every unfinished run: VMs that were mid-phase are re-examined first, then scheduling goes on. */
  resume(): void {
    const { store, log } = this.options;
    for (const run of store.runs.unfinishedRuns()) {
      const vms = store.runs.vms(run.id);
      const midway = vms.filter((v) => v.outcome === null && v.phase !== "pending");
      log.info({ run: run.id, state: run.state, midway: midway.map((v) => v.vm) }, "resuming maintenance run");
      this.runNote(run.id, "resume", "INFO", `controller started; resuming with ${midway.length} VM(s) mid-way` +
        `${midway.length ? `: ${midway.map((v) => `${v.vm} (${v.phase})`).join(", ")}` : ""}`);
      for (const v of midway) this.launch(run.id, v);
      this.schedule(run.id);
    }
  }

  /** Stops starting work; procedures in flight are abandoned where they are and resumed at the next start. */
  stop(): void {
    this.stopped = true;
  }

  private spec(runId: string): RunSpec {
    let spec = this.specs.get(runId);
    if (!spec) {
      spec = RunSpecSchema.parse(JSON.parse(this.options.store.runs.getRun(runId)!.spec));
      this.specs.set(runId, spec);
    }
    return spec;
  }

  private flyingIn(runId: string): Map<number, RunVmRow> {
    let flying = this.flying.get(runId);
    if (!flying) {
      flying = new Map();
      this.flying.set(runId, flying);
    }
    return flying;
  }

  private schedule(runId: string): void {
    if (this.stopped) return;
    const { store } = this.options;
    const run = store.runs.getRun(runId);
    if (!run || run.state === "finished") return;
    const spec = this.spec(runId);
    const vms = store.runs.vms(runId);
    const flying = this.flyingIn(runId);

    if (run.state === "running") {
      const pending = vms.filter((v) => v.outcome === null && v.phase === "pending" && !flying.has(v.position));
      const openCanaries = vms.filter((v) => v.canary === 1 && v.outcome === null);
      if (openCanaries.length > 0) {
        const next = pending.find((v) => v.canary === 1);
        if (flying.size === 0 && next) this.launch(runId, next);
      } else {
        const perHost = new Map<number, number>();
        for (const v of flying.values()) perHost.set(v.host_id, (perHost.get(v.host_id) ?? 0) + 1);
        for (const v of pending) {
          if (flying.size >= spec.maxParallel) break;
          if ((perHost.get(v.host_id) ?? 0) >= spec.maxParallelPerHost) continue;
          perHost.set(v.host_id, (perHost.get(v.host_id) ?? 0) + 1);
          this.launch(runId, v);
        }
      }
    }
    if (flying.size === 0 && store.runs.vms(runId).every((v) => v.outcome !== null)) this.finishRun(runId);
  }

  private launch(runId: string, row: RunVmRow): void {
    const flying = this.flyingIn(runId);
    if (flying.has(row.position)) return;
    flying.set(row.position, row);
    const { store, calls, notifier, timeouts, log } = this.options;
    const run = store.runs.getRun(runId)!;
    const procedure = new VmProcedure({ store, calls, notifier, timeouts, log, runId, runName: run.name, spec: this.spec(runId) }, row);
    void procedure.drive()
      .then((outcome) => { if (!this.stopped) this.vmFinished(runId, row, outcome); })
      .catch((err: unknown) => log.error({ err, run: runId, vm: row.vm }, "maintenance procedure crashed"))
      .finally(() => {
        flying.delete(row.position);
        this.schedule(runId);
      });
  }

  private vmFinished(runId: string, row: RunVmRow, outcome: VmOutcome): void {
    const spec = this.spec(runId);
    const vms = this.options.store.runs.vms(runId);
    const failures = vms.filter((v) => v.outcome && FAILED.has(v.outcome)).length;
    const budget = failureBudget(spec.maxFailures, vms.length);
    if (row.canary === 1 && FAILED.has(outcome)) this.halt(runId, `canary ${row.vm} ${outcome}`);
    else if (outcome === "needs-attention") this.halt(runId, `${row.vm} needs attention`);
    else if (FAILED.has(outcome) && failures >= budget) {
      this.halt(runId, `failure budget spent: ${failures} of ${vms.length} VM(s) failed (max failures ${spec.maxFailures})`);
    }
  }

  private halt(runId: string, reason: string): void {
    const { store, log } = this.options;
    const run = store.runs.getRun(runId);
    if (!run || run.state === "finished") return;
    const aborted = store.transaction(() => {
      const n = store.runs.halt(runId, reason, Date.now());
      this.runNote(runId, "halt", "WARN", `${reason}: no new VM starts${n ? `; ${n} VM(s) not started are aborted` : ""}; VMs in flight finish or roll back`);
      return n;
    });
    log.warn({ run: runId, reason, aborted }, "maintenance run halted");
  }

  private finishRun(runId: string): void {
    const { store, log, notifier } = this.options;
    const now = Date.now();
    if (!store.runs.finishRun(runId, now)) return;
    const run = store.runs.getRun(runId)!;
    const record = runRecord(run, store.runs.vms(runId));
    const summary = Object.entries(record.counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(", ");
    this.runNote(runId, "finish", record.counts.succeeded === record.vmCount ? "PASS" : "FAIL",
      `${summary}${run.halt_reason ? `; halted: ${run.halt_reason}` : ""}`);
    log.info({ run: runId, counts: record.counts, haltReason: run.halt_reason }, "maintenance run finished");
    notifier.notify({
      event: "run-finished", time: new Date(now).toISOString(), run: { id: runId, name: run.name },
      summary: record.counts, haltReason: run.halt_reason,
    });
    this.flying.delete(runId);
    this.specs.delete(runId);
  }

  private runNote(runId: string, check: string, result: "INFO" | "WARN" | "PASS" | "FAIL", output: string, command = ""): void {
    this.options.store.runs.addEvidence({ runId, time: Date.now(), vm: null, host: null, step: "run", check, command, result, output, durationMs: 0 });
  }
}
