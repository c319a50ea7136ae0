import { describe, expect, it } from "vitest";
import { parseHostdevs } from "../../../../agent/maintenance/domain-devices.js";

describe("parseHostdevs", () => {
  it("describes PCI, USB, SCSI and mediated devices, and finds none in a plain VM", () => {
    const xml = `<domain type='kvm'><name>gpu1</name><devices>
      <disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda'/></disk>
      <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/></source></hostdev>
      <hostdev mode='subsystem' type='usb'><source><vendor id='0x046d'/><product id='0xc52b'/></source></hostdev>
      <hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='1'/></source></hostdev>
      <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>
    </devices></domain>`;
    expect(parseHostdevs(xml)).toEqual([
      "pci 0000:03:00.1", "usb 046d:c52b", "scsi scsi_host0 0:0:1", "mdev c2177883-f1bb-47f0-914d-32a22e3a8804",
    ]);
    expect(parseHostdevs("<domain><devices><disk type='file'/></devices></domain>")).toEqual([]);
  });
});
