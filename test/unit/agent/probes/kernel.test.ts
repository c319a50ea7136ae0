/**
 * The kernel probe against host trees (test/fixtures/hosts/kernel-*: a Debian
 * host with a newer kernel installed than it runs, a RHEL host running its
 * newest), version order, and the trees where it has nothing to look at.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { compareReleases, installedKernels, kernelProbe } from "../../../../agent/probes/kernel.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";
import { runProbes } from "../../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import type { ProbeContext } from "../../../../agent/probes/types.js";
import { HealthReportSchema } from "../../../../shared/protocol/findings.js";

const fixture = (name: string) => fileURLToPath(new URL(`../../../fixtures/hosts/${name}`, import.meta.url));
const log = pino({ level: "silent" });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ns-kernel-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function ctx(dir: string): ProbeContext {
  const root = new HostRoot(dir);
  return {
    root, commands: recordedCommands(root), settings: ProbeSettingsSchema.parse({}), libvirt: null, signal: new AbortController().signal, log,
    now: () => new Date("2025-03-01T00:00:00Z"),
  };
}

/** A tree with the given files (empty unless given content). */
function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(tmp, "root-"));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

describe("compareReleases", () => {
  it("orders digit runs as numbers and the rest as text, as sort -V does", () => {
    const releases = ["6.1.0-9-amd64", "6.1.0-20-amd64", "5.10.0-28-amd64", "6.1.0-18-amd64", "6.10.0-1-amd64"];
    expect([...releases].sort(compareReleases)).toEqual(["5.10.0-28-amd64", "6.1.0-9-amd64", "6.1.0-18-amd64", "6.1.0-20-amd64", "6.10.0-1-amd64"]);
    expect(compareReleases("5.14.0-362.8.1.el9_3.x86_64", "5.14.0-362.13.1.el9_3.x86_64")).toBeLessThan(0);
    expect(compareReleases("6.5.0-14-generic", "6.5.0-14-generic")).toBe(0);
    expect(compareReleases("6.8.0-100-generic", "6.8.0-99-generic")).toBeGreaterThan(0);
  });
});

describe("kernel probe on host trees", () => {
  it("kernel-reboot-pending: runs 6.1.0-18 with 6.1.0-20 installed: fact, warning, newest by version not by name", async () => {
    const out = await kernelProbe.collect(ctx(fixture("kernel-reboot-pending")));
    expect(out.fact).toEqual({ running: "6.1.0-18-amd64", newestInstalled: "6.1.0-20-amd64", rebootNeeded: true });
    expect(out.findings).toEqual([{
      code: "NS_HOST_KERNEL_REBOOT_PENDING", severity: "warning", subject: "kernel",
      message: "The host runs kernel 6.1.0-18-amd64, but 6.1.0-20-amd64 is installed: its next reboot starts a kernel it has not run yet, "
        + "and the fixes in it are not in effect until then.",
      remedy: "Reboot it in a maintenance window (its VMs moved or shut down first) and check that it comes back on 6.1.0-20-amd64 (`uname -r`); "
        + "if 6.1.0-20-amd64 must not be booted, make the boot loader's default 6.1.0-18-amd64.",
    }]);
    expect(out.detail).toBe("running 6.1.0-18-amd64; 3 installed, newest 6.1.0-20-amd64");
    // The dkms leftovers of a removed 6.1.0-21 have no image: not a kernel; nor are the vmlinuz and vmlinuz.old links.
    expect(await installedKernels(new HostRoot(fixture("kernel-reboot-pending")))).toEqual(["6.1.0-20-amd64", "6.1.0-18-amd64", "6.1.0-9-amd64"]);
  });

  it("kernel-current: a RHEL host running its newest kernel; images in /usr/lib/modules, the rescue image left out", async () => {
    const out = await kernelProbe.collect(ctx(fixture("kernel-current")));
    expect(out).toEqual({
      status: "ok", detail: "running 5.14.0-362.13.1.el9_3.x86_64; 2 installed, newest 5.14.0-362.13.1.el9_3.x86_64", findings: [],
      fact: { running: "5.14.0-362.13.1.el9_3.x86_64", newestInstalled: "5.14.0-362.13.1.el9_3.x86_64", rebootNeeded: false },
    });
  });

  it("a running kernel newer than every installed one (its package removed): no reboot pending, and the detail says so", async () => {
    const out = await kernelProbe.collect(ctx(tree({ "proc/sys/kernel/osrelease": "6.1.0-20-amd64\n", "boot/vmlinuz-6.1.0-18-amd64": "" })));
    expect(out.fact).toEqual({ running: "6.1.0-20-amd64", newestInstalled: "6.1.0-18-amd64", rebootNeeded: false });
    expect(out.findings).toEqual([]);
    expect(out.detail).toBe("running 6.1.0-20-amd64; 1 installed, newest 6.1.0-18-amd64; the running kernel's image is no longer installed");
  });

  it("not-applicable, without a fact: no osrelease; no kernel image (a container)", async () => {
    expect(await kernelProbe.collect(ctx(fixture("healthy")))).toEqual({ status: "not-applicable", detail: "no /proc/sys/kernel/osrelease", findings: [] });
    const container = await kernelProbe.collect(ctx(tree({ "proc/sys/kernel/osrelease": "6.18.44\n" })));
    expect(container).toEqual({
      status: "not-applicable", findings: [],
      detail: "running 6.18.44; no kernel image in /boot or /lib/modules (a container, or /boot not mounted)",
    });
  });

  it("through the runner: the fact under facts.kernel, the finding stamped with the probe, a valid report", async () => {
    const { signal: _s, ...base } = ctx(fixture("kernel-reboot-pending"));
    const report = HealthReportSchema.parse(await runProbes([kernelProbe], base));
    expect(report.facts).toEqual({ kernel: { running: "6.1.0-18-amd64", newestInstalled: "6.1.0-20-amd64", rebootNeeded: true } });
    expect(report.findings.map((f) => [f.code, f.probe])).toEqual([["NS_HOST_KERNEL_REBOOT_PENDING", "kernel"]]);
  });
});
