/**
 * One VM's way through a maintenance run:
 *
 *   precheck -> [preboot] -> snapshot -> patch -> [reboot] -> verify -> succeeded
 *                                          \________\___________\---> rollback -> rolled-back
 *                                                                        \-> needs-attention
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
import { errorMessage } from "../../shared/errors.js";
import { parseDuration } from "../../shared/duration.js";
import { snapshotName, type RunSpec, type VmOutcome, type VmPhase } from "../../shared/runs.js";
import { StepErrorCodes, type StepResultOf } from "../../shared/protocol/steps.js";
import type { Store } from "../store/index.js";
import type { RunVmRow } from "../store/runs.js";
import { StepFailedError, StepOutcomeUnknownError, type AgentCalls } from "../hub/agent-calls.js";
import { StepRunner, type StepOutcome } from "./step-runner.js";
import { excerpt, verify } from "./verify.js";
import type { RunTimeouts } from "./timeouts.js";
import type { RunNotifier } from "./notifier.js";

type SnapshotMode = RunSpec["snapshotMode"];
type PhaseResult = { next: VmPhase } | { finish: VmOutcome; reason: string | null } | { rollback: string };

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

const MiB = 1024 * 1024;

export class VmProcedure {
  private readonly runner: StepRunner;
  private readonly vm: string;
  private readonly quick: { timeoutMs: number; repeatable: true };

  constructor(private readonly deps: VmProcedureDeps, private row: RunVmRow) {
    this.vm = row.vm;
    this.runner = new StepRunner({ runId: row.run_id, position: row.position, hostId: row.host_id, host: row.host, vm: row.vm },
      deps.calls, deps.store.runs);
    this.quick = { timeoutMs: deps.timeouts.quickMs, repeatable: true };
  }

  async drive(): Promise<VmOutcome> {
    const resumedPhase = this.row.phase === "pending" ? null : this.row.phase;
    if (resumedPhase) {
      this.runner.note("resume", "controller", "INFO",
        `the controller restarted while ${this.vm} was in phase ${resumedPhase}; re-examining it before going on`);
    }
    try {
      return await this.loop(resumedPhase ?? "precheck");
    } catch (err) {
      this.deps.log.error({ err, run: this.row.run_id, vm: this.vm }, "maintenance procedure failed unexpectedly");
      return this.finish("needs-attention", `internal error in the controller: ${errorMessage(err)}`);
    }
  }

  private async loop(start: VmPhase): Promise<VmOutcome> {
    let phase = start;
    let rollbackReason = this.row.reason ?? "a rollback was in progress when the controller restarted";
    for (;;) {
      const attempt = this.deps.store.runs.enterPhase(this.row.run_id, this.row.position, phase, Date.now());
      this.runner.enter(phase, attempt);
      let result: PhaseResult;
      switch (phase) {
        case "pending":
        case "precheck": result = await this.precheck(); break;
        case "preboot": result = await this.preboot(); break;
        case "snapshot": result = await this.snapshot(); break;
        case "patch": result = await this.patch(); break;
        case "reboot": result = await this.reboot(); break;
        case "verify": result = await this.verifyAfterPatch(); break;
        case "rollback": result = await this.rollback(rollbackReason); break;
        case "done": return this.row.outcome ?? this.finish("needs-attention", "found done without an outcome");
      }
      if ("finish" in result) return this.finish(result.finish, result.reason);
      if ("rollback" in result) {
        rollbackReason = result.rollback;
        this.deps.store.runs.setReason(this.row.run_id, this.row.position, rollbackReason, Date.now());
        phase = "rollback";
        continue;
      }
      phase = result.next;
    }
  }

  // --- phases -------------------------------------------------------------

  private async precheck(): Promise<PhaseResult> {
    const { spec, timeouts } = this.deps;
    const vm = this.vm;
    const skip = (what: string, outcome: StepOutcome<unknown>): PhaseResult =>
      ({ finish: "skipped", reason: `pre-check ${what}: ${outcome.pass ? "" : outcome.detail} (nothing was changed)` });

    const commands = ["exec" in spec.patch ? spec.patch.exec : null, spec.verify.exec ?? null].filter((c): c is string => c !== null);
    const hooks = "hook" in spec.patch ? [spec.patch.hook] : [];
    const allowed = await this.runner.run("precheck", "allowed", `check-allowed commands ${JSON.stringify(commands)} hooks ${JSON.stringify(hooks)}`,
      { kind: "check-allowed", vm, guestCommands: commands, hooks }, this.quick, (r) => {
        const denied = [...r.deniedCommands.map((c) => `guest command ${JSON.stringify(c)} (maintenance.guestCommands)`),
          ...r.deniedHooks.map((h) => `hook ${h} (maintenance.hooks)`)];
        return denied.length === 0 ? { pass: true, output: "the agent's config allows every command and hook of this run" }
          : { pass: false, output: `the agent on ${this.row.host} does not allow ${denied.join(", ")}: add them to its config` };
      });
    if (!allowed.pass) return skip("allowed commands", allowed);

    const inspect = await this.runner.run("precheck", "vm", `inspect ${vm}`, { kind: "inspect", vm }, this.quick, (r) => {
      if (r.state !== "running") return { pass: false, output: `the VM is ${r.state} (${r.stateReason}); only running VMs are patched` };
      const blocked = blockedDisks(r, spec.snapshotMode);
      if (blocked.length > 0 && !spec.allowNoRollback) {
        return { pass: false, output: `cannot be snapshotted, so it could not be rolled back: ${blocked.join("; ")} ` +
          `(allowNoRollback patches such VMs without a snapshot)` };
      }
      if (!r.guestAgent) return { pass: false, output: "the guest agent does not answer: install and start qemu-guest-agent in the guest" };
      return { pass: true, output: `running, ${r.disks.length} disk(s)${blocked.length ? `; no rollback possible: ${blocked.join("; ")}`
        : `, all snapshotable (${spec.snapshotMode})`}` };
    });
    if (!inspect.pass) return skip("VM", inspect);
    const snapshotable = blockedDisks(inspect.result, spec.snapshotMode).length === 0;

    const before = await verify("precheck", spec, vm, this.runner, timeouts);
    if (!before.pass) return { finish: "skipped", reason: `pre-check verify failed before any change: ${before.failed ?? "?"} (nothing was changed)` };

    if (snapshotable) {
      const space = await this.runner.run("precheck", "disk-space", `free space for ${spec.snapshotMode} snapshot of ${vm}`,
        { kind: "disk-space", vm, headroomFraction: spec.snapshotHeadroom, mode: spec.snapshotMode }, this.quick, (r) => {
          const short = r.disks.filter((d) => d.availableBytes < d.neededBytes);
          const lines = r.disks.map((d) => `${d.target} ${d.source}: ${Math.round(d.availableBytes / MiB)} MiB free, ` +
            `${Math.round(d.neededBytes / MiB)} MiB needed`);
          return { pass: short.length === 0, output: lines.join("\n") };
        });
      if (!space.pass) return skip("snapshot space", space);
    }

    const users = await this.runner.run("precheck", "users", `guest-get-users ${vm}`, { kind: "guest-users", vm }, this.quick, (r) => {
      if (r.users.length === 0) return { pass: true, output: "nobody logged in" };
      const who = r.users.map((u) => `${u.user} (since ${u.loginTime})`).join(", ");
      return spec.loggedInUsers === "skip" ? { pass: false, output: `logged in: ${who}; the run skips VMs with users` }
        : { pass: true, result: "WARN", output: `logged in: ${who}` };
    });
    if (!users.pass) return skip("logged-in users", users);

    if (spec.rebootIfOlderThan) {
      const maxAgeSeconds = parseDuration(spec.rebootIfOlderThan)! / 1000;
      let due = false;
      const uptime = await this.runner.run("precheck", "uptime", `guest uptime ${vm} (reboot if older than ${spec.rebootIfOlderThan})`,
        { kind: "guest-uptime", vm }, this.quick, (r) => {
          if (r.uptimeSeconds === null) return { pass: true, result: "WARN", output: `uptime unknown (${r.detail}); no precautionary reboot` };
          due = r.uptimeSeconds > maxAgeSeconds;
          return { pass: true, result: "INFO", output: `up ${Math.round(r.uptimeSeconds)} s: ${due ? "precautionary reboot first" : "recent enough"}` };
        });
      if (!uptime.pass) return skip("uptime", uptime);
      if (due) return { next: "preboot" };
    }
    return { next: "snapshot" };
  }

  /** A reboot before any change, so a guest that cannot boot is found now, not blamed on the patch. */
  private async preboot(): Promise<PhaseResult> {
    const { timeouts, spec } = this.deps;
    const vm = this.vm;
    const rebooted = await this.rebootStep("preboot");
    if (!rebooted.pass) {
      return { finish: "needs-attention", reason: `precautionary reboot before patching failed: ${rebooted.detail} (nothing was patched)` };
    }
    const after = await verify("preboot", spec, vm, this.runner, timeouts);
    if (!after.pass) {
      return { finish: "needs-attention", reason: `verify failed after the precautionary reboot, before any change: ${after.failed ?? "?"}` };
    }
    return { next: "snapshot" };
  }

  private async snapshot(): Promise<PhaseResult> {
    const { store, spec, timeouts } = this.deps;
    const vm = this.vm;
    const inspect = await this.runner.run("snapshot", "disks", `inspect ${vm}`, { kind: "inspect", vm }, this.quick,
      (r) => ({ pass: true, result: "INFO", output: `${r.state}; snapshots: ${r.snapshots.length ? r.snapshots.join(", ") : "none"}` }));
    if (!inspect.pass) {
      return inspect.lost ? { finish: "needs-attention", reason: `agent lost before the snapshot: ${inspect.detail}` }
        : { finish: "skipped", reason: `could not inspect the VM before the snapshot: ${inspect.detail} (nothing was changed)` };
    }
    const blocked = blockedDisks(inspect.result, spec.snapshotMode);
    if (blocked.length > 0) {
      // Only reachable with allowNoRollback: precheck skipped the VM otherwise.
      this.runner.note("snapshot", "none", "WARN", `no snapshot, the run allows no rollback: ${blocked.join("; ")}`);
      return { next: "patch" };
    }
    const name = snapshotName(this.row.run_id, vm);
    const now = Date.now();
    store.transaction(() => {
      store.runs.setSnapshot(this.row.run_id, this.row.position, name, now);
      store.runs.recordSnapshot(this.row.run_id, this.row.host_id, vm, name, now);
    });
    this.row = { ...this.row, snapshot: name };
    const created = await this.runner.run("snapshot", "create", `virDomainSnapshotCreateXML ${vm} ${name} (${spec.snapshotMode})`,
      { kind: "snapshot-create", vm, name, mode: spec.snapshotMode, description: `nightshift run ${this.row.run_id}: ${this.deps.runName}` },
      { timeoutMs: timeouts.snapshotMs + timeouts.marginMs, repeatable: true },
      (r) => ({ pass: true, output: `${r.created ? "created" : "already there"}${r.withMemory ? ", with memory" : ", disk only"} in ${Math.round(r.durationMs)} ms` }));
    if (!created.pass) {
      if (created.lost) return { finish: "needs-attention", reason: `agent lost while taking the snapshot: ${created.detail}` };
      if (refusedAsNotOurs(created.error)) return this.notOurs(name, created.detail);
      const exists = await this.runner.run("snapshot", "exists", `snapshot lookup ${vm} ${name}`, { kind: "snapshot-exists", vm, name },
        this.quick, (r) => ({ pass: !r.exists, result: "INFO", output: r.exists ? "a snapshot was left behind" : "no snapshot was left behind" }));
      if (exists.pass) {
        store.transaction(() => {
          store.runs.setSnapshot(this.row.run_id, this.row.position, null, Date.now());
          const row = store.runs.snapshots(false).find((s) => s.run_id === this.row.run_id && s.vm === vm && s.name === name);
          if (row) store.runs.markSnapshotDeleted(row.id, "never created: the snapshot failed", Date.now());
        });
        this.row = { ...this.row, snapshot: null };
      }
      return { finish: "skipped", reason: `snapshot failed: ${created.detail} (nothing was patched)` };
    }
    return { next: "patch" };
  }

  /**
   * The agent refused to take the snapshot because a snapshot of this name that is not nightshift's is on the VM (an
   * operator's, without the agent's marker), or because it does not take the name: it created nothing either way. The
   * run does not adopt what is there (no rollback to it, no retention deleting it) and skips the VM.
   */
  private async notOurs(name: string, detail: string): Promise<PhaseResult> {
    const { store } = this.deps;
    const vm = this.vm;
    let lookAlike = false;
    await this.runner.run("snapshot", "exists", `snapshot lookup ${vm} ${name}`, { kind: "snapshot-exists", vm, name }, this.quick, (r) => {
      lookAlike = r.exists;
      return r.exists
        ? { pass: true, result: "WARN", output: "a snapshot of this name is there, but it is not nightshift's (an operator's look-alike): not adopted" }
        : { pass: true, result: "INFO", output: "no snapshot of this name is there: the agent refused the name itself" };
    });
    const note = lookAlike
      ? `never created: a snapshot named ${name} that is not nightshift's (an operator's look-alike, without the agent's marker) ` +
        `was already on the VM; the run did not adopt it`
      : `never created: the agent refused to take it: ${firstLine(detail)}`;
    store.transaction(() => {
      store.runs.setSnapshot(this.row.run_id, this.row.position, null, Date.now());
      const row = store.runs.snapshots(false).find((s) => s.run_id === this.row.run_id && s.vm === vm && s.name === name);
      if (row) store.runs.markSnapshotDeleted(row.id, note, Date.now());
    });
    this.row = { ...this.row, snapshot: null };
    return {
      finish: "skipped", reason: lookAlike
        ? `snapshot refused: ${vm} already has a snapshot named ${name} that is not nightshift's (no agent marker in its description): ` +
          `rename or delete it (virsh snapshot-edit --rename, or snapshot-delete, on ${this.row.host}), then run the VM again (nothing was patched)`
        : `snapshot refused by the agent: ${firstLine(detail)} (nothing was patched)`,
    };
  }

  private async patch(): Promise<PhaseResult> {
    const { spec, timeouts } = this.deps;
    const vm = this.vm;
    const patchMs = parseDuration(spec.patchTimeout)!;
    const options = { timeoutMs: patchMs + timeouts.marginMs };
    const judge = (r: StepResultOf<"guest-exec">) => {
      const out = excerpt(r.stdout, r.stderr);
      return r.exitCode === 0 ? { pass: true, output: `exit 0${out ? `\n${out}` : ""}` }
        : { pass: false, output: `exit ${r.exitCode ?? `signal ${r.signal}`}${out ? `\n${out}` : ""}` };
    };
    const outcome = "exec" in spec.patch
      ? await this.runner.once("patch", "exec", `guest-exec /bin/sh -c ${JSON.stringify(spec.patch.exec)}`,
        { kind: "guest-exec", vm, command: spec.patch.exec, timeoutMs: patchMs }, options, judge)
      : await this.runner.once("patch", "hook", `${spec.patch.hook} ${vm} (on ${this.row.host})`,
        { kind: "hook", vm, path: spec.patch.hook, runId: this.row.run_id, timeoutMs: patchMs }, options, judge);
    if (!outcome.pass) {
      if (outcome.lost) return { finish: "needs-attention", reason: `agent lost during the patch: ${outcome.detail}` };
      if (outcome.error instanceof StepOutcomeUnknownError) {
        return { rollback: `the patch was interrupted and its outcome is unknown: ${outcome.detail}` };
      }
      return { rollback: `patch failed: ${firstLine(outcome.detail)}` };
    }
    return { next: spec.reboot === "never" ? "verify" : "reboot" };
  }

  private async reboot(): Promise<PhaseResult> {
    const { spec } = this.deps;
    const vm = this.vm;
    // A reboot already picked (before a restart) was decided on: it is resumed, not asked about again.
    if (spec.reboot === "if-required" && !this.runner.keptStep()) {
      let required = false;
      const asked = await this.runner.run("reboot", "required", `reboot-required ${vm}`, { kind: "reboot-required", vm }, this.quick, (r) => {
        required = r.required;
        return { pass: true, result: "INFO", output: `${r.required ? "reboot required" : "no reboot required"} (${r.detail})` };
      });
      if (!asked.pass) {
        return asked.lost ? { finish: "needs-attention", reason: `agent lost after the patch: ${asked.detail}` }
          : { rollback: `could not tell whether the patched guest needs a reboot: ${asked.detail}` };
      }
      if (!required) return { next: "verify" };
    }
    const rebooted = await this.rebootStep("reboot");
    if (!rebooted.pass) {
      return rebooted.lost ? { finish: "needs-attention", reason: `agent lost during the reboot after the patch: ${rebooted.detail}` }
        : { rollback: `reboot after the patch failed: ${rebooted.detail}` };
    }
    return { next: "verify" };
  }

  private async verifyAfterPatch(): Promise<PhaseResult> {
    const result = await verify("verify", this.deps.spec, this.vm, this.runner, this.deps.timeouts);
    if (result.pass) return { finish: "succeeded", reason: null };
    if (result.lost) return { finish: "needs-attention", reason: `agent lost during verify: ${result.failed ?? "?"}` };
    return { rollback: `verify failed: ${firstLine(result.failed ?? "?")}` };
  }

  private async rollback(reason: string): Promise<PhaseResult> {
    const { timeouts, spec } = this.deps;
    const vm = this.vm;
    const name = this.row.snapshot;
    this.runner.note("rollback", "reason", "INFO", reason);
    if (!name) return { finish: "needs-attention", reason: `${reason}; no snapshot to roll back to (the run allowed no rollback)` };
    const failed = (what: string, o: { detail: string }): PhaseResult =>
      ({ finish: "needs-attention", reason: `rollback ${what} failed: ${o.detail} (rolling back because ${reason})` });

    const reverted = await this.runner.run("rollback", "revert", `virDomainRevertToSnapshot ${vm} ${name}`,
      { kind: "snapshot-revert", vm, name }, { timeoutMs: timeouts.revertMs + timeouts.marginMs, repeatable: true },
      (r) => ({ pass: true, output: `${r.state} after ${Math.round(r.durationMs)} ms` }));
    if (!reverted.pass) return failed("revert", reverted);
    const started = await this.runner.run("rollback", "start", `virDomainCreate ${vm} (if not running)`, { kind: "start", vm }, this.quick,
      (r) => ({ pass: true, output: r.started ? "started" : "already running" }));
    if (!started.pass) return failed("start", started);
    const agent = await this.runner.run("rollback", "guest-agent", `wait for guest-ping ${vm}`,
      { kind: "wait-guest-agent", vm, timeoutMs: timeouts.guestAgentMs }, { timeoutMs: timeouts.guestAgentMs + timeouts.marginMs, repeatable: true },
      (r) => ({ pass: true, output: `answered after ${Math.round(r.waitedMs)} ms` }));
    if (!agent.pass) return failed("guest agent wait", agent);
    const after = await verify("rollback", spec, vm, this.runner, timeouts);
    if (!after.pass) return { finish: "needs-attention", reason: `verify failed after the rollback: ${after.failed ?? "?"} (rolled back because ${reason})` };
    return { finish: "rolled-back", reason };
  }

  // --- helpers ------------------------------------------------------------

  /**
   * Reboot through the guest agent, or after a restart: attach to the reboot that was sent; if that fails
   * (the agent no longer knows it), make sure the VM runs and answers.
   */
  private async rebootStep(phase: string): Promise<StepOutcome<unknown>> {
    const { timeouts } = this.deps;
    const vm = this.vm;
    const judge = (r: StepResultOf<"reboot">) => ({ pass: true, output: `rebooted; guest agent back after ${Math.round(r.rebootedInMs)} ms` });
    const rebooted = await this.runner.once(phase, "reboot", `guest-shutdown mode=reboot ${vm}, wait for the reboot and the guest agent`,
      { kind: "reboot", vm, timeoutMs: timeouts.rebootMs },
      { timeoutMs: timeouts.rebootMs + timeouts.marginMs, resumeCommand: `resume reboot of ${vm}` }, judge);
    if (!rebooted.resumed || rebooted.pass || rebooted.lost) return rebooted;
    const started = await this.runner.run(phase, "start", `virDomainCreate ${vm} (if not running)`, { kind: "start", vm }, this.quick,
      (r) => ({ pass: true, output: r.started ? "started" : "already running" }));
    if (!started.pass) return started;
    return this.runner.run(phase, "guest-agent", `wait for guest-ping ${vm}`, { kind: "wait-guest-agent", vm, timeoutMs: timeouts.guestAgentMs },
      { timeoutMs: timeouts.guestAgentMs + timeouts.marginMs, repeatable: true }, (r) => ({ pass: true, output: `answered after ${Math.round(r.waitedMs)} ms` }));
  }

  private finish(outcome: VmOutcome, reason: string | null): VmOutcome {
    const { store, spec, notifier } = this.deps;
    const now = Date.now();
    const changed = store.transaction(() => {
      const done = store.runs.finishVm(this.row.run_id, this.row.position, outcome, reason, now);
      // Kept snapshots expire; a VM that needs attention keeps its snapshot until someone deletes it.
      if (done && this.row.snapshot && (outcome === "succeeded" || outcome === "rolled-back")) {
        store.runs.setSnapshotExpiry(this.row.host_id, this.vm, this.row.snapshot, now + parseDuration(spec.keepSnapshots)!);
      }
      return done;
    });
    if (!changed) return store.runs.vm(this.row.run_id, this.row.position)?.outcome ?? outcome;
    const result = outcome === "succeeded" ? "PASS" : outcome === "skipped" || outcome === "aborted" ? "INFO" : "FAIL";
    this.runner.note("outcome", outcome, result, reason ?? "every check passed");
    this.deps.log.info({ run: this.row.run_id, vm: this.vm, host: this.row.host, outcome, reason }, "VM finished its maintenance");
    if (outcome === "rolled-back" || outcome === "needs-attention") {
      notifier.notify({
        event: outcome === "rolled-back" ? "vm-rolled-back" : "vm-needs-attention", time: new Date(now).toISOString(),
        run: { id: this.row.run_id, name: this.deps.runName },
        vm: { name: this.vm, host: this.row.host, outcome, reason },
      });
    }
    return outcome;
  }
}

/**
 * Disks and devices that stop a snapshot of this mode (and so a rollback), each with its reason. Disk-only: the
 * agent's disk-only fields; a disk from an older agent that does not send them is judged by the internal rule,
 * which is stricter but for storage-pool volumes (those the disk-only snapshot step itself refuses, before any
 * change). Passthrough devices block either mode: neither snapshot captures their state.
 */
export function blockedDisks(inspect: StepResultOf<"inspect">, mode: SnapshotMode = "internal"): string[] {
  const judged = inspect.disks.map((d) => mode === "disk-only-quiesce" && d.diskOnlySnapshotable !== undefined
    ? { disk: d, snapshotable: d.diskOnlySnapshotable, reason: d.diskOnlyReason ?? null }
    : { disk: d, snapshotable: d.snapshotable, reason: d.reason });
  return [
    ...judged.filter((j) => !j.snapshotable)
      .map(({ disk: d, reason }) => `disk ${d.target}${d.source ? ` (${d.source})` : ""}: ${reason ?? "not snapshotable"}`),
    ...inspect.passthrough.map((p) => `passthrough device ${p}`),
  ];
}

function refusedAsNotOurs(error: Error | undefined): boolean {
  return error instanceof StepFailedError && error.code === StepErrorCodes.SNAPSHOT_NOT_OURS;
}

function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}
