/**
 * The fstab probe through the real runner against the fixture hosts
 * (test/fixtures/hosts/<case>: etc/fstab, etc/hosts, commands/blkid,
 * commands/getent-ahostsv4-NAME): every rule with its exact code, severity,
 * subject and remedy line, plus the outcomes that are not findings (no fstab,
 * unreadable fstab).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { FSTAB_CODES, NETWORK_MOUNT_TIMEOUT_OPTION, fstabProbe } from "../../../../agent/probes/fstab.js";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";
import { PROBES } from "../../../../agent/probes/index.js";
import { runProbes } from "../../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import { HealthReportSchema, type HealthReport } from "../../../../shared/protocol/findings.js";

const fixture = (name: string) => fileURLToPath(new URL(`../../../fixtures/hosts/${name}`, import.meta.url));
const log = pino({ level: "silent" });

async function check(root: HostRoot): Promise<HealthReport> {
  const report = await runProbes([fstabProbe], { root, commands: recordedCommands(root), settings: ProbeSettingsSchema.parse({}), libvirt: null, log, now: () => new Date() });
  HealthReportSchema.parse(report);
  return report;
}
const run = (name: string) => check(new HostRoot(fixture(name)));
const rows = (r: HealthReport) => r.findings.map((f) => [f.code, f.severity, f.subject]);
const remedy = (r: HealthReport, code: string, subject: string) => {
  const found = r.findings.find((f) => f.code === code && f.subject === subject);
  expect(found, `${code} ${subject}`).toBeDefined();
  return found!.remedy;
};

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});
function tempRoot(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-fstab-probe-"));
  temps.push(dir);
  return dir;
}

describe("fstab probe: registry", () => {
  it("is registered once, on by default, and every finding is stamped with its name", async () => {
    expect(PROBES.filter((p) => p.name === "fstab")).toEqual([fstabProbe]);
    expect(fstabProbe.defaultEnabled).toBe(true);
    const r = await run("incident");
    expect(new Set(r.findings.map((f) => f.probe))).toEqual(new Set(["fstab"]));
    for (const f of r.findings) expect(FSTAB_CODES).toContain(f.code);
  });
});

describe("fstab probe: healthy and odd-but-valid hosts say nothing", () => {
  it("healthy", async () => {
    const r = await run("healthy");
    expect(r.findings).toEqual([]);
    expect(r.probes).toEqual([expect.objectContaining({ name: "fstab", status: "ok" })]);
    expect(r.probes[0]!.detail).toMatch(/^8 entries \(1 network\), 0 unparseable; 5 block devices from .*healthy\/commands\/blkid$/);
  });

  it("escapes-and-kinds: \\040, tags, by-id link, /dev/mapper, ext3 as ext4, auto, type list, bind/rbind, swap file, pseudo filesystems", async () => {
    const r = await run("escapes-and-kinds");
    expect(r.findings).toEqual([]);
    expect(r.probes[0]!.detail).toMatch(/^15 entries \(0 network\), 0 unparseable; 11 block devices/);
  });
});

describe("fstab probe: the incident", () => {
  it("finds both NFS lines by hostname without nofail, and the ext4 disk declared xfs: 3 critical", async () => {
    const r = await run("incident");
    expect(rows(r)).toEqual([
      ["NS_FSTAB_NETWORK_NO_NOFAIL", "critical", "/srv/nas"],
      ["NS_FSTAB_NETWORK_NO_NETDEV", "warning", "/srv/nas"],
      ["NS_FSTAB_NETWORK_NO_TIMEOUT", "warning", "/srv/nas"],
      ["NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME", "warning", "/srv/nas"],
      ["NS_FSTAB_NETWORK_NO_NOFAIL", "critical", "/srv/backup"],
      ["NS_FSTAB_NETWORK_NO_NETDEV", "warning", "/srv/backup"],
      ["NS_FSTAB_NETWORK_NO_TIMEOUT", "warning", "/srv/backup"],
      ["NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME", "warning", "/srv/backup"],
      ["NS_FSTAB_TYPE_MISMATCH", "critical", "/srv/data"],
    ]);
  });

  it("gives each NFS line one corrected line with every fix: the server's address, nofail, _netdev, a mount timeout; columns kept", async () => {
    const r = await run("incident");
    const nas = "192.168.10.20:/vmstore                    /srv/nas        nfs     defaults,nofail,_netdev,x-systemd.mount-timeout=30 0 0";
    for (const code of ["NS_FSTAB_NETWORK_NO_NOFAIL", "NS_FSTAB_NETWORK_NO_NETDEV", "NS_FSTAB_NETWORK_NO_TIMEOUT", "NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME"]) {
      expect(remedy(r, code, "/srv/nas")).toBe(nas);
    }
    expect(remedy(r, "NS_FSTAB_NETWORK_NO_NOFAIL", "/srv/backup"))
      .toBe("192.168.10.20:/backup                     /srv/backup     nfs     defaults,nofail,_netdev,x-systemd.mount-timeout=30 0 0");
    expect(NETWORK_MOUNT_TIMEOUT_OPTION).toBe("x-systemd.mount-timeout=30");
  });

  it("corrects the xfs line to blkid's ext4 and says why it matters", async () => {
    const r = await run("incident");
    const f = r.findings.find((x) => x.code === "NS_FSTAB_TYPE_MISMATCH")!;
    expect(f.remedy).toBe("UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/data       ext4    defaults        0       2");
    expect(f.message).toBe("line 7: declared xfs but /dev/sdb1 holds ext4 (blkid): mount -t xfs fails, and local-fs.target fails with it " +
      "and the host boots into emergency mode");
  });

  it("explains the DNS dependency with the address the name has now", async () => {
    const r = await run("incident");
    expect(r.findings.find((f) => f.code === "NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME" && f.subject === "/srv/nas")!.message).toBe(
      "line 5: server nas01 is named by hostname and is not in /etc/hosts, so this mount needs DNS at boot; if the DNS server is a VM " +
      "stored on this mount (or started after it), the name cannot resolve and the mount fails. nas01 resolves to 192.168.10.20 now");
  });
});

describe("fstab probe: network rules", () => {
  it("network: judges each entry by what systemd does with its options", async () => {
    const r = await run("network");
    expect(rows(r)).toEqual([
      // [fd00::20] (IPv6 literal), nas01 (in /etc/hosts), noauto by hostname: nothing.
      ["NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME", "warning", "/srv/backup"], // bg: no nofail/timeout finding, but DNS still
      ["NS_FSTAB_NETWORK_NO_NOFAIL", "critical", "/srv/smb"], // ip= given: no hostname finding
      ["NS_FSTAB_NETWORK_NO_NETDEV", "warning", "/srv/smb"],
      ["NS_FSTAB_NETWORK_NO_TIMEOUT", "warning", "/srv/smb"],
      ["NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME", "warning", "/srv/sshfs"], // automount: no nofail finding
      ["NS_FSTAB_NETWORK_NO_NETDEV", "warning", "/srv/s3"],
      ["NS_FSTAB_LOCAL_ON_NETWORK", "critical", "/var/lib/libvirt/images"],
      ["NS_FSTAB_LOCAL_ON_NETWORK", "warning", "/srv/nas/local"],
      ["NS_FSTAB_LOCAL_ON_NETWORK", "warning", "swap /srv/nas/swapfile"],
    ]);
  });

  it("network: remedies", async () => {
    const r = await run("network");
    expect(remedy(r, "NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME", "/srv/backup")).toBe(
      "replace nas02 with its IP address (or list it in /etc/hosts), and do not serve DNS from a VM on this storage: " +
      "nas02:/backup              /srv/backup   nfs        bg,_netdev 0 0");
    expect(remedy(r, "NS_FSTAB_NETWORK_NO_NOFAIL", "/srv/smb")).toBe(
      "//fileserver/share         /srv/smb      cifs       credentials=/etc/nightshift/smb.cred,ip=192.168.10.30,nofail,_netdev,x-systemd.mount-timeout=30 0 0");
    expect(remedy(r, "NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME", "/srv/sshfs")).toBe(
      "backup@192.168.10.40:/data /srv/sshfs    fuse.sshfs x-systemd.automount,_netdev,x-systemd.mount-timeout=30 0 0");
    expect(remedy(r, "NS_FSTAB_NETWORK_NO_NETDEV", "/srv/s3")).toBe(
      "mybucket                   /srv/s3       fuse.s3fs  nofail,x-systemd.mount-timeout=30,_netdev 0 0");
    expect(remedy(r, "NS_FSTAB_LOCAL_ON_NETWORK", "/var/lib/libvirt/images")).toBe(
      "/srv/nas/images            /var/lib/libvirt/images none bind,_netdev,nofail 0 0");
    expect(remedy(r, "NS_FSTAB_LOCAL_ON_NETWORK", "/srv/nas/local")).toBe(
      "UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/nas/local ext4 defaults,nofail,_netdev 0 2");
  });

  it("network: says whether systemd knows the type needs the network", async () => {
    const r = await run("network");
    const netdev = (subject: string) => r.findings.find((f) => f.code === "NS_FSTAB_NETWORK_NO_NETDEV" && f.subject === subject)!.message;
    expect(netdev("/srv/smb")).toMatch(/systemd infers from the type cifs/);
    expect(netdev("/srv/s3")).toMatch(/systemd does not know that fuse.s3fs needs the network/);
  });
});

describe("fstab probe: devices", () => {
  it("missing-device: critical only where the boot would stop", async () => {
    const r = await run("missing-device");
    expect(rows(r)).toEqual([
      ["NS_FSTAB_DEVICE_MISSING", "critical", "/srv/old"],
      ["NS_FSTAB_DEVICE_MISSING", "warning", "/mnt/backup"], // nofail
      ["NS_FSTAB_DEVICE_MISSING", "warning", "swap UUID=0000aaaa-1111-4222-8333-444455556666"], // swap never stops the boot
      ["NS_FSTAB_DEVICE_MISSING", "critical", "/srv/spare"],
      ["NS_FSTAB_DEVICE_MISSING", "critical", "/srv/data"], // UUID in the wrong letter case
      ["NS_FSTAB_UNSTABLE_DEVICE_NAME", "warning", "/srv/scratch"],
      ["NS_FSTAB_DEVICE_MISSING", "info", "/mnt/archive"], // noauto
      ["NS_FSTAB_DEVICE_MISSING", "warning", "/srv/media"], // x-systemd.automount
      ["NS_FSTAB_DEVICE_MISSING", "critical", "/srv/export"], // bind source missing; the bind of /srv/export itself is fine
    ]);
  });

  it("missing-device: remedies", async () => {
    const r = await run("missing-device");
    expect(remedy(r, "NS_FSTAB_DEVICE_MISSING", "/srv/old")).toBe(
      "if the disk is gone for good, comment the line out (#UUID=deadbeef-0000-4000-8000-000000000001 /srv/old ext4 defaults 0 2); " +
      "if it is only sometimes attached: UUID=deadbeef-0000-4000-8000-000000000001 /srv/old ext4 defaults,nofail 0 2");
    expect(remedy(r, "NS_FSTAB_DEVICE_MISSING", "/mnt/backup")).toBe(
      "if the disk is gone for good, comment the line out: #LABEL=usb-backup /mnt/backup ext4 defaults,nofail 0 0");
    expect(remedy(r, "NS_FSTAB_DEVICE_MISSING", "/srv/data")).toBe("UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/data ext4 defaults 0 2");
    expect(remedy(r, "NS_FSTAB_UNSTABLE_DEVICE_NAME", "/srv/scratch")).toBe("UUID=7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a /srv/scratch ext4 defaults 0 2");
    expect(remedy(r, "NS_FSTAB_DEVICE_MISSING", "/srv/export")).toBe(
      "create /srv/does-not-exist (mkdir -p) or correct the path; to keep it from stopping the boot: /srv/does-not-exist /srv/export none bind,nofail 0 0");
  });

  it("missing-device: messages say what happens at boot", async () => {
    const r = await run("missing-device");
    const msg = (subject: string) => r.findings.find((f) => f.code === "NS_FSTAB_DEVICE_MISSING" && f.subject === subject)!.message;
    expect(msg("/srv/old")).toBe("line 3: no device has UUID=deadbeef-0000-4000-8000-000000000001: at boot systemd waits for it (90 s by default), " +
      "then fails the mount, and local-fs.target fails with it and the host boots into emergency mode");
    expect(msg("/mnt/backup")).toBe("line 4: no device has LABEL=usb-backup: the boot continues without it (nofail)");
    expect(msg("/mnt/archive")).toBe("line 9: no device has UUID=deadbeef-0000-4000-8000-000000000002: nothing happens at boot (noauto), but mounting it by hand fails");
    expect(msg("/srv/data")).toMatch(/^line 7: no device has UUID=9B1D7C3E-5F2A-4B8C-A1D3-E4F5A6B7C8D9; \/dev\/sdb1 has UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9, which differs only in letter case/);
  });

  it("type-mismatch: compatible types pass; containers and swap get a remedy in words", async () => {
    const r = await run("type-mismatch");
    expect(rows(r)).toEqual([
      ["NS_FSTAB_TYPE_MISMATCH", "warning", "/srv/data"], // nofail
      ["NS_FSTAB_TYPE_MISMATCH", "critical", "/srv/pv"],
      ["NS_FSTAB_TYPE_MISMATCH", "warning", "swap UUID=2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"],
      ["NS_FSTAB_TYPE_MISMATCH", "critical", "/srv/oops"],
      ["NS_FSTAB_TYPE_MISMATCH", "critical", "/srv/caps"], // the kernel knows no "XFS"
      // /srv/either (ext4,xfs on xfs): fine.
    ]);
    expect(remedy(r, "NS_FSTAB_TYPE_MISMATCH", "/srv/data")).toBe("UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/data ext4 defaults,nofail 0 2");
    expect(remedy(r, "NS_FSTAB_TYPE_MISMATCH", "/srv/pv")).toBe("/dev/sdd holds an LVM physical volume: mount one of its logical volumes (/dev/VG/LV); " +
      "or comment the line out: #/dev/disk/by-id/wwn-0x5000c500a1b2c3d4 /srv/pv ext4 defaults 0 2");
    expect(remedy(r, "NS_FSTAB_TYPE_MISMATCH", "swap UUID=2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f")).toBe("/dev/sdb2 holds ext4, not swap: point the " +
      "entry at the swap device, or comment it out: #UUID=2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f none swap sw 0 0");
    expect(remedy(r, "NS_FSTAB_TYPE_MISMATCH", "/srv/oops")).toBe("/dev/sda4 is a swap area: make it a swap entry, or comment the line out: " +
      "#UUID=b7e4d2f1-3a5c-4e6b-9d8f-1c2e3f4a5b6c /srv/oops ext4 defaults 0 2");
    expect(remedy(r, "NS_FSTAB_TYPE_MISMATCH", "/srv/caps")).toBe("UUID=3d4e5f6a-7b8c-4d9e-8f0a-2b3c4d5e6f7a /srv/caps xfs defaults 0 2");
  });

  it("no-blkid: says the devices went unchecked instead of passing them (critical, so a reboot gate does not pass)", async () => {
    const r = await run("no-blkid");
    expect(r.findings).toEqual([{
      code: "NS_FSTAB_DEVICES_UNCHECKED", severity: "critical", subject: "devices", probe: "fstab",
      message: "2 local entries were not checked for missing devices or wrong filesystem types (the cause of emergency mode): " +
        `no recorded blkid output at ${fixture("no-blkid")}/commands/blkid`,
      remedy: `record \`blkid -o export\` into ${fixture("no-blkid")}/commands/blkid`,
    }]);
  });
});

describe("fstab probe: broken files", () => {
  it("broken: refused lines, duplicates (trailing slash, swap), and two findings for one subject merged", async () => {
    const r = await run("broken");
    expect(rows(r)).toEqual([
      ["NS_FSTAB_UNPARSEABLE", "warning", "line 3"],
      ["NS_FSTAB_UNPARSEABLE", "warning", "line 4"],
      ["NS_FSTAB_UNPARSEABLE", "warning", "line 5"],
      ["NS_FSTAB_DUPLICATE_MOUNT_POINT", "warning", "/srv/data"],
      ["NS_FSTAB_DUPLICATE_MOUNT_POINT", "warning", "swap UUID=b7e4d2f1-3a5c-4e6b-9d8f-1c2e3f4a5b6c"],
      ["NS_FSTAB_DUPLICATE_MOUNT_POINT", "warning", "/srv/nas"],
      ["NS_FSTAB_NETWORK_NO_NOFAIL", "critical", "/srv/nas"],
    ]);
    // One finding per (code, subject).
    expect(new Set(r.findings.map((f) => `${f.code} ${f.subject}`)).size).toBe(r.findings.length);
  });

  it("broken: the remedy is the fixed line where the intent is clear, else the line commented out", async () => {
    const r = await run("broken");
    expect(remedy(r, "NS_FSTAB_UNPARSEABLE", "line 3")).toBe("#UUID=0c2d4e6f-1a3b-4c5d-8e7f-9a0b1c2d3e4f /srv/data");
    expect(remedy(r, "NS_FSTAB_UNPARSEABLE", "line 4")).toBe("UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/vm\\040images ext4 defaults 0 2");
    expect(remedy(r, "NS_FSTAB_UNPARSEABLE", "line 5")).toBe("#UUID=0c2d4e6f-1a3b-4c5d-8e7f-9a0b1c2d3e4f /srv/logs ext4 defaults 0 O");
    expect(r.findings[0]!.message).toBe("line 3 cannot be parsed (expected at least 3 fields (source, mount point, type), found 2); " +
      "mount and systemd skip it, so whatever it was meant to mount is not mounted at boot");
    expect(remedy(r, "NS_FSTAB_DUPLICATE_MOUNT_POINT", "/srv/data")).toBe("#UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/data/ ext4 defaults 0 2");
    expect(r.findings.find((f) => f.code === "NS_FSTAB_DUPLICATE_MOUNT_POINT" && f.subject === "/srv/data")!.message).toBe(
      "lines 6 and 7 both mount /srv/data: at boot systemd-fstab-generator uses line 6 and drops the others with an error; " +
      "mount -a would mount each in turn, the last on top");
    const merged = r.findings.find((f) => f.code === "NS_FSTAB_NETWORK_NO_NOFAIL")!;
    expect(merged.remedy).toBe("10.0.0.5:/vmstore /srv/nas nfs defaults,_netdev,x-systemd.mount-timeout=30,nofail 0 0\n" +
      "10.0.0.6:/vmstore /srv/nas nfs defaults,_netdev,x-systemd.mount-timeout=30,nofail 0 0");
    expect(merged.message).toMatch(/^line 10: nfs mount of 10\.0\.0\.5:\/vmstore without nofail: .*; also line 11: nfs mount of 10\.0\.0\.6:\/vmstore/);
  });
});

describe("fstab probe: outcomes that are not findings", () => {
  it("no fstab at all: not applicable, not a failure", async () => {
    const r = await check(new HostRoot(tempRoot()));
    expect(r.probes).toEqual([expect.objectContaining({ name: "fstab", status: "not-applicable" })]);
    expect(r.probes[0]!.detail).toMatch(/^no fstab at .*\/etc\/fstab$/);
    expect(r.findings).toEqual([]);
  });

  it("an fstab that cannot be read: the probe fails with the reason, recorded by the runner", async () => {
    const root = tempRoot();
    fs.mkdirSync(path.join(root, "etc/fstab"), { recursive: true });
    const r = await check(new HostRoot(root));
    expect(r.probes).toEqual([expect.objectContaining({ name: "fstab", status: "failed" })]);
    expect(r.probes[0]!.detail).toBe(`cannot read ${root}/etc/fstab: a directory`);
  });

  it("an explicit fstab file (check --fstab) replaces <root>/etc/fstab, with the tree's blkid", async () => {
    const file = path.join(tempRoot(), "fstab.new");
    fs.writeFileSync(file, "UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/data ext4 defaults 0 2\n");
    expect((await check(new HostRoot(fixture("incident"), file))).findings).toEqual([]);
  });

  it("an empty fstab: ok, nothing to say", async () => {
    const root = tempRoot();
    fs.mkdirSync(path.join(root, "etc"));
    fs.writeFileSync(path.join(root, "etc/fstab"), "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n");
    const r = await check(new HostRoot(root));
    expect(r.probes[0]).toMatchObject({ status: "ok", detail: "0 entries (0 network), 0 unparseable; no local devices to check" });
    expect(r.findings).toEqual([]);
  });
});
