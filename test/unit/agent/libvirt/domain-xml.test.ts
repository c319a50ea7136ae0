import { describe, expect, it } from "vitest";
import { parseDomainDisks } from "../../../../agent/libvirt/domain-xml.js";

const XML = `<domain type='kvm'>
  <name>web1</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web 1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/vg0/web1-data'/>
      <target dev='vdb' bus='virtio'/>
      <shareable/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd' name='export1'><host name='nas01' port='10809'/></source>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='volume' device='disk'>
      <source pool='default' volume='vol.img'/>
      <target dev='vdd'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
  </devices>
</domain>`;

describe("parseDomainDisks", () => {
  it("reads target, source, format and flags of every disk kind", () => {
    expect(parseDomainDisks(XML)).toEqual([
      { target: "vda", bus: "virtio", device: "disk", type: "file", source: "/var/lib/libvirt/images/web 1.qcow2", driverType: "qcow2", readonly: false, shareable: false },
      { target: "vdb", bus: "virtio", device: "disk", type: "block", source: "/dev/vg0/web1-data", driverType: "raw", readonly: false, shareable: true },
      { target: "vdc", bus: "virtio", device: "disk", type: "network", source: "nbd://nas01/export1", driverType: "raw", readonly: false, shareable: false },
      { target: "vdd", bus: null, device: "disk", type: "volume", source: "default/vol.img", driverType: null, readonly: false, shareable: false },
      { target: "sda", bus: "sata", device: "cdrom", type: "file", source: null, driverType: null, readonly: true, shareable: false },
    ]);
  });

  it("returns no disks for a domain without devices", () => {
    expect(parseDomainDisks("<domain><name>x</name></domain>")).toEqual([]);
  });
});
