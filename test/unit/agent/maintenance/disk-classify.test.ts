import { describe, expect, it } from "vitest";
import { blockingDisks, classifyDisk, publicDisk } from "../../../../agent/maintenance/disk-classify.js";
import type { DomainDisk } from "../../../../agent/libvirt/domain-xml.js";

const disk = (over: Partial<DomainDisk>): DomainDisk => ({
  target: "vda", bus: "virtio", device: "disk", type: "file", source: "/var/lib/libvirt/images/a.qcow2", driverType: "qcow2",
  readonly: false, shareable: false, ...over,
});

describe("classifyDisk", () => {
  it.each([
    ["qcow2 file", disk({}), true, null],
    ["qcow2 pool volume", disk({ type: "volume", source: "default/a.qcow2" }), true, null],
    ["raw file", disk({ driverType: "raw" }), false, /raw image: internal snapshots need qcow2; convert it with `qemu-img convert -O qcow2`/],
    ["file without a format", disk({ driverType: null }), false, /unspecified image/],
    ["LVM volume", disk({ type: "block", source: "/dev/vg0/web1", driverType: "raw" }), false, /block device \/dev\/vg0\/web1 \(LVM volume/],
    ["qcow2 on a block device", disk({ type: "block", source: "/dev/sdb" }), false, /block device \/dev\/sdb/],
    ["rbd", disk({ type: "network", source: "rbd://mon1/pool/img", driverType: "raw" }), false, /network disk rbd:\/\/mon1\/pool\/img/],
    ["LUN passthrough", disk({ type: "block", device: "lun", source: "/dev/sdc", driverType: "raw" }), false, /SCSI LUN passthrough/],
    ["writable shareable", disk({ shareable: true, driverType: "raw" }), false, /shareable disk/],
    ["nvme", disk({ type: "nvme", source: null }), false, /disk of type 'nvme'/],
    ["read-only cdrom", disk({ device: "cdrom", bus: "sata", readonly: true, driverType: "raw", source: "/iso/debian.iso" }), true,
      /read-only cdrom: not part of the snapshot/],
    ["empty cdrom", disk({ device: "cdrom", source: null, driverType: "raw", readonly: true }), true, /empty cdrom drive/],
    ["read-only raw data disk", disk({ readonly: true, driverType: "raw" }), true, /read-only disk/],
  ])("%s", (_name, input, snapshotable, reason) => {
    const classified = classifyDisk(input);
    expect(classified.snapshotable).toBe(snapshotable);
    if (reason === null) expect(classified.reason).toBeNull();
    else expect(classified.reason).toMatch(reason);
  });

  it("leaves ignored drives out of the snapshot and out of the blocking list", () => {
    const disks = [disk({}), disk({ target: "sda", device: "cdrom", readonly: true, driverType: "raw" }), disk({ target: "vdb", driverType: "raw" })];
    const classified = disks.map(classifyDisk);
    expect(classified.map((d) => d.included)).toEqual([true, false, true]);
    expect(blockingDisks(classified).map((d) => d.target)).toEqual(["vdb"]);
    expect(Object.keys(publicDisk(classified[0]!))).not.toContain("included");
  });
});
