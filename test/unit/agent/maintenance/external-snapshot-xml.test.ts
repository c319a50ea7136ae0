import { describe, expect, it } from "vitest";
import { parseDomainDisks } from "../../../../agent/libvirt/domain-xml.js";
import {
  checkOverlayName, diskOnlySnapshotXml, externalDisks, isExternal, overlayPath, parseSnapshotXml, planDiskOnly, repointDisk,
} from "../../../../agent/maintenance/external-snapshot-xml.js";

const inactiveWithOverlay = `<domain type='qemu'>
  <name>vm</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/img/vm.raw.s1.qcow2'/>
      <backingStore type='file'>
        <format type='raw'/>
        <source file='/img/vm.raw'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/iso/x.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
  </devices>
</domain>
`;

const snapshotXml = `<domainsnapshot>
  <name>s1</name>
  <state>disk-snapshot</state>
  <memory snapshot='no'/>
  <disks>
    <disk name='vda' snapshot='external' type='file'>
      <driver type='qcow2'/>
      <source file='/img/vm.raw.s1.qcow2'/>
    </disk>
    <disk name='sda' snapshot='no'/>
  </disks>
  <domain type='qemu'>
    <name>vm</name>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='raw'/>
        <source file='/img/live-copy.raw' index='1'/>
        <backingStore/>
        <target dev='vda' bus='virtio'/>
      </disk>
    </devices>
  </domain>
  <inactiveDomain type='qemu'>
    <name>vm</name>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='raw'/>
        <source file='/img/vm.raw'/>
        <target dev='vda' bus='virtio'/>
      </disk>
    </devices>
  </inactiveDomain>
</domainsnapshot>`;

describe("external snapshot XML", () => {
  it("plans a disk-only snapshot: file disks of any format get an overlay, read-only drives are left out, others refused", () => {
    const disks = parseDomainDisks(inactiveWithOverlay.replace("/img/vm.raw.s1.qcow2", "/img/vm.raw"));
    expect(disks.map(planDiskOnly)).toEqual([
      { target: "vda", source: "/img/vm.raw", driverType: "qcow2", snapshot: "external", refusal: null },
      { target: "sda", source: "/iso/x.iso", driverType: "raw", snapshot: "no", refusal: null },
    ]);
    const block = planDiskOnly({ target: "vdb", bus: "virtio", device: "disk", type: "block", source: "/dev/vg/lv", driverType: "raw",
      readonly: false, shareable: false });
    expect(block.refusal).toMatch(/^disk of type 'block' \(\/dev\/vg\/lv\): disk-only snapshots here put a qcow2 overlay/);
  });

  it("asks for external overlays next to each disk, named after the snapshot, escaped", () => {
    expect(overlayPath("/img/a.qcow2", "n1")).toBe("/img/a.qcow2.n1.qcow2");
    const xml = diskOnlySnapshotXml("n'1", "a<b", [
      { target: "vda", source: "/img/a.qcow2", driverType: "qcow2", snapshot: "external", refusal: null },
      { target: "sda", source: null, driverType: null, snapshot: "no", refusal: null },
    ]);
    expect(xml).toBe("<domainsnapshot><name>n&apos;1</name><description>a&lt;b</description><memory snapshot='no'/><disks>" +
      "<disk name='vda' snapshot='external' type='file'><driver type='qcow2'/><source file='/img/a.qcow2.n&apos;1.qcow2'/></disk>" +
      "<disk name='sda' snapshot='no'/></disks></domainsnapshot>");
    expect(checkOverlayName("nightshift-r1-web1")).toBeNull();
    expect(checkOverlayName("../x")).toMatch(/'\/'/);
    expect(checkOverlayName(".hidden")).toMatch(/starts with/);
  });

  it("reads an external snapshot: its overlays and the files (and formats) of the persistent definition before it", () => {
    const info = parseSnapshotXml(snapshotXml);
    expect(isExternal(info)).toBe(true);
    expect(info.memory).toBe("no");
    expect(externalDisks(info)).toEqual([{ target: "vda", overlay: "/img/vm.raw.s1.qcow2", original: "/img/vm.raw", originalFormat: "raw" }]);
    // Without <inactiveDomain> (older libvirt), the running definition's copy says it.
    const noInactive = parseSnapshotXml(snapshotXml.replace(/<inactiveDomain[\s\S]*<\/inactiveDomain>/, ""));
    expect(externalDisks(noInactive)[0]?.original).toBe("/img/live-copy.raw");
    const internal = parseSnapshotXml("<domainsnapshot><name>i</name><memory snapshot='internal'/><disks>" +
      "<disk name='vda' snapshot='internal'/></disks></domainsnapshot>");
    expect(isExternal(internal)).toBe(false);
  });

  it("points a disk back at its image: source, format and no backing chain change, nothing else", () => {
    const out = repointDisk(inactiveWithOverlay, "vda", "/img/vm.raw", "raw");
    expect(out).toBe(inactiveWithOverlay
      .replace("<driver name='qemu' type='qcow2' cache='none'/>", "<driver name='qemu' type='raw' cache='none'/>")
      .replace("/img/vm.raw.s1.qcow2", "/img/vm.raw")
      .replace(/ *<backingStore type='file'>[\s\S]*?<backingStore\/>\n\s*<\/backingStore>\n/, ""));
    expect(parseDomainDisks(out)[0]).toMatchObject({ target: "vda", source: "/img/vm.raw", driverType: "raw" });
    expect(out).not.toContain("backingStore");
    expect(() => repointDisk(inactiveWithOverlay, "vdz", "/x", null)).toThrow(/no disk vdz/);
    const noType = "<domain><devices><disk type='file'><driver name='qemu'/><source file='/a'/><target dev='vda'/></disk></devices></domain>";
    expect(repointDisk(noType, "vda", "/b&c", "qcow2")).toBe(
      "<domain><devices><disk type='file'><driver name='qemu' type='qcow2'/><source file='/b&amp;c'/><target dev='vda'/></disk></devices></domain>");
  });
});
