/**
 * The way back from what a run left behind, by the operator's hand:
 *
 * - resolveVm (`nightshift vm resolve HOST/VM --reason TEXT`): the VM no
 *   longer needs attention. What flags it (store.runs.needsAttention(): the
 *   plan executor's pause and its refusal to resume, the
 *   nightshift_vm_needs_attention metric) stops counting every run that left
 *   it so until now; run_vms keeps the outcome as history, and the
 *   resolution (who, why, when) is stored and written as an evidence line of
 *   each of those runs. A later run that leaves the VM needing attention
 *   flags it again.
 * - SnapshotDeleter (`nightshift snapshots delete HOST/VM NAME`): a snapshot
 *   in nightshift's table deleted through its host's agent. An internal one
 *   by a plain delete; a disk-only one only with the operator's choice:
 *   merge (`snapshot-delete`: the overlays are merged into the disks, the VM
 *   keeps its current state, as retention does) or discard
 *   (`snapshot-discard`: back to the disks it had, the VM shut off). The
 *   agent's own ownership rules apply on top. The snapshot is marked deleted
 *   with the reason, and the deletion is an evidence line of its run. One
 *   deletion per snapshot at a time, shared with retention.
 */
import { NightshiftError, errorMessage } from "../../shared/errors.js";
import { isHttpErrorCode, type HttpErrorCode } from "../../shared/error-codes.js";
import { RunSpecSchema, type SnapshotDeleteRecord, type VmResolutionRecord } from "../../shared/runs.js";
import type { Store } from "../store/index.js";
import type { SnapshotRow } from "../store/runs.js";
import { AgentLostError, StepFailedError, StepNoAnswerError, type AgentCalls } from "../hub/agent-calls.js";
import { snapshotRecord } from "./records.js";

/** A refusal or failure; the API answers it with its code's status (shared/error-codes.ts). */
export class RecoveryError extends NightshiftError {
  declare readonly code: HttpErrorCode;

  constructor(code: HttpErrorCode, message: string) {
    super(code, message);
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** HOST/VM, or a VM name that one host has (in its inventory or in a run). */
function findVm(store: Store, id: string): { hostId: number; host: string; vm: string } {
  const slash = id.indexOf("/");
  if (slash >= 0) {
    const hostName = id.slice(0, slash);
    const vm = id.slice(slash + 1);
    const host = store.hosts.findByName(hostName);
    if (!host) throw new RecoveryError("NS_ERR_NO_HOST", `no host named '${hostName}' (see nightshift hosts)`);
    const known = store.domains.findByName(vm).some((d) => d.host_id === host.id) || store.runs.hostsOfRunVm(vm).includes(host.id);
    if (!known) {
      throw new RecoveryError("NS_ERR_NO_VM", `no VM named '${vm}' on host ${host.name}, neither in its inventory nor in any run ` +
        `(see nightshift vms --host ${host.name}, nightshift runs)`);
    }
    return { hostId: host.id, host: host.name, vm };
  }
  const hostIds = [...new Set([...store.domains.findByName(id).map((d) => d.host_id), ...store.runs.hostsOfRunVm(id)])];
  if (hostIds.length === 0) throw new RecoveryError("NS_ERR_NO_VM", `no VM named '${id}' in the inventory or in any run (see nightshift vms)`);
  const hosts = hostIds.map((h) => store.hosts.findById(h)!.name).sort();
  if (hosts.length > 1) {
    throw new RecoveryError("NS_ERR_VM_AMBIGUOUS", `'${id}' exists on ${hosts.join(", ")}: name it as HOST/VM, e.g. ${hosts[0]}/${id}`);
  }
  return { hostId: hostIds[0]!, host: hosts[0]!, vm: id };
}

export function resolveVm(store: Store, id: string, reason: string, by: string, now = Date.now()): VmResolutionRecord {
  const { hostId, host, vm } = findVm(store, id);
  const flagged = store.runs.needsAttentionOf(hostId, vm);
  if (flagged.length === 0) {
    throw new RecoveryError("NS_ERR_VM_NOT_NEEDS_ATTENTION", `${host}/${vm} does not need attention: no run left it so since ` +
      "a later run on it ended well or it was last resolved (see nightshift runs)");
  }
  const runs = flagged.map((r) => r.run_id);
  store.transaction(() => {
    store.runs.recordResolution(hostId, vm, runs, by, reason, now);
    for (const runId of runs) {
      store.runs.addEvidence({ runId, time: now, vm, host, step: "operator", check: "resolve", command: `nightshift vm resolve ${host}/${vm}`,
        result: "INFO", output: `needs-attention resolved by ${by}: ${reason}`, durationMs: 0 });
    }
  });
  const snapshots = store.runs.snapshots(false).filter((s) => s.host_id === hostId && s.vm === vm).map((s) => s.name);
  return { host, vm, runs, reason, by, resolvedAt: iso(now), snapshots };
}

export type SnapshotDeleteMode = "merge" | "discard";
export type SnapshotDeleteResult = SnapshotDeleteRecord["result"];

export interface SnapshotDeleteRequest {
  host: string;
  vm: string;
  name: string;
  mode?: SnapshotDeleteMode;
  reason?: string;
  by: string;
}

export interface SnapshotDeleterOptions {
  store: Store;
  calls: AgentCalls;
  /** How long the agent may take (a merge of a large overlay, a qemu-img commit). */
  stepTimeoutMs: number;
}

export class SnapshotDeleter {
  private readonly busy = new Set<number>();
  private counter = 0;

  constructor(private readonly options: SnapshotDeleterOptions) {}

  /** Takes the snapshot for one deletion; false when one is under way (retention skips it then). */
  claim(id: number): boolean {
    if (this.busy.has(id)) return false;
    this.busy.add(id);
    return true;
  }

  release(id: number): void {
    this.busy.delete(id);
  }

  async delete(request: SnapshotDeleteRequest): Promise<SnapshotDeleteRecord> {
    const { store, calls } = this.options;
    const { vm, name, mode, reason, by } = request;
    const host = store.hosts.findByName(request.host);
    if (!host) throw new RecoveryError("NS_ERR_NO_HOST", `no host named '${request.host}' (see nightshift hosts)`);
    const snap = store.runs.snapshotOf(host.id, vm, name);
    if (!snap) {
      throw new RecoveryError("NS_ERR_NO_SNAPSHOT", `no snapshot ${name} of ${host.name}/${vm} in nightshift's records ` +
        "(nightshift snapshots --all): nightshift deletes only snapshots its runs took; an operator's own is deleted with virsh");
    }
    if (snap.deleted_at !== null) {
      throw new RecoveryError("NS_ERR_SNAPSHOT_DELETED", `snapshot ${name} of ${host.name}/${vm} was deleted at ` +
        `${iso(snap.deleted_at)}: ${snap.note ?? ""}`.trim());
    }
    const diskOnly = this.snapshotMode(snap) === "disk-only-quiesce";
    if (diskOnly && !mode) {
      throw new RecoveryError("NS_ERR_SNAPSHOT_MODE", `snapshot ${name} is a disk-only snapshot: say what becomes of what ${vm} wrote ` +
        "since: --merge (mode merge: the overlays are merged into the disks, the VM keeps its current state) or --discard " +
        "(mode discard: the overlays are dropped and the disks are back to the snapshot; the VM must be shut off)");
    }
    if (!diskOnly && mode === "discard") {
      throw new RecoveryError("NS_ERR_SNAPSHOT_MODE", `snapshot ${name} is an internal snapshot: deleting it never changes ${vm}, ` +
        `and going back to it is a revert, not a discard; delete it without --discard`);
    }
    const open = store.runs.openRunsOf(host.id, vm);
    if (open.length > 0) {
      throw new RecoveryError("NS_ERR_VM_IN_RUN", `${host.name}/${vm} is in run ${open[0]}, which may still roll back to its snapshot: ` +
        `wait for it to finish or abort it (nightshift run abort ${open[0]})`);
    }
    if (!calls.isConnected(host.id)) {
      throw new RecoveryError("NS_ERR_AGENT_NOT_CONNECTED", `the agent of host ${host.name} is not connected; nothing was deleted ` +
        "(see nightshift hosts)");
    }
    if (!this.claim(snap.id)) {
      throw new RecoveryError("NS_ERR_SNAPSHOT_BUSY", `snapshot ${name} of ${host.name}/${vm} is being deleted already (by retention ` +
        "or another request); see nightshift snapshots --all in a moment");
    }
    const discard = mode === "discard";
    const command = `nightshift snapshots delete ${host.name}/${vm} ${name}${mode ? ` --${mode}` : ""}`;
    const started = Date.now();
    const evidence = (result: "PASS" | "FAIL", output: string, at: number) => store.runs.addEvidence({ runId: snap.run_id, time: started,
      vm, host: host.name, step: "operator", check: "snapshot-delete", command, result, output, durationMs: at - started });
    try {
      const id = `operator:${snap.id}:${started}:${++this.counter}`;
      const options = { timeoutMs: this.options.stepTimeoutMs, repeatable: true };
      const done = discard
        ? (await calls.call(host.id, host.name, id, { kind: "snapshot-discard", vm, name }, options)).discarded
        : (await calls.call(host.id, host.name, id, { kind: "snapshot-delete", vm, name }, options)).deleted;
      const result: SnapshotDeleteResult = !done ? "gone" : discard ? "discarded" : diskOnly ? "merged" : "deleted";
      const why = reason ? `: ${reason}` : "";
      const note = {
        gone: `already gone when the operator deleted it (${by})${why}`,
        discarded: `discarded by the operator (${by})${why}`,
        merged: `merged into the disks by the operator (${by})${why}`,
        deleted: `deleted by the operator (${by})${why}`,
      }[result];
      const at = Date.now();
      store.transaction(() => {
        store.runs.markSnapshotDeleted(snap.id, note, at);
        evidence("PASS", note, at);
      });
      return { ...snapshotRecord(store.runs.snapshotOf(host.id, vm, name)!), result };
    } catch (err) {
      const detail = `${errorMessage(err)}${err instanceof NightshiftError ? ` (${err.code})` : ""}`;
      store.transaction(() => {
        store.runs.noteSnapshot(snap.id, `deleting failed: ${detail}`);
        evidence("FAIL", detail, Date.now());
      });
      // The agent's refusal is the answer, with its code (409; an agent's code outside the steps' area is NS_ERR_STEP_FAILED).
      if (err instanceof StepFailedError) {
        throw isHttpErrorCode(err.code) ? new RecoveryError(err.code, err.message)
          : new RecoveryError("NS_ERR_STEP_FAILED", `${err.message} (${err.code})`);
      }
      if (err instanceof AgentLostError || err instanceof StepNoAnswerError) {
        throw new RecoveryError(err.code as "NS_ERR_AGENT_LOST" | "NS_ERR_STEP_NO_ANSWER", `${err.message}; whether the snapshot was deleted is not known yet: look again with ` +
          "nightshift snapshots once the agent is back, and repeat the delete (it is safe to repeat)");
      }
      throw err;
    } finally {
      this.release(snap.id);
    }
  }

  private snapshotMode(snap: SnapshotRow): string {
    const run = this.options.store.runs.getRun(snap.run_id);
    return run ? RunSpecSchema.parse(JSON.parse(run.spec)).snapshotMode : "internal";
  }
}
