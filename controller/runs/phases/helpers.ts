/** What more than one phase of the VM procedure needs. */
import type { RunSpec } from "../../../shared/runs.js";
import type { StepResultOf } from "../../../shared/protocol/steps.js";
import type { StepOutcome } from "../step-runner.js";
import type { VmPhaseContext } from "./context.js";

/**
 * Disks and devices that stop a snapshot of this mode (and so a rollback), each with its reason. Disk-only: the
 * agent's disk-only fields; a disk from an older agent that does not send them is judged by the internal rule,
 * which is stricter but for storage-pool volumes (those the disk-only snapshot step itself refuses, before any
 * change). Passthrough devices block either mode: neither snapshot captures their state.
 */
export function blockedDisks(inspect: StepResultOf<"inspect">, mode: RunSpec["snapshotMode"] = "internal"): string[] {
  const judged = inspect.disks.map((d) => mode === "disk-only-quiesce" && d.diskOnlySnapshotable !== undefined
    ? { disk: d, snapshotable: d.diskOnlySnapshotable, reason: d.diskOnlyReason ?? null }
    : { disk: d, snapshotable: d.snapshotable, reason: d.reason });
  return [
    ...judged.filter((j) => !j.snapshotable)
      .map(({ disk: d, reason }) => `disk ${d.target}${d.source ? ` (${d.source})` : ""}: ${reason ?? "not snapshotable"}`),
    ...inspect.passthrough.map((p) => `passthrough device ${p}`),
  ];
}

/**
 * Reboot through the guest agent, or after a restart: attach to the reboot that was sent; if that fails
 * (the agent no longer knows it), make sure the VM runs and answers.
 */
export async function rebootStep(ctx: VmPhaseContext, phase: string): Promise<StepOutcome<unknown>> {
  const { runner, timeouts, vm, quick } = ctx;
  const judge = (r: StepResultOf<"reboot">) => ({ pass: true, output: `rebooted; guest agent back after ${Math.round(r.rebootedInMs)} ms` });
  const rebooted = await runner.once(phase, "reboot", `guest-shutdown mode=reboot ${vm}, wait for the reboot and the guest agent`,
    { kind: "reboot", vm, timeoutMs: timeouts.rebootMs },
    { timeoutMs: timeouts.rebootMs + timeouts.marginMs, resumeCommand: `resume reboot of ${vm}` }, judge);
  if (!rebooted.resumed || rebooted.pass || rebooted.lost) return rebooted;
  const started = await runner.run(phase, "start", `virDomainCreate ${vm} (if not running)`, { kind: "start", vm }, quick,
    (r) => ({ pass: true, output: r.started ? "started" : "already running" }));
  if (!started.pass) return started;
  return runner.run(phase, "guest-agent", `wait for guest-ping ${vm}`, { kind: "wait-guest-agent", vm, timeoutMs: timeouts.guestAgentMs },
    { timeoutMs: timeouts.guestAgentMs + timeouts.marginMs, repeatable: true }, (r) => ({ pass: true, output: `answered after ${Math.round(r.waitedMs)} ms` }));
}

/** The first line of a detail, for a VM's one-line reason (the evidence keeps the whole output). */
export function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}
