/**
 * Snapshots by name: create (idempotent: a name that exists is not made
 * again), exists, revert, delete, and discard (disk-only snapshots of a VM
 * that is off: back to the disks it had, see ../external-snapshot.ts).
 *
 * - mode internal: QEMU's savevm into the qcow2 images, with the memory of a
 *   running VM, so a revert brings the VM back running exactly where it was.
 * - mode disk-only-quiesce: external qcow2 overlays with the guest's
 *   filesystems frozen by its agent; revert and delete of such a snapshot
 *   (found by its XML) are done by ../external-snapshot.ts, because libvirt
 *   9.0 does neither for external snapshots.
 *
 * Every snapshot this agent creates carries its marker, and it reverts,
 * deletes (for a disk-only snapshot: merges) or reports as already there only
 * snapshots that are nightshift's by name and marker (../snapshot-ownership.ts):
 * an operator's snapshot is never touched, whatever the controller asks.
 */
import { StepErrorCodes, type StepResultOf } from "../../../shared/protocol/steps.js";
import type { LibvirtConnection } from "../../libvirt/connection.js";
import { parseDomainDisks, xmlEscape } from "../../libvirt/domain-xml.js";
import { isLibvirtError } from "../../libvirt/errors.js";
import { ErrorCode } from "../../libvirt/protocol.js";
import type { DomainRef, SnapshotRef } from "../../libvirt/remote-types.js";
import { blockingDisks, classifyDisk } from "../disk-classify.js";
import { StepError } from "../errors.js";
import type { StepHandler } from "../types.js";
import { lookupVm } from "../vm.js";
import { createDiskOnlyQuiesce, deleteExternal, discardExternal, revertExternal, snapshotIsExternal } from "../external-snapshot.js";
import { isExternal, parseSnapshotXml } from "../external-snapshot-xml.js";
import { markedDescription, requireOurName, requireOurSnapshot } from "../snapshot-ownership.js";

/** The snapshot, or null when the VM has none of that name. */
async function findSnapshot(conn: LibvirtConnection, dom: DomainRef, name: string): Promise<SnapshotRef | null> {
  try {
    return await conn.domainSnapshotLookupByName(dom, name);
  } catch (err) {
    if (isLibvirtError(err, ErrorCode.VIR_ERR_NO_DOMAIN_SNAPSHOT)) return null;
    throw err;
  }
}

function hasMemory(xml: string): boolean {
  return /<memory\s+snapshot=['"]internal['"]/.test(xml);
}

/** create's answer for a snapshot of that name that is there already: fine if it is ours, refused if it is not. */
async function alreadyThere(conn: LibvirtConnection, vm: string, snap: SnapshotRef): Promise<StepResultOf<"snapshot-create">> {
  const xml = await requireOurSnapshot(conn, vm, snap, "take it for a snapshot of its own");
  return { name: snap.name, created: false, withMemory: hasMemory(xml), durationMs: 0 };
}

export const snapshotCreateAction: StepHandler<"snapshot-create"> = {
  kind: "snapshot-create",
  async run(action, ctx) {
    // Only names this agent can recognise later: a snapshot it could not revert or delete is of no use to a run.
    requireOurName(action.vm, action.name, "create it");
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    const existing = await findSnapshot(conn, dom, action.name);
    if (existing) return alreadyThere(conn, action.vm, existing);
    const description = markedDescription(action.description);
    if (action.mode === "disk-only-quiesce") {
      const started = performance.now();
      try {
        await createDiskOnlyQuiesce(conn, dom, action.name, description);
      } catch (err) {
        const raced = await findSnapshot(conn, dom, action.name).catch(() => null);
        if (raced) return alreadyThere(conn, action.vm, raced);
        throw err;
      }
      return { name: action.name, created: true, withMemory: false, durationMs: performance.now() - started };
    }

    // An internal snapshot taken while the disks are on an external snapshot's overlays would live in those
    // overlays, and go with them when that snapshot is reverted or deleted.
    for (const other of await conn.domainListAllSnapshots(dom)) {
      if (await snapshotIsExternal(conn, other)) {
        throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm} has the external snapshot ${other.name}: its disks are on that ` +
          `snapshot's overlays, where an internal snapshot would be lost when ${other.name} is reverted or deleted; delete ${other.name} first`);
      }
    }
    // Said here, per disk, rather than left to libvirt's one-line refusal.
    const blocking = blockingDisks(parseDomainDisks(await conn.domainGetXMLDesc(dom)).map(classifyDisk));
    if (blocking.length > 0) {
      throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm} cannot take an internal snapshot: ` +
        blocking.map((d) => `disk ${d.target}: ${d.reason ?? "not snapshotable"}`).join("; "));
    }
    const xml = `<domainsnapshot><name>${xmlEscape(action.name)}</name><description>${xmlEscape(description)}</description></domainsnapshot>`;
    const started = performance.now();
    let snap: SnapshotRef;
    try {
      // Default flags: libvirt includes a running VM's memory in an internal snapshot.
      snap = await conn.domainSnapshotCreateXML(dom, xml, 0);
    } catch (err) {
      // Another step (another id) may have created the same name meanwhile: the name is what counts.
      const raced = await findSnapshot(conn, dom, action.name).catch(() => null);
      if (raced) return alreadyThere(conn, action.vm, raced);
      throw err;
    }
    const durationMs = performance.now() - started;
    return { name: action.name, created: true, withMemory: hasMemory(await conn.domainSnapshotGetXMLDesc(snap)), durationMs };
  },
};

export const snapshotExistsAction: StepHandler<"snapshot-exists"> = {
  kind: "snapshot-exists",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    return { exists: (await findSnapshot(conn, dom, action.name)) !== null };
  },
};

export const snapshotRevertAction: StepHandler<"snapshot-revert"> = {
  kind: "snapshot-revert",
  async run(action, ctx) {
    requireOurName(action.vm, action.name, "revert to it");
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    const snap = await findSnapshot(conn, dom, action.name);
    if (!snap) {
      const names = (await conn.domainListAllSnapshots(dom)).map((s) => s.name);
      throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm} has no snapshot named ${action.name}; ` +
        `it has ${names.length > 0 ? names.join(", ") : "none"}`);
    }
    const xml = await requireOurSnapshot(conn, action.vm, snap, "revert to it");
    const started = performance.now();
    if (isExternal(parseSnapshotXml(xml))) {
      await revertExternal(conn, dom, snap);
      const durationMs = performance.now() - started;
      const { state } = await conn.domainGetState(dom);
      return { state, durationMs };
    }
    try {
      // No flags: libvirt restores the state the snapshot was taken in (running with its memory, or shut off).
      await conn.domainRevertToSnapshot(snap, 0);
    } catch (err) {
      if (isLibvirtError(err, ErrorCode.VIR_ERR_SNAPSHOT_REVERT_RISKY)) {
        throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm}: libvirt refuses to revert to ${action.name} without force: ` +
          `${err.message}; revert by hand (\`virsh snapshot-revert ${action.vm} ${action.name} --force\`) once you checked why`, { cause: err });
      }
      throw err;
    }
    const durationMs = performance.now() - started;
    const { state } = await conn.domainGetState(dom);
    return { state, durationMs };
  },
};

export const snapshotDeleteAction: StepHandler<"snapshot-delete"> = {
  kind: "snapshot-delete",
  async run(action, ctx) {
    requireOurName(action.vm, action.name, "delete it");
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    const snap = await findSnapshot(conn, dom, action.name);
    if (!snap) return { deleted: false };
    // For a disk-only snapshot delete means merging its overlays into the disks (retention's block commit).
    const xml = await requireOurSnapshot(conn, action.vm, snap, "delete it");
    if (isExternal(parseSnapshotXml(xml))) {
      await deleteExternal(conn, dom, snap);
      return { deleted: true };
    }
    await conn.domainSnapshotDelete(snap, 0);
    return { deleted: true };
  },
};

export const snapshotDiscardAction: StepHandler<"snapshot-discard"> = {
  kind: "snapshot-discard",
  async run(action, ctx) {
    requireOurName(action.vm, action.name, "discard it");
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    const snap = await findSnapshot(conn, dom, action.name);
    if (!snap) return { discarded: false };
    const xml = await requireOurSnapshot(conn, action.vm, snap, "discard it");
    if (!isExternal(parseSnapshotXml(xml))) {
      throw new StepError(StepErrorCodes.NOT_DISK_ONLY, `VM ${action.vm}: snapshot ${action.name} is an internal snapshot: deleting it ` +
        `never changes the VM, and going back to it is a revert (virsh snapshot-revert ${action.vm} ${action.name}), not a discard; ` +
        "nothing was changed: delete it without discarding");
    }
    await discardExternal(conn, dom, snap);
    return { discarded: true };
  },
};
