/**
 * The snapshot a rollback returns to, `nightshift-<run>-<vm>` in the run's snapshotMode, recorded in the store before
 * it is asked for (so a controller that dies meanwhile still knows of it). A VM that cannot be snapshotted gets here
 * only with allowNoRollback, and is patched without one. A snapshot that failed and left nothing behind, or that the
 * agent refused because a snapshot of that name is not nightshift's, is recorded as never created; the VM is skipped.
 */
import { snapshotName } from "../../../shared/runs.js";
import { StepErrorCodes } from "../../../shared/protocol/steps.js";
import { StepFailedError } from "../../hub/agent-calls.js";
import type { VmPhaseContext, VmPhaseDefinition, VmPhaseResult } from "./context.js";
import { blockedDisks, firstLine } from "./helpers.js";

export const snapshot: VmPhaseDefinition = {
  name: "snapshot",

  async run(ctx) {
    const { store, spec, timeouts, runner, vm, quick } = ctx;
    const inspect = await runner.run("snapshot", "disks", `inspect ${vm}`, { kind: "inspect", vm }, quick,
      (r) => ({ pass: true, result: "INFO", output: `${r.state}; snapshots: ${r.snapshots.length ? r.snapshots.join(", ") : "none"}` }));
    if (!inspect.pass) {
      return inspect.lost ? { finish: "needs-attention", reason: `agent lost before the snapshot: ${inspect.detail}` }
        : { finish: "skipped", reason: `could not inspect the VM before the snapshot: ${inspect.detail} (nothing was changed)` };
    }
    const blocked = blockedDisks(inspect.result, spec.snapshotMode);
    if (blocked.length > 0) {
      // Only reachable with allowNoRollback: precheck skipped the VM otherwise.
      runner.note("snapshot", "none", "WARN", `no snapshot, the run allows no rollback: ${blocked.join("; ")}`);
      return { next: "patch" };
    }
    const name = snapshotName(ctx.row.run_id, vm);
    const now = Date.now();
    store.transaction(() => {
      store.runs.setSnapshot(ctx.row.run_id, ctx.row.position, name, now);
      store.runs.recordSnapshot(ctx.row.run_id, ctx.row.host_id, vm, name, now);
    });
    ctx.row = { ...ctx.row, snapshot: name };
    const created = await runner.run("snapshot", "create", `virDomainSnapshotCreateXML ${vm} ${name} (${spec.snapshotMode})`,
      { kind: "snapshot-create", vm, name, mode: spec.snapshotMode, description: `nightshift run ${ctx.row.run_id}: ${ctx.runName}` },
      { timeoutMs: timeouts.snapshotMs + timeouts.marginMs, repeatable: true },
      (r) => ({ pass: true, output: `${r.created ? "created" : "already there"}${r.withMemory ? ", with memory" : ", disk only"} in ${Math.round(r.durationMs)} ms` }));
    if (!created.pass) {
      if (created.lost) return { finish: "needs-attention", reason: `agent lost while taking the snapshot: ${created.detail}` };
      if (created.error instanceof StepFailedError && created.error.code === StepErrorCodes.SNAPSHOT_NOT_OURS) {
        return notOurs(ctx, name, created.detail);
      }
      const exists = await runner.run("snapshot", "exists", `snapshot lookup ${vm} ${name}`, { kind: "snapshot-exists", vm, name },
        quick, (r) => ({ pass: !r.exists, result: "INFO", output: r.exists ? "a snapshot was left behind" : "no snapshot was left behind" }));
      if (exists.pass) neverCreated(ctx, name, "never created: the snapshot failed");
      return { finish: "skipped", reason: `snapshot failed: ${created.detail} (nothing was patched)` };
    }
    return { next: "patch" };
  },

  describe(spec) {
    return {
      steps: [`snapshot nightshift-<run>-<vm> (${spec.snapshotMode}${spec.allowNoRollback
        ? "; VMs that cannot be snapshotted are patched without one" : ""})`],
    };
  },
};

/**
 * The agent refused to take the snapshot because a snapshot of this name that is not nightshift's is on the VM (an
 * operator's, without the agent's marker), or because it does not take the name: it created nothing either way. The
 * run does not adopt what is there (no rollback to it, no retention deleting it) and skips the VM.
 */
async function notOurs(ctx: VmPhaseContext, name: string, detail: string): Promise<VmPhaseResult> {
  const { runner, vm, quick } = ctx;
  let lookAlike = false;
  await runner.run("snapshot", "exists", `snapshot lookup ${vm} ${name}`, { kind: "snapshot-exists", vm, name }, quick, (r) => {
    lookAlike = r.exists;
    return r.exists
      ? { pass: true, result: "WARN", output: "a snapshot of this name is there, but it is not nightshift's (an operator's look-alike): not adopted" }
      : { pass: true, result: "INFO", output: "no snapshot of this name is there: the agent refused the name itself" };
  });
  if (!lookAlike) {
    neverCreated(ctx, name, `never created: the agent refused to take it: ${firstLine(detail)}`);
    return { finish: "skipped", reason: `snapshot refused by the agent: ${firstLine(detail)} (nothing was patched)` };
  }
  neverCreated(ctx, name, `never created: a snapshot named ${name} that is not nightshift's (an operator's look-alike, ` +
    `without the agent's marker) was already on the VM; the run did not adopt it`);
  return {
    finish: "skipped",
    reason: `snapshot refused: ${vm} already has a snapshot named ${name} that is not nightshift's (no agent marker in its description): ` +
      `rename or delete it (virsh snapshot-edit --rename, or snapshot-delete, on ${ctx.row.host}), then run the VM again (nothing was patched)`,
  };
}

/** The VM has no snapshot of this run after all: its row in the snapshots table is closed with `note`. */
function neverCreated(ctx: VmPhaseContext, name: string, note: string): void {
  const { store, vm } = ctx;
  const { run_id: runId, position } = ctx.row;
  store.transaction(() => {
    store.runs.setSnapshot(runId, position, null, Date.now());
    const row = store.runs.snapshots(false).find((s) => s.run_id === runId && s.vm === vm && s.name === name);
    if (row) store.runs.markSnapshotDeleted(row.id, note, Date.now());
  });
  ctx.row = { ...ctx.row, snapshot: null };
}
