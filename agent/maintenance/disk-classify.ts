/**
 * Which disks an internal snapshot (QEMU savevm, the `internal` mode of
 * snapshot-create) can take, and why not for the others.
 *
 * Internal snapshots live inside the image, so they need a qcow2 image in a
 * file or a storage-pool volume. Raw images, block devices (LVM volumes,
 * partitions, whole disks: the image cannot grow to hold the snapshot),
 * network disks (rbd, iSCSI, ...), SCSI LUN passthrough and other source types
 * cannot take one, and a VM with such a disk cannot be snapshotted as a whole.
 *
 * Ignored (listed, snapshotable, not part of the snapshot): read-only disks,
 * cdroms and floppies included, and empty drives. QEMU's savevm skips
 * read-only and empty drives and libvirt defaults their snapshot to "no", so
 * they never block a snapshot.
 *
 * Shareable disks that are writable DO block: a snapshot of one VM would
 * capture, and a revert roll back, storage that other VMs write to.
 *
 * Each disk also says whether a disk-only-quiesce snapshot can take it
 * (`diskOnlySnapshotable`, `diskOnlyReason`). That rule is planDiskOnly's in
 * external-snapshot-xml.ts, the one the snapshot itself applies, not a copy:
 * writable file disks, raw or qcow2, get an overlay; block, network, volume,
 * LUN and shareable disks cannot. Both modes leave out the same read-only and
 * empty drives.
 */
import type { z } from "zod";
import type { DiskSnapshotabilitySchema } from "../../shared/protocol/steps.js";
import type { DomainDisk } from "../libvirt/domain-xml.js";
import { planDiskOnly } from "./external-snapshot-xml.js";

export type DiskSnapshotability = z.infer<typeof DiskSnapshotabilitySchema>;

export interface ClassifiedDisk extends DiskSnapshotability {
  /** Part of the snapshot: counts for disk space. False for the ignored read-only and empty drives. */
  included: boolean;
  /** Always set by this agent (optional in the protocol only for older agents). */
  diskOnlySnapshotable: boolean;
  diskOnlyReason: string | null;
}

export type SnapshotMode = "internal" | "disk-only-quiesce";

type InternalClass = Omit<ClassifiedDisk, "diskOnlySnapshotable" | "diskOnlyReason">;

export function classifyDisk(disk: DomainDisk): ClassifiedDisk {
  const internal = classifyInternal(disk);
  const plan = planDiskOnly(disk);
  return {
    ...internal,
    diskOnlySnapshotable: plan.refusal === null,
    // A drive the disk-only snapshot leaves out is left out for the same reason as the internal one's.
    diskOnlyReason: plan.refusal ?? (plan.snapshot === "no" ? internal.reason : null),
  };
}

/** Whether a snapshot of this mode can take the disk, and why not (or why it is left out). */
export function snapshotability(disk: ClassifiedDisk, mode: SnapshotMode): { snapshotable: boolean; reason: string | null } {
  return mode === "disk-only-quiesce"
    ? { snapshotable: disk.diskOnlySnapshotable, reason: disk.diskOnlyReason }
    : { snapshotable: disk.snapshotable, reason: disk.reason };
}

function classifyInternal(disk: DomainDisk): InternalClass {
  const base = { target: disk.target, type: disk.type, device: disk.device, driverType: disk.driverType, source: disk.source };
  const ok = (reason: string | null, included: boolean): InternalClass => ({ ...base, snapshotable: true, reason, included });
  const no = (reason: string): InternalClass => ({ ...base, snapshotable: false, reason, included: true });

  const removable = disk.device === "cdrom" || disk.device === "floppy";
  if (disk.source === null && (removable || disk.type === "file")) return ok(`empty ${disk.device} drive: not part of the snapshot`, false);
  if (disk.readonly || disk.device === "cdrom") return ok(`read-only ${disk.device}: not part of the snapshot`, false);
  if (disk.device === "lun") {
    return no("SCSI LUN passthrough (device='lun'): the guest talks to the real device, whose state a snapshot cannot capture");
  }
  if (disk.shareable) {
    return no("shareable disk: a snapshot of this VM would capture, and a revert roll back, storage other VMs write to");
  }
  switch (disk.type) {
    case "file":
    case "volume":
      break;
    case "block":
      return no(`block device ${disk.source ?? ""} (LVM volume, partition or disk): internal snapshots need a qcow2 image file ` +
        "that can grow; snapshot it with LVM or the storage instead");
    case "network":
      return no(`network disk ${disk.source ?? ""}: internal snapshots need a local qcow2 image; snapshot it on the storage side (e.g. rbd snap)`);
    default:
      return no(`disk of type '${disk.type}': internal snapshots need a qcow2 image file or volume`);
  }
  if (disk.driverType !== "qcow2") {
    const format = disk.driverType ?? "unspecified";
    return no(`${format} image: internal snapshots need qcow2; convert it with \`qemu-img convert -O qcow2\` while the VM is shut off`);
  }
  return ok(null, true);
}

/** The disks blocking a snapshot of this mode (default internal), for an error message; empty when the VM can be snapshotted. */
export function blockingDisks(disks: ClassifiedDisk[], mode: SnapshotMode = "internal"): ClassifiedDisk[] {
  return disks.filter((d) => !snapshotability(d, mode).snapshotable);
}

/** The protocol's shape: without the agent-internal `included`. */
export function publicDisk(disk: ClassifiedDisk): DiskSnapshotability {
  const { included: _included, ...rest } = disk;
  return rest;
}
