/**
 * Probe "netconsole": what keeps an emergency boot from reaching the controller
 * becomes NS_HOST_NETCONSOLE_UNAVAILABLE, one per reason, on host trees shaped
 * as Debian lays them out (modules.dep, the unit's .wants/ links).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { netconsoleProbe } from "../../../../agent/probes/netconsole.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import type { ProbeContext } from "../../../../agent/probes/types.js";
import type { NetconsoleStatus } from "../../../../agent/netconsole/pointer.js";

const log = pino({ level: "silent" });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ns-netconsole-probe-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function ctx(dir: string, netconsole?: NetconsoleStatus): ProbeContext {
  const root = new HostRoot(dir);
  return {
    root, commands: recordedCommands(root), settings: ProbeSettingsSchema.parse({}), libvirt: null, signal: new AbortController().signal, log,
    now: () => new Date("2026-12-01T00:00:00Z"), ...(netconsole ? { netconsole } : {}),
  };
}

const UNIT = "etc/systemd/system/nightshift-emergency-report.service";
const GOOD: Record<string, string> = {
  "proc/sys/kernel/osrelease": "6.1.0-28-amd64\n",
  "lib/modules/6.1.0-28-amd64/modules.dep": "kernel/drivers/net/dummy.ko:\nkernel/drivers/net/netconsole.ko:\nkernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko\n",
  [UNIT]: "[Service]\nType=oneshot\nExecStart=/opt/nightshift/systemd/nightshift-emergency-report\n",
  "opt/nightshift/systemd/nightshift-emergency-report": "#!/bin/sh\n",
};

function tree(files: Record<string, string>, enabledFor = ["emergency.target", "rescue.target"]): string {
  const dir = fs.mkdtempSync(path.join(tmp, "root-"));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  for (const target of enabledFor) {
    fs.mkdirSync(path.join(dir, `etc/systemd/system/${target}.wants`), { recursive: true });
    fs.symlinkSync(`/${UNIT}`, path.join(dir, `etc/systemd/system/${target}.wants/nightshift-emergency-report.service`));
  }
  return dir;
}

const CONFIGURED: NetconsoleStatus = {
  state: "configured", changed: false, file: "/etc/modprobe.d/nightshift-netconsole.conf", device: "eno1", via: "port of bridge br0",
  options: "netconsole=6665@10.77.0.5/eno1,6666@10.77.0.1/52:54:00:aa:bb:01",
};
const reasons = (out: Awaited<ReturnType<typeof netconsoleProbe.collect>>) => out.findings.map((f) => [f.code, f.severity, f.subject, f.message]);

describe("probe netconsole", () => {
  it("a host set up along a bridge, with the module and the unit enabled: nothing to say, the options in the detail", async () => {
    const out = await netconsoleProbe.collect(ctx(tree(GOOD), CONFIGURED));
    expect(out).toEqual({ status: "ok", findings: [], detail: `options ${CONFIGURED.state === "configured" ? CONFIGURED.options : ""} (eno1: port of bridge br0)` });
  });

  it("a setup that failed is a finding with the reason", async () => {
    const out = await netconsoleProbe.collect(ctx(tree(GOOD), { state: "unavailable", reason: "eno1.20 is a VLAN interface: in emergency mode it does not exist" }));
    expect(reasons(out)).toEqual([["NS_HOST_NETCONSOLE_UNAVAILABLE", "warning", "netconsole", expect.stringContaining(
      "will not reach the controller while it happens: eno1.20 is a VLAN interface: in emergency mode it does not exist.")]]);
    expect(out.findings[0]!.remedy).toContain("accept the gap");
  });

  it("no netconsole in the running kernel; built in counts; a module of another release does not", async () => {
    const noModule = { ...GOOD, "lib/modules/6.1.0-28-amd64/modules.dep": "kernel/drivers/net/dummy.ko:\n", "lib/modules/6.1.0-30-amd64/modules.dep": "kernel/drivers/net/netconsole.ko.xz:\n" };
    expect(reasons(await netconsoleProbe.collect(ctx(tree(noModule), CONFIGURED))))
      .toEqual([["NS_HOST_NETCONSOLE_UNAVAILABLE", "warning", "netconsole", expect.stringContaining("the running kernel 6.1.0-28-amd64 has no netconsole")]]);
    const builtin = { ...noModule, "lib/modules/6.1.0-28-amd64/modules.builtin": "kernel/drivers/net/netconsole.ko\n" };
    expect((await netconsoleProbe.collect(ctx(tree(builtin), CONFIGURED))).findings).toEqual([]);
    // /boot/config decides where it exists (readable in the agent's sandbox, unlike /lib/modules).
    expect((await netconsoleProbe.collect(ctx(tree({ ...noModule, "boot/config-6.1.0-28-amd64": "CONFIG_NET=y\nCONFIG_NETCONSOLE=m\n" }), CONFIGURED))).findings).toEqual([]);
    expect(reasons(await netconsoleProbe.collect(ctx(tree({ ...GOOD, "boot/config-6.1.0-28-amd64": "# CONFIG_NETCONSOLE is not set\n" }), CONFIGURED))))
      .toEqual([["NS_HOST_NETCONSOLE_UNAVAILABLE", "warning", "netconsole", expect.stringContaining("has no netconsole")]]);
    // Nothing readable (ProtectKernelModules= hides /lib/modules, no /boot/config): not judged.
    const { "lib/modules/6.1.0-28-amd64/modules.dep": _dep, ...hidden } = GOOD;
    expect((await netconsoleProbe.collect(ctx(tree(hidden), CONFIGURED))).findings).toEqual([]);
  });

  it("the report unit not enabled for rescue.target, or not installed, or its program missing", async () => {
    expect(reasons(await netconsoleProbe.collect(ctx(tree(GOOD, ["emergency.target"]), CONFIGURED))))
      .toEqual([["NS_HOST_NETCONSOLE_UNAVAILABLE", "warning", "netconsole", expect.stringContaining("nightshift-emergency-report.service is not enabled for rescue.target, so")]]);
    const { [UNIT]: _unit, ...noUnit } = GOOD;
    expect(reasons(await netconsoleProbe.collect(ctx(tree(noUnit, []), CONFIGURED)))).toEqual([["NS_HOST_NETCONSOLE_UNAVAILABLE", "warning", "netconsole",
      expect.stringContaining("is not enabled for emergency.target and rescue.target (no unit file installed)")]]);
    const { "opt/nightshift/systemd/nightshift-emergency-report": _p, ...noProgram } = GOOD;
    expect(reasons(await netconsoleProbe.collect(ctx(tree(noProgram), CONFIGURED)))).toEqual([["NS_HOST_NETCONSOLE_UNAVAILABLE", "warning", "netconsole",
      expect.stringContaining("runs /opt/nightshift/systemd/nightshift-emergency-report, which does not exist")]]);
  });

  it("not-applicable when the controller has no listener, and outside the daemon", async () => {
    expect(await netconsoleProbe.collect(ctx(tree({}), { state: "off" })))
      .toEqual({ status: "not-applicable", detail: "the controller has no netconsole listener (netconsole.listen)", findings: [] });
    expect((await netconsoleProbe.collect(ctx(tree({})))).status).toBe("not-applicable");
  });
});
