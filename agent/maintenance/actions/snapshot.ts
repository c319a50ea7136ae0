/**
 * Snapshots by name: create (idempotent: a name that exists is not made
 * again), exists, revert, delete. Internal snapshots only: QEMU's savevm into
 * the qcow2 images, with the memory of a running VM, so a revert brings the
 * VM back running exactly where it was.
 */
import { StepErrorCodes } from "../../../shared/protocol/steps.js";
import type { LibvirtConnection } from "../../libvirt/connection.js";
import { parseDomainDisks } from "../../libvirt/domain-xml.js";
import { isLibvirtError } from "../../libvirt/errors.js";
import { ErrorCode } from "../../libvirt/protocol.js";
import type { DomainRef, SnapshotRef } from "../../libvirt/remote-types.js";
import { blockingDisks, classifyDisk } from "../disk-classify.js";
import { StepError } from "../errors.js";
import type { StepHandler } from "../types.js";
import { lookupVm } from "../vm.js";

function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c] ?? c);
}

/** The snapshot, or null when the VM has none of that name. */
async function findSnapshot(conn: LibvirtConnection, dom: DomainRef, name: string): Promise<SnapshotRef | null> {
  try {
    return await conn.domainSnapshotLookupByName(dom, name);
  } catch (err) {
    if (isLibvirtError(err, ErrorCode.VIR_ERR_NO_DOMAIN_SNAPSHOT)) return null;
    throw err;
  }
}

async function hasMemory(conn: LibvirtConnection, snap: SnapshotRef): Promise<boolean> {
  return /<memory\s+snapshot=['"]internal['"]/.test(await conn.domainSnapshotGetXMLDesc(snap));
}

export const snapshotCreateAction: StepHandler<"snapshot-create"> = {
  kind: "snapshot-create",
  async run(action, ctx) {
    if (action.mode === "disk-only-quiesce") {
      throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm}: disk-only-quiesce snapshots are not supported by this agent yet; ` +
        "use mode internal (needs qcow2 disks)");
    }
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    const existing = await findSnapshot(conn, dom, action.name);
    if (existing) return { name: action.name, created: false, withMemory: await hasMemory(conn, existing), durationMs: 0 };

    // Said here, per disk, rather than left to libvirt's one-line refusal.
    const blocking = blockingDisks(parseDomainDisks(await conn.domainGetXMLDesc(dom)).map(classifyDisk));
    if (blocking.length > 0) {
      throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm} cannot take an internal snapshot: ` +
        blocking.map((d) => `disk ${d.target}: ${d.reason ?? "not snapshotable"}`).join("; "));
    }
    const xml = `<domainsnapshot><name>${xmlEscape(action.name)}</name><description>${xmlEscape(action.description)}</description></domainsnapshot>`;
    const started = performance.now();
    let snap: SnapshotRef;
    try {
      // Default flags: libvirt includes a running VM's memory in an internal snapshot.
      snap = await conn.domainSnapshotCreateXML(dom, xml, 0);
    } catch (err) {
      // Another step (another id) may have created the same name meanwhile: the name is what counts.
      const raced = await findSnapshot(conn, dom, action.name).catch(() => null);
      if (raced) return { name: action.name, created: false, withMemory: await hasMemory(conn, raced), durationMs: 0 };
      throw err;
    }
    const durationMs = performance.now() - started;
    return { name: action.name, created: true, withMemory: await hasMemory(conn, snap), durationMs };
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
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    const snap = await findSnapshot(conn, dom, action.name);
    if (!snap) {
      const names = (await conn.domainListAllSnapshots(dom)).map((s) => s.name);
      throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm} has no snapshot named ${action.name}; ` +
        `it has ${names.length > 0 ? names.join(", ") : "none"}`);
    }
    const started = performance.now();
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
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    const snap = await findSnapshot(conn, dom, action.name);
    if (!snap) return { deleted: false };
    await conn.domainSnapshotDelete(snap, 0);
    return { deleted: true };
  },
};
