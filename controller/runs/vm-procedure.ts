/**
 * One VM's way through a maintenance run: the VM procedure (vm-phases.ts) on the
 * phase loop (procedure.ts), persisted in the VM's row of run_vms.
 *
 * Each phase is written to the store before it starts (phase + attempt), so a
 * controller that died mid-phase resumes here and knows what to re-examine:
 * reads are simply repeated; a patch or reboot that was sent is asked for
 * again by the step id kept in the store when it was picked, however many
 * restarts ago (the agent still has it unless it restarted too); one that was
 * never sent is sent then; a patch whose outcome cannot be known is rolled back. A step whose agent was
 * lost leaves the VM in a state nobody can vouch for: needs-attention.
 */
import type { Logger } from "../../shared/logging.js";
import { parseDuration } from "../../shared/duration.js";
import type { RunSpec, VmOutcome } from "../../shared/runs.js";
import type { Store } from "../store/index.js";
import type { RunVmRow } from "../store/runs.js";
import type { AgentCalls } from "../hub/agent-calls.js";
import { StepRunner } from "./step-runner.js";
import type { RunTimeouts } from "./timeouts.js";
import type { RunNotifier } from "./notifier.js";
import { runProcedure, type ProcedureRecord } from "./procedure.js";
import { VM_PROCEDURE } from "./vm-phases.js";
import type { VmPhaseContext, VmStepPhase } from "./phases/context.js";

export interface VmProcedureDeps {
  store: Store;
  calls: AgentCalls;
  timeouts: RunTimeouts;
  notifier: RunNotifier;
  log: Logger;
  runId: string;
  runName: string;
  spec: RunSpec;
}

export class VmProcedure {
  private readonly ctx: VmPhaseContext;

  constructor(private readonly deps: VmProcedureDeps, row: RunVmRow) {
    const runner = new StepRunner({ runId: row.run_id, position: row.position, hostId: row.host_id, host: row.host, vm: row.vm },
      deps.calls, deps.store.runs);
    this.ctx = {
      store: deps.store, spec: deps.spec, timeouts: deps.timeouts, runName: deps.runName, runner, vm: row.vm, row,
      quick: { timeoutMs: deps.timeouts.quickMs, repeatable: true },
    };
  }

  drive(): Promise<VmOutcome> {
    return runProcedure(VM_PROCEDURE, this.record(), this.ctx, this.deps.spec);
  }

  private record(): ProcedureRecord<VmStepPhase> {
    const { store, log } = this.deps;
    const { ctx } = this;
    const { run_id: runId, position } = ctx.row;
    return {
      subject: ctx.vm,
      phase: ctx.row.phase,
      reason: ctx.row.reason,
      outcome: ctx.row.outcome,
      enter: (phase) => ctx.runner.enter(phase, store.runs.enterPhase(runId, position, phase, Date.now())),
      keepReason: (reason) => store.runs.setReason(runId, position, reason, Date.now()),
      noteResume: (output) => ctx.runner.note("resume", "controller", "INFO", output),
      finish: (outcome, reason) => this.finish(outcome, reason),
      failed: (err) => log.error({ err, run: runId, vm: ctx.vm }, "maintenance procedure failed unexpectedly"),
    };
  }

  private finish(outcome: VmOutcome, reason: string | null): VmOutcome {
    const { store, spec, notifier } = this.deps;
    const { row, runner, vm } = this.ctx;
    const now = Date.now();
    const changed = store.transaction(() => {
      const done = store.runs.finishVm(row.run_id, row.position, outcome, reason, now);
      // Kept snapshots expire; a VM that needs attention keeps its snapshot until someone deletes it.
      if (done && row.snapshot && (outcome === "succeeded" || outcome === "rolled-back")) {
        store.runs.setSnapshotExpiry(row.host_id, vm, row.snapshot, now + parseDuration(spec.keepSnapshots)!);
      }
      return done;
    });
    if (!changed) return store.runs.vm(row.run_id, row.position)?.outcome ?? outcome;
    const result = outcome === "succeeded" ? "PASS" : outcome === "skipped" || outcome === "aborted" ? "INFO" : "FAIL";
    runner.note("outcome", outcome, result, reason ?? "every check passed");
    this.deps.log.info({ run: row.run_id, vm, host: row.host, outcome, reason }, "VM finished its maintenance");
    if (outcome === "rolled-back" || outcome === "needs-attention") {
      notifier.notify({
        event: outcome === "rolled-back" ? "vm-rolled-back" : "vm-needs-attention", time: new Date(now).toISOString(),
        run: { id: row.run_id, name: this.deps.runName },
        vm: { name: vm, host: row.host, outcome, reason },
      });
    }
    return outcome;
  }
}
