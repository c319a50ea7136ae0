/**
 * The vm-placement probe against the real libvirtd (test:///default through the
 * daemon): domains defined with nightshift metadata, autostart and disk paths;
 * the host side (mountinfo, pid files, /proc) is a temporary HostRoot, since this
 * machine has no NFS: it says the HA pair's directory is an nfs4 mount from nas01.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtConnection } from "../../../../agent/libvirt/connection.js";
import { NIGHTSHIFT_VM_NS } from "../../../../agent/probes/domain-metadata.js";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";
import { runProbes } from "../../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import { vmPlacementProbe } from "../../../../agent/probes/vm-placement.js";
import { HealthReportSchema } from "../../../../shared/protocol/findings.js";
import { removeDomainsWithPrefix, testDriverDomainXml, testPrefix } from "../../../helpers/libvirt.js";

const prefix = testPrefix("place");
const group = `${prefix}grp`;
const shared = `/srv/nightshift-test/${prefix}vms`;
const BTIME = 1_700_000_000;
let conn: LibvirtConnection;
let dir: string;

function withMetadata(xml: string, inner: string): string {
  return xml.replace("</name>", `</name><metadata><ns:vm xmlns:ns="${NIGHTSHIFT_VM_NS}">${inner}</ns:vm></metadata>`);
}

beforeAll(async () => {
  conn = await LibvirtConnection.open({ uri: "test:///default" });
  dir = await mkdtemp(path.join(os.tmpdir(), "ns-place-"));
  const put = async (hostPath: string, text: string) => {
    await mkdir(path.dirname(path.join(dir, hostPath)), { recursive: true });
    await writeFile(path.join(dir, hostPath), text);
  };
  await put("/proc/self/mountinfo", [
    "21 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-root rw,errors=remount-ro",
    "22 21 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
    `40 21 0:45 / ${shared} rw,relatime shared:30 - nfs4 nas01:/export/vm rw,vers=4.2,hard,proto=tcp,addr=10.0.0.5`,
    "",
  ].join("\n"));
  await put("/proc/stat", `cpu  1 2 3 4\nbtime ${BTIME}\nprocesses 10\n`);
  await put("/commands/getconf-CLK_TCK", "100\n");
  // ha1's QEMU process, as the host would show it: started 1000 s after boot, i.e. long ago.
  await put(`/run/libvirt/qemu/${prefix}ha1.pid`, "31337");
  await put("/proc/31337/stat", "31337 (qemu-system-x86) S 1 31336 31336 0 -1 1077936448 1 0 0 0 5 5 0 0 20 0 4 0 100000 5296590848 1 1 1 1\n");

  const crit = await conn.domainDefineXML(withMetadata(testDriverDomainXml(`${prefix}crit`), "<ns:critical>true</ns:critical>"));
  await conn.domainSetAutostart(crit, false);
  for (const name of [`${prefix}ha1`, `${prefix}ha2`]) {
    const dom = await conn.domainDefineXML(withMetadata(testDriverDomainXml(name, { disks: [`${shared}/${name}.qcow2`] }),
      `<ns:ha-group>${group}</ns:ha-group>`));
    await conn.domainSetAutostart(dom, true);
    await conn.domainCreate(dom);
  }
  // Critical by the settings, with autostart on: nothing to report.
  await conn.domainSetAutostart(await conn.domainDefineXML(testDriverDomainXml(`${prefix}auto`)), true);
  await conn.domainDefineXML(withMetadata(testDriverDomainXml(`${prefix}typo`), "<ns:critcal>true</ns:critcal>"));
});

afterAll(async () => {
  await removeDomainsWithPrefix(conn, prefix);
  await conn.connectClose();
  await rm(dir, { recursive: true, force: true });
});

describe("vm-placement against libvirtd's test driver", () => {
  it("finds exactly the critical VM without autostart, the HA pair on one NFS mount, ha1's uptime and the metadata typo", async () => {
    const report = HealthReportSchema.parse(await runProbes([vmPlacementProbe], {
      root: new HostRoot(dir), commands: recordedCommands(new HostRoot(dir)), libvirt: conn, log: pino({ level: "silent" }), now: () => new Date("2025-01-01T00:00:00Z"),
      settings: ProbeSettingsSchema.parse({ maxVmUptime: "30d", criticalVms: [`${prefix}auto`] }),
    }));
    expect(report.probes).toEqual([expect.objectContaining({ name: "vm-placement", status: "ok" })]);
    console.log(`vm-placement probe over ${report.findings.length} findings: ${report.probes[0]!.durationMs.toFixed(1)} ms`);
    expect(report.probes[0]!.durationMs).toBeLessThan(2_000);

    // Other tests may share the test driver: look only at what this test defined.
    const ours = report.findings.filter((f) => f.subject.startsWith(prefix) || f.subject === `ha-group/${group}`);
    expect(ours).toEqual([
      {
        probe: "vm-placement", code: "NS_VM_CRITICAL_NO_AUTOSTART", severity: "critical", subject: `${prefix}crit`,
        message: `VM ${prefix}crit is marked critical (metadata) but autostart is off: after a host reboot it stays down.`,
        remedy: `virsh autostart ${prefix}crit`,
      },
      {
        probe: "vm-placement", code: "NS_VM_DISK_ON_NETWORK_FS", severity: "info", subject: `${prefix}ha1/vda`,
        message: `Disk vda of VM ${prefix}ha1 (${shared}/${prefix}ha1.qcow2) is on nfs4 nas01:/export/vm mounted at ${shared}; `
          + "an outage or reboot of nas01 stalls this VM's I/O.",
        remedy: "Plan maintenance of nas01 together with this VM: shut it down or move it first.",
      },
      {
        probe: "vm-placement", code: "NS_VM_UPTIME_EXCEEDED", severity: "warning", subject: `${prefix}ha1`,
        message: `VM ${prefix}ha1 has run 413 days without a cold restart (QEMU process started 2023-11-14T22:30:00.000Z; limit maxVmUptime 30d).`,
        remedy: `Restart it as a precaution before any change (\`virsh shutdown ${prefix}ha1\`, then \`virsh start ${prefix}ha1\`; `
          + "a reboot inside the guest keeps the same QEMU process), so a VM that no longer boots is found now, not in the middle of maintenance.",
      },
      {
        probe: "vm-placement", code: "NS_VM_DISK_ON_NETWORK_FS", severity: "info", subject: `${prefix}ha2/vda`,
        message: `Disk vda of VM ${prefix}ha2 (${shared}/${prefix}ha2.qcow2) is on nfs4 nas01:/export/vm mounted at ${shared}; `
          + "an outage or reboot of nas01 stalls this VM's I/O.",
        remedy: "Plan maintenance of nas01 together with this VM: shut it down or move it first.",
      },
      {
        probe: "vm-placement", code: "NS_VM_METADATA_INVALID", severity: "warning", subject: `${prefix}typo`,
        message: `VM ${prefix}typo: nightshift metadata not understood: unknown element <critcal> (known: critical, ha-group, maintenance)`,
        remedy: `Correct it with \`virsh edit ${prefix}typo\` (format: README, "VM marks"); until then those marks are ignored.`,
      },
      {
        probe: "vm-placement", code: "NS_VM_HA_SHARED_STORAGE", severity: "critical", subject: `ha-group/${group}`,
        message: `HA group ${group}: ${prefix}ha1 and ${prefix}ha2 share filesystem ${shared} (nfs4 nas01:/export/vm); `
          + "one storage failure or maintenance takes the whole group down.",
        remedy: "Move one member's disks to storage independent of the other's (another filesystem on another storage server).",
      },
    ]);
  });

  it("a running test-driver domain without a pid file gets no uptime finding, whatever the limit", async () => {
    const report = await runProbes([vmPlacementProbe], {
      root: new HostRoot(dir), commands: recordedCommands(new HostRoot(dir)), libvirt: conn, log: pino({ level: "silent" }), now: () => new Date("2099-01-01T00:00:00Z"),
      settings: ProbeSettingsSchema.parse({ maxVmUptime: "0.0001d" }),
    });
    expect(report.probes[0]!.status).toBe("ok");
    expect(await conn.domainIsActive(await conn.domainLookupByName(`${prefix}ha2`))).toBe(true);
    const uptime = report.findings.filter((f) => f.code === "NS_VM_UPTIME_EXCEEDED" && f.subject.startsWith(prefix));
    expect(uptime.map((f) => f.subject)).toEqual([`${prefix}ha1`]);
  });
});
