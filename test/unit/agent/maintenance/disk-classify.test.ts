import { describe, expect, it } from "vitest";
import { blockingDisks, classifyDisk, publicDisk, snapshotability } from "../../../../agent/maintenance/disk-classify.js";
import { planDiskOnly } from "../../../../agent/maintenance/external-snapshot-xml.js";
import type { DomainDisk } from "../../../../agent/libvirt/domain-xml.js";

const disk = (over: Partial<DomainDisk>): DomainDisk => ({
  target: "vda", bus: "virtio", device: "disk", type: "file", source: "/var/lib/libvirt/images/a.qcow2", driverType: "qcow2",
  readonly: false, shareable: false, ...over,
});

describe("classifyDisk", () => {
  // name, disk, internal: snapshotable and reason, disk-only-quiesce: snapshotable and reason
  const cases: [string, DomainDisk, boolean, RegExp | null, boolean, RegExp | null][] = [
    ["qcow2 file", disk({}), true, null, true, null],
    ["qcow2 pool volume", disk({ type: "volume", source: "default/a.qcow2" }), true, null,
      false, /^disk of type 'volume' \(default\/a\.qcow2\): disk-only snapshots here put a qcow2 overlay file next to/],
    ["raw file", disk({ driverType: "raw" }), false, /raw image: internal snapshots need qcow2; convert it with `qemu-img convert -O qcow2`/,
      true, null],
    ["file without a format", disk({ driverType: null }), false, /unspecified image/, true, null],
    ["LVM volume", disk({ type: "block", source: "/dev/vg0/web1", driverType: "raw" }), false, /block device \/dev\/vg0\/web1 \(LVM volume/,
      false, /^disk of type 'block' \(\/dev\/vg0\/web1\)/],
    ["qcow2 on a block device", disk({ type: "block", source: "/dev/sdb" }), false, /block device \/dev\/sdb/, false, /type 'block'/],
    ["rbd", disk({ type: "network", source: "rbd://mon1/pool/img", driverType: "raw" }), false, /network disk rbd:\/\/mon1\/pool\/img/,
      false, /^disk of type 'network' \(rbd:\/\/mon1\/pool\/img\)/],
    ["LUN passthrough", disk({ type: "block", device: "lun", source: "/dev/sdc", driverType: "raw" }), false, /SCSI LUN passthrough/,
      false, /SCSI LUN passthrough/],
    ["writable shareable", disk({ shareable: true, driverType: "raw" }), false, /shareable disk/, false, /shareable disk/],
    ["nvme", disk({ type: "nvme", source: null }), false, /disk of type 'nvme'/, false, /disk of type 'nvme'/],
    ["read-only cdrom", disk({ device: "cdrom", bus: "sata", readonly: true, driverType: "raw", source: "/iso/debian.iso" }), true,
      /read-only cdrom: not part of the snapshot/, true, /read-only cdrom: not part of the snapshot/],
    ["empty cdrom", disk({ device: "cdrom", source: null, driverType: "raw", readonly: true }), true, /empty cdrom drive/, true, /empty cdrom drive/],
    ["read-only raw data disk", disk({ readonly: true, driverType: "raw" }), true, /read-only disk/, true, /read-only disk/],
    ["empty file drive", disk({ source: null }), true, /empty disk drive/, true, /empty disk drive/],
  ];

  it.each(cases)("%s", (_name, input, snapshotable, reason, diskOnly, diskOnlyReason) => {
    const classified = classifyDisk(input);
    expect(classified.snapshotable).toBe(snapshotable);
    if (reason === null) expect(classified.reason).toBeNull();
    else expect(classified.reason).toMatch(reason);
    expect(snapshotability(classified, "internal")).toEqual({ snapshotable: classified.snapshotable, reason: classified.reason });

    expect(classified.diskOnlySnapshotable).toBe(diskOnly);
    if (diskOnlyReason === null) expect(classified.diskOnlyReason).toBeNull();
    else expect(classified.diskOnlyReason).toMatch(diskOnlyReason);
    expect(snapshotability(classified, "disk-only-quiesce")).toEqual({ snapshotable: diskOnly, reason: classified.diskOnlyReason });
  });

  it.each(cases)("%s: the disk-only verdict is the one the disk-only snapshot applies", (_name, input) => {
    const classified = classifyDisk(input);
    const plan = planDiskOnly(input);
    expect(classified.diskOnlySnapshotable).toBe(plan.refusal === null);
    if (plan.refusal !== null) expect(classified.diskOnlyReason).toBe(plan.refusal);
    // Both modes leave the same drives out of the snapshot (and out of the disk-space check).
    expect(classified.included).toBe(plan.snapshot === "external");
  });

  it("leaves ignored drives out of the snapshot and out of the blocking list", () => {
    const disks = [disk({}), disk({ target: "sda", device: "cdrom", readonly: true, driverType: "raw" }), disk({ target: "vdb", driverType: "raw" })];
    const classified = disks.map(classifyDisk);
    expect(classified.map((d) => d.included)).toEqual([true, false, true]);
    expect(blockingDisks(classified).map((d) => d.target)).toEqual(["vdb"]);
    expect(Object.keys(publicDisk(classified[0]!))).not.toContain("included");
    expect(publicDisk(classified[2]!)).toMatchObject({ snapshotable: false, diskOnlySnapshotable: true, diskOnlyReason: null });
  });

  it("blocks by mode: a raw file only an internal snapshot, a block device both", () => {
    const disks = [disk({}), disk({ target: "vdb", driverType: "raw" }), disk({ target: "vdc", type: "block", source: "/dev/vg0/data", driverType: "raw" })]
      .map(classifyDisk);
    expect(blockingDisks(disks, "internal").map((d) => d.target)).toEqual(["vdb", "vdc"]);
    expect(blockingDisks(disks, "disk-only-quiesce").map((d) => d.target)).toEqual(["vdc"]);
  });
});
