/**
 * VM placement: the pure logic (mounts, disk placement, findings) on inventories
 * against the fixture host test/fixtures/hosts/vm-placement (its mountinfo, and
 * pid files and /proc entries for the QEMU uptime), plus the probe's glue with a
 * stand-in libvirt connection.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import type { DomainDisk } from "../../../../agent/libvirt/domain-xml.js";
import { NIGHTSHIFT_VM_NS } from "../../../../agent/probes/domain-metadata.js";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import type { ProbeContext } from "../../../../agent/probes/types.js";
import { parseMountInfo, topMounts } from "../../../../agent/probes/mountinfo.js";
import {
  assessPlacement, collectPlacement, isNetworkStorage, mountFor, parseBootTime, parseProcStat, placeDisk,
  qemuStartTime, serverOfMountSource, type PlacementDomain,
} from "../../../../agent/probes/vm-placement.js";

const ROOT = fileURLToPath(new URL("../../../fixtures/hosts/vm-placement/", import.meta.url));
const mounts = [...topMounts(parseMountInfo(readFileSync(path.join(ROOT, "proc/self/mountinfo"), "utf8")).entries).values()];
const NOW = new Date("2025-03-01T00:00:00Z");
const BTIME = 1730000000; // fixture proc/stat

function disk(source: string | null, over: Partial<DomainDisk> = {}): DomainDisk {
  return { target: "vda", bus: "virtio", device: "disk", type: "file", source, driverType: "qcow2", readonly: false, shareable: false, ...over };
}

function dom(name: string, over: Partial<PlacementDomain> = {}): PlacementDomain {
  return {
    name, autostart: true, persistent: true, disks: [], metadataProblems: [], startedAt: null,
    marks: { critical: false, haGroups: [], criticalFrom: [] }, ...over,
  };
}

describe("mounts", () => {
  it("reads the fixture mountinfo through mountinfo.ts, escapes decoded", () => {
    expect(mounts).toHaveLength(14);
    expect(mounts.find((m) => m.mountPoint === "/mnt/vm store")).toMatchObject({ fstype: "cifs", source: "//Filer02/vmstore", major: 0, minor: 47 });
  });

  it("picks the longest mount-point prefix on a path boundary, lexically", () => {
    const at = (p: string) => mountFor(p, mounts)?.mountPoint;
    expect(at("/srv/vm/web1.qcow2")).toBe("/srv/vm");
    expect(at("/srv/vm/scratch/tmp.img")).toBe("/srv/vm/scratch");
    expect(at("/srv/vmlocal/app1.img")).toBe("/srv/vmlocal");
    expect(at("/srv/vm/../vmlocal/x.img")).toBe("/srv/vmlocal");
    expect(at("/srv/vm")).toBe("/srv/vm");
    expect(at("/opt/images/x.img")).toBe("/");
  });

  it("classifies network file systems, FUSE helpers that serve local data excluded", () => {
    expect(["nfs", "nfs4", "cifs", "smb3", "glusterfs", "ceph", "fuse.sshfs", "fuse.glusterfs"].every(isNetworkStorage)).toBe(true);
    expect(["ext4", "xfs", "tmpfs", "fuse.lxcfs", "fuse.bindfs", "zfs"].some(isNetworkStorage)).toBe(false);
  });

  it("reads the storage server from a mount source", () => {
    expect(serverOfMountSource("nfs4", "nas01:/export/vm")).toBe("nas01");
    expect(serverOfMountSource("nfs", "[fd00::5]:/export")).toBe("fd00::5");
    expect(serverOfMountSource("cifs", "//Filer02/vmstore")).toBe("filer02");
    expect(serverOfMountSource("ceph", "10.0.0.11:6789,10.0.0.12:6789:/")).toBe("10.0.0.11");
    expect(serverOfMountSource("fuse.sshfs", "backup@store03:/vm")).toBe("store03");
    expect(serverOfMountSource("glusterfs", "gl1.example.com:/vmvol")).toBe("gl1.example.com");
    expect(serverOfMountSource("fuse.rclone", "remote")).toBeNull();
  });
});

describe("placeDisk", () => {
  it("network disks, iSCSI by-path devices, files on network and local mounts", () => {
    expect(placeDisk(disk("rbd://mon1/vms/web1", { type: "network" }), mounts)).toEqual(
      { network: true, mount: null, server: "mon1", where: "network disk rbd://mon1/vms/web1" });
    expect(placeDisk(disk("/dev/disk/by-path/ip-10.0.0.7:3260-iscsi-iqn.2024-01.lan.san:vm-lun-0", { type: "block" }), mounts))
      .toMatchObject({ network: true, server: "10.0.0.7" });
    expect(placeDisk(disk("/srv/vm/web1.qcow2"), mounts)).toMatchObject(
      { network: true, server: "nas01", where: "nfs4 nas01:/export/vm mounted at /srv/vm" });
    expect(placeDisk(disk("/var/lib/libvirt/images/a.qcow2"), mounts)).toMatchObject({ network: false, server: null });
    expect(placeDisk(disk("/srv/lxcfs/x.img"), mounts)).toMatchObject({ network: false });
  });

  it("nothing to place: empty cdrom, pool volume", () => {
    expect(placeDisk(disk(null, { device: "cdrom" }), mounts)).toBeNull();
    expect(placeDisk(disk("default/web1.qcow2", { type: "volume" }), mounts)).toBeNull();
  });
});

describe("assessPlacement", () => {
  const settings = { maxVmUptime: 90 * 86_400_000 };

  it("produces exactly the expected findings for a mixed host", () => {
    const domains: PlacementDomain[] = [
      dom("web1", {
        disks: [disk("/srv/vm/web1.qcow2"), disk("/srv/vm/debian.iso", { target: "sdc", device: "cdrom", readonly: true })],
        startedAt: new Date((BTIME + 1000) * 1000),
      }),
      dom("db1", {
        autostart: false, disks: [disk("/srv/vm/db1.qcow2")],
        marks: { critical: true, haGroups: ["db"], criticalFrom: ["metadata"] },
        startedAt: new Date("2025-02-01T00:00:00Z"),
      }),
      dom("db2", { disks: [disk("/srv/vm2/db2.qcow2")], marks: { critical: false, haGroups: ["db"], criticalFrom: [] } }),
      dom("dns1", { disks: [disk("/var/lib/libvirt/images/dns1.qcow2")], marks: { critical: false, haGroups: ["dns"], criticalFrom: [] } }),
      dom("dns2", { disks: [disk("/var/lib/libvirt/images/dns2.qcow2")], marks: { critical: false, haGroups: ["dns"], criticalFrom: [] } }),
      // Both have install media on the same NFS share: not data, not shared storage.
      dom("app1", {
        disks: [disk("/srv/vmlocal/app1.img"), disk("/srv/vm2/inst.iso", { target: "sdc", device: "cdrom" })],
        marks: { critical: false, haGroups: ["app"], criticalFrom: [] },
      }),
      dom("app2", {
        disks: [disk("/var/lib/libvirt/images/app2.img"), disk("/srv/vm2/inst.iso", { target: "sdc", device: "cdrom" })],
        marks: { critical: false, haGroups: ["app"], criticalFrom: [] },
      }),
      dom("tmp1", { persistent: false, autostart: false, marks: { critical: true, haGroups: [], criticalFrom: ["settings"] } }),
      dom("odd1", { metadataProblems: ['<critical> must be true or false, not "maybe"'] }),
    ];
    const findings = assessPlacement(domains, mounts, settings, NOW);
    expect(findings.map((f) => [f.code, f.severity, f.subject])).toEqual([
      ["NS_VM_DISK_ON_NETWORK_FS", "info", "web1/vda"],
      ["NS_VM_DISK_ON_NETWORK_FS", "info", "web1/sdc"],
      ["NS_VM_UPTIME_EXCEEDED", "warning", "web1"],
      ["NS_VM_DISK_ON_NETWORK_FS", "info", "db1/vda"],
      ["NS_VM_CRITICAL_NO_AUTOSTART", "critical", "db1"],
      ["NS_VM_DISK_ON_NETWORK_FS", "info", "db2/vda"],
      ["NS_VM_DISK_ON_NETWORK_FS", "info", "app1/sdc"],
      ["NS_VM_DISK_ON_NETWORK_FS", "info", "app2/sdc"],
      ["NS_VM_CRITICAL_NO_AUTOSTART", "critical", "tmp1"],
      ["NS_VM_METADATA_INVALID", "warning", "odd1"],
      ["NS_VM_HA_SHARED_STORAGE", "critical", "ha-group/db"],
      ["NS_VM_HA_SHARED_STORAGE", "critical", "ha-group/dns"],
    ]);
    const by = (code: string, subject: string) => findings.find((f) => f.code === code && f.subject === subject)!;
    expect(by("NS_VM_DISK_ON_NETWORK_FS", "web1/vda").message).toBe(
      "Disk vda of VM web1 (/srv/vm/web1.qcow2) is on nfs4 nas01:/export/vm mounted at /srv/vm; an outage or reboot of nas01 stalls this VM's I/O.");
    expect(by("NS_VM_UPTIME_EXCEEDED", "web1").message).toBe(
      "VM web1 has run 124 days without a cold restart (QEMU process started 2024-10-27T03:50:00.000Z; limit maxVmUptime 90d).");
    expect(by("NS_VM_UPTIME_EXCEEDED", "web1").remedy).toContain("virsh shutdown web1");
    expect(by("NS_VM_CRITICAL_NO_AUTOSTART", "db1")).toMatchObject({
      message: "VM db1 is marked critical (metadata) but autostart is off: after a host reboot it stays down.", remedy: "virsh autostart db1",
    });
    expect(by("NS_VM_CRITICAL_NO_AUTOSTART", "tmp1").message).toContain("is transient");
    expect(by("NS_VM_HA_SHARED_STORAGE", "ha-group/db").message).toBe(
      "HA group db: db1 and db2 share storage server nas01; one storage failure or maintenance takes the whole group down.");
    expect(by("NS_VM_HA_SHARED_STORAGE", "ha-group/dns").message).toBe(
      "HA group dns: dns1 and dns2 share filesystem /var/lib/libvirt/images (xfs /dev/mapper/vg0-images); one storage failure or maintenance takes the whole group down.");
  });

  it("a shared filesystem on a server is named once, as the filesystem", () => {
    const marks = { critical: false, haGroups: ["g"], criticalFrom: [] };
    const findings = assessPlacement([
      dom("a", { disks: [disk("/srv/vm/a.qcow2")], marks }),
      dom("b", { disks: [disk("/srv/vm/b.qcow2"), disk("/srv/vm2/b2.qcow2", { target: "vdb" })], marks }),
      dom("c", { disks: [disk("/srv/ceph/c.img")], marks }),
    ], mounts, settings, NOW).filter((f) => f.code === "NS_VM_HA_SHARED_STORAGE");
    expect(findings).toHaveLength(1);
    expect(findings[0]!.message).toBe("HA group g: a and b share filesystem /srv/vm (nfs4 nas01:/export/vm); "
      + "one storage failure or maintenance takes the whole group down.");
  });

  it("block devices: not placed on /dev's devtmpfs; only the very same device is shared", () => {
    const marks = { critical: false, haGroups: ["g"], criticalFrom: [] };
    const blk = (src: string) => disk(src, { type: "block", driverType: "raw" });
    expect(placeDisk(blk("/dev/mapper/vg0-a"), mounts)).toEqual({ network: false, mount: null, server: null, where: "block device /dev/mapper/vg0-a" });
    expect(assessPlacement([dom("a", { disks: [blk("/dev/mapper/vg0-a")], marks }), dom("b", { disks: [blk("/dev/mapper/vg0-b")], marks })],
      mounts, settings, NOW)).toEqual([]);
    const same = assessPlacement([dom("a", { disks: [blk("/dev/sdb")], marks }), dom("b", { disks: [blk("/dev/sdb")], marks })], mounts, settings, NOW);
    expect(same.map((f) => f.message)).toEqual(["HA group g: a and b share disk /dev/sdb; one storage failure or maintenance takes the whole group down."]);
  });

  it("uptime at the limit is fine, a day over is not", () => {
    const started = (days: number) => new Date(NOW.getTime() - days * 86_400_000);
    expect(assessPlacement([dom("x", { startedAt: started(90) })], mounts, settings, NOW)).toEqual([]);
    expect(assessPlacement([dom("x", { startedAt: started(91) })], mounts, settings, NOW).map((f) => f.code)).toEqual(["NS_VM_UPTIME_EXCEEDED"]);
  });
});

describe("QEMU start time from the fixture's /proc and pid files", () => {
  const root = new HostRoot(ROOT);

  it("parses /proc/stat btime and /proc/<pid>/stat with a comm holding spaces and parentheses", () => {
    expect(parseBootTime(readFileSync(path.join(ROOT, "proc/stat"), "utf8"))).toBe(BTIME);
    const line = "77 (qemu (x) y) S 1 77 77 0 -1 4194560 1 0 0 0 1 0 0 0 20 0 1 0 4321 8802304 1164 1 1 1";
    expect(parseProcStat(line)).toEqual({ comm: "qemu (x) y", startTicks: 4321 });
  });

  it("dates a VM by its QEMU process; a pid file whose pid is now another program, or none, gives null", async () => {
    expect(await qemuStartTime(root, "web1", BTIME, 100)).toEqual(new Date((BTIME + 1000) * 1000));
    expect(await qemuStartTime(root, "web2", BTIME, 100)).toBeNull();
    expect(await qemuStartTime(root, "web3", BTIME, 100)).toBeNull();
  });
});

describe("the probe with a stand-in libvirt connection", () => {
  function ctx(libvirt: LibvirtConnection | null, settings: Record<string, unknown> = {}): ProbeContext {
    return {
      root: new HostRoot(ROOT), commands: recordedCommands(new HostRoot(ROOT)), settings: ProbeSettingsSchema.parse(settings), libvirt,
      signal: new AbortController().signal, log: pino({ level: "silent" }), now: () => NOW,
    };
  }

  const xml = (name: string, source: string, metadata = "") =>
    `<domain type='kvm'><name>${name}</name>${metadata}<devices><disk type='file' device='disk'><source file='${source}'/>`
    + "<target dev='vda' bus='virtio'/></disk></devices></domain>";

  function fakeConnection(doms: { name: string; id: number; autostart: boolean; xml: string }[]): LibvirtConnection {
    const find = (d: { name: string }) => doms.find((x) => x.name === d.name)!;
    return {
      connectListAllDomains: async () => doms.map((d) => ({ name: d.name, uuid: "00000000-0000-0000-0000-000000000000", id: d.id })),
      domainGetXMLDesc: async (d: { name: string }) => find(d).xml,
      domainGetAutostart: async (d: { name: string }) => find(d).autostart,
      domainIsPersistent: async () => true,
      domainIsActive: async (d: { name: string }) => find(d).id > 0,
    } as unknown as LibvirtConnection;
  }

  it("is not applicable without libvirt", async () => {
    expect(await collectPlacement(ctx(null))).toEqual({ status: "not-applicable", detail: "no libvirt connection", findings: [] });
  });

  it("reads marks from metadata and settings, uptime from the fixture's pid files", async () => {
    const meta = `<metadata><n:vm xmlns:n="${NIGHTSHIFT_VM_NS}"><n:critical>true</n:critical></n:vm></metadata>`;
    const conn = fakeConnection([
      { name: "web1", id: 3, autostart: true, xml: xml("web1", "/var/lib/libvirt/images/web1.qcow2") },
      { name: "web2", id: 4, autostart: false, xml: xml("web2", "/var/lib/libvirt/images/web2.qcow2", meta) },
      { name: "web3", id: -1, autostart: false, xml: xml("web3", "/srv/vmlocal/web3.qcow2") },
    ]);
    const out = await collectPlacement(ctx(conn, { criticalVms: ["web3"], haGroups: { web: ["web1", "web2"] } }));
    expect(out.status).toBe("ok");
    expect(out.detail).toBeUndefined();
    expect(out.findings.map((f) => [f.code, f.subject])).toEqual([
      ["NS_VM_UPTIME_EXCEEDED", "web1"],
      ["NS_VM_CRITICAL_NO_AUTOSTART", "web2"],
      ["NS_VM_CRITICAL_NO_AUTOSTART", "web3"],
      ["NS_VM_HA_SHARED_STORAGE", "ha-group/web"],
    ]);
    expect(out.findings[1]!.message).toContain("marked critical (metadata)");
    expect(out.findings[2]!.message).toContain("marked critical (settings)");
  });
});
