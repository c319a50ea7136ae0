/**
 * Back to the snapshot after a failed patch, reboot or verify: revert, start, wait for the guest agent, verify again.
 * All of it passes: rolled-back; anything fails, or there is no snapshot (allowNoRollback): needs-attention.
 */
import { verify } from "../verify.js";
import type { VmPhaseDefinition, VmPhaseResult } from "./context.js";

export const rollback: VmPhaseDefinition = {
  name: "rollback",

  async run(ctx, { rollbackReason: reason }) {
    const { timeouts, spec, runner, vm, quick } = ctx;
    const name = ctx.row.snapshot;
    runner.note("rollback", "reason", "INFO", reason);
    if (!name) return { finish: "needs-attention", reason: `${reason}; no snapshot to roll back to (the run allowed no rollback)` };
    const failed = (what: string, o: { detail: string }): VmPhaseResult =>
      ({ finish: "needs-attention", reason: `rollback ${what} failed: ${o.detail} (rolling back because ${reason})` });

    const reverted = await runner.run("rollback", "revert", `virDomainRevertToSnapshot ${vm} ${name}`,
      { kind: "snapshot-revert", vm, name }, { timeoutMs: timeouts.revertMs + timeouts.marginMs, repeatable: true },
      (r) => ({ pass: true, output: `${r.state} after ${Math.round(r.durationMs)} ms` }));
    if (!reverted.pass) return failed("revert", reverted);
    const started = await runner.run("rollback", "start", `virDomainCreate ${vm} (if not running)`, { kind: "start", vm }, quick,
      (r) => ({ pass: true, output: r.started ? "started" : "already running" }));
    if (!started.pass) return failed("start", started);
    const agent = await runner.run("rollback", "guest-agent", `wait for guest-ping ${vm}`,
      { kind: "wait-guest-agent", vm, timeoutMs: timeouts.guestAgentMs }, { timeoutMs: timeouts.guestAgentMs + timeouts.marginMs, repeatable: true },
      (r) => ({ pass: true, output: `answered after ${Math.round(r.waitedMs)} ms` }));
    if (!agent.pass) return failed("guest agent wait", agent);
    const after = await verify("rollback", spec, vm, runner, timeouts);
    if (!after.pass) return { finish: "needs-attention", reason: `verify failed after the rollback: ${after.failed ?? "?"} (rolled back because ${reason})` };
    return { finish: "rolled-back", reason };
  },

  describe() {
    return {
      steps: ["on failure: revert to the snapshot, start, verify again -> rolled-back, else needs-attention"],
      when: "the patch, the reboot after it or verify fails",
    };
  },
};
