/**
 * The systemd probe: parsing, findings from the fixture hosts under
 * test/fixtures/hosts/systemd-* and no-systemd, and the live command path with
 * stand-in `systemctl`/`journalctl` scripts on PATH (exit codes, arguments, kill on abort).
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { liveCommands } from "../../../../agent/probes/live-commands.js";
import { recordedCommands } from "../../../../agent/probes/recorded-commands.js";
import { runProbes } from "../../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import {
  analyzePreviousBoot, collectSystemd, fstabLineFor, mountPointOfUnit, parseFailedUnits,
  parseJournalJson, parseSystemState, systemdProbe,
} from "../../../../agent/probes/systemd.js";
import type { ProbeContext } from "../../../../agent/probes/types.js";
import { HealthReportSchema } from "../../../../shared/protocol/findings.js";

const FIXTURES = fileURLToPath(new URL("../../../fixtures/hosts/", import.meta.url));

function ctx(root: HostRoot, signal = new AbortController().signal): ProbeContext {
  return {
    root, commands: recordedCommands(root), settings: ProbeSettingsSchema.parse({}), libvirt: null, signal, log: pino({ level: "silent" }),
    now: () => new Date("2024-11-23T12:00:00Z"),
  };
}

const fixture = (name: string) => new HostRoot(path.join(FIXTURES, name));

describe("parsing", () => {
  it("reads the state word whatever follows it", () => {
    expect(parseSystemState("degraded\n")).toBe("degraded");
    expect(parseSystemState("")).toBe("unknown");
  });

  it("reads failed unit names from plain and decorated list-units output", () => {
    expect(parseFailedUnits(
      "srv-nfs\\x2ddata.mount loaded failed failed /srv/nfs-data\n"
      + "● smartmontools.service loaded failed failed SMART Daemon\n"
      + "ghost.service not-found failed failed ghost.service\n\n",
    )).toEqual(["srv-nfs\\x2ddata.mount", "smartmontools.service", "ghost.service"]);
    expect(parseFailedUnits("")).toEqual([]);
  });

  it("turns a mount unit name back into its path (systemd-escape --path)", () => {
    expect(mountPointOfUnit("-.mount")).toBe("/");
    expect(mountPointOfUnit("srv-nfs\\x2ddata.mount")).toBe("/srv/nfs-data");
    expect(mountPointOfUnit("mnt-vm\\x20store.mount")).toBe("/mnt/vm store");
    expect(mountPointOfUnit("var-lib-libvirt-images.mount")).toBe("/var/lib/libvirt/images");
  });

  it("finds the fstab line of a mount point, with octal escapes and trailing slashes", () => {
    const fstab = "# comment /srv/a\nUUID=1 / ext4 defaults 0 1\nnas:/x /mnt/vm\\040store/ nfs4 _netdev 0 0\n";
    expect(fstabLineFor(fstab, "/mnt/vm store")).toEqual({ lineNo: 3, raw: "nas:/x /mnt/vm\\040store/ nfs4 _netdev 0 0" });
    expect(fstabLineFor(fstab, "/")).toEqual({ lineNo: 2, raw: "UUID=1 / ext4 defaults 0 1" });
    expect(fstabLineFor(fstab, "/srv/a")).toBeNull();
  });

  it("counts only a reached emergency/rescue target or started shell, not a stop or another unit", () => {
    const e = (over: Record<string, string>) => JSON.stringify({ __REALTIME_TIMESTAMP: "1000000", MESSAGE: "", ...over });
    const stopOnly = parseJournalJson([
      e({ UNIT: "emergency.target", JOB_TYPE: "stop", JOB_RESULT: "done", MESSAGE: "Stopped target emergency.target - Emergency Mode." }),
      e({ UNIT: "multi-user.target", JOB_TYPE: "start", JOB_RESULT: "done", MESSAGE: "Reached target multi-user.target" }),
      "not json", "",
    ].join("\n"));
    expect(stopOnly).toHaveLength(2);
    expect(analyzePreviousBoot(stopOnly).entered).toBeNull();
    const rescue = analyzePreviousBoot(parseJournalJson(e({ UNIT: "rescue.target", MESSAGE: "Reached target rescue.target - Rescue Mode." })));
    expect(rescue.entered).toEqual({ mode: "rescue", unit: "rescue.target", at: new Date(1000) });
  });
});

describe("fixture hosts", () => {
  it("no systemd: not-applicable, state absent, no findings, no command consulted", async () => {
    const out = await collectSystemd(ctx(fixture("no-systemd")));
    expect(out).toEqual({
      status: "not-applicable", detail: "systemd is not the init system here (no /run/systemd/system)", findings: [],
      fact: { state: "absent", failedUnits: [], previousBootEmergency: null },
    });
  });

  it("degraded: one warning listing all failed units, one critical finding per failed mount unit with its fstab line", async () => {
    const out = await collectSystemd(ctx(fixture("systemd-degraded")));
    expect(out.status).toBe("ok");
    expect(out.detail).toBeUndefined();
    expect(out.fact).toEqual({
      state: "degraded",
      failedUnits: ["srv-nfs\\x2ddata.mount", "var-lib-libvirt-images.mount", "smartmontools.service"],
      previousBootEmergency: false,
    });
    expect(out.findings.map((f) => [f.code, f.severity, f.subject])).toEqual([
      ["NS_SYSTEMD_DEGRADED", "warning", "systemd"],
      ["NS_SYSTEMD_FAILED_MOUNT_UNIT", "critical", "srv-nfs\\x2ddata.mount"],
      ["NS_SYSTEMD_FAILED_MOUNT_UNIT", "critical", "var-lib-libvirt-images.mount"],
    ]);
    expect(out.findings[0]!.message).toBe("systemd reports the system degraded: 3 failed unit(s): "
      + "srv-nfs\\x2ddata.mount, var-lib-libvirt-images.mount, smartmontools.service");
    expect(out.findings[1]!.message).toBe("Mount unit srv-nfs\\x2ddata.mount failed: /srv/nfs-data is not mounted "
      + "(/etc/fstab line 2: nas01:/export/data /srv/nfs-data nfs4 defaults,_netdev 0 0).");
    expect(out.findings[1]!.remedy).toContain("systemctl status srv-nfs\\x2ddata.mount");
    expect(out.findings[1]!.remedy).toContain("check /etc/fstab line 2");
    expect(out.findings[2]!.message).toContain("(no /etc/fstab line mounts it)");
  });

  it("maintenance now, no persistent journal: critical finding, previous boot unknown with the reason", async () => {
    const out = await collectSystemd(ctx(fixture("systemd-maintenance")));
    expect(out.fact).toEqual({ state: "maintenance", failedUnits: ["srv-data.mount"], previousBootEmergency: null });
    expect(out.detail).toBe("previous boot unknown: no journal of the previous boot was recorded");
    expect(out.findings.map((f) => [f.code, f.severity, f.subject])).toEqual([
      ["NS_SYSTEMD_MAINTENANCE", "critical", "systemd"],
      ["NS_SYSTEMD_FAILED_MOUNT_UNIT", "critical", "srv-data.mount"],
    ]);
  });

  it("previous boot in emergency mode: names the failed jobs before it, not those after", async () => {
    const out = await collectSystemd(ctx(fixture("systemd-emergency-previous-boot")));
    expect(out.fact).toEqual({ state: "running", failedUnits: [], previousBootEmergency: true });
    expect(out.findings).toEqual([{
      code: "NS_BOOT_PREVIOUS_EMERGENCY", severity: "warning", subject: "previous-boot",
      message: "The previous boot entered emergency mode (emergency.service at 2024-11-23T08:20:04.101Z); "
        + "failed before it: srv-data.mount (failed), local-fs.target (dependency). "
        + "The next reboot may stop there again unless the cause was fixed.",
      remedy: "Read `journalctl -b -1 -u srv-data.mount` and make sure the cause is fixed before rebooting this host in a maintenance window.",
    }]);
  });

  it("the shared cases: healthy is clean; incident is in emergency mode with its wrong-type /srv/data mount failed", async () => {
    const healthy = await collectSystemd(ctx(fixture("healthy")));
    expect(healthy).toEqual({ status: "ok", findings: [], fact: { state: "running", failedUnits: [], previousBootEmergency: false } });
    const incident = await collectSystemd(ctx(fixture("incident")));
    expect(incident.fact).toEqual({ state: "maintenance", failedUnits: ["srv-data.mount"], previousBootEmergency: false });
    expect(incident.findings.map((f) => [f.code, f.subject])).toEqual([
      ["NS_SYSTEMD_MAINTENANCE", "systemd"], ["NS_SYSTEMD_FAILED_MOUNT_UNIT", "srv-data.mount"],
    ]);
    expect(incident.findings[1]!.message).toContain("(/etc/fstab line 7: UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/data");
  });

  it("through the runner: a valid health report with the probe's name and the systemd fact", async () => {
    const { signal: _s, ...base } = ctx(fixture("systemd-degraded"));
    const report = HealthReportSchema.parse(await runProbes([systemdProbe], base));
    expect(report.probes).toEqual([expect.objectContaining({ name: "systemd", status: "ok" })]);
    expect(report.findings.every((f) => f.probe === "systemd")).toBe(true);
    expect(report.facts.systemd?.state).toBe("degraded");
  });
});

describe("live commands (stand-in binaries on PATH)", () => {
  let dir: string;
  let root: HostRoot;
  const env = () => ({ ...process.env, PATH: `${dir}/bin:${process.env.PATH ?? ""}` });
  /** The context with this host's commands, the stand-ins first on PATH. */
  const live = (c: ProbeContext): ProbeContext => ({ ...c, commands: liveCommands({ env: env() }) });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ns-systemd-"));
    await mkdir(path.join(dir, "bin"));
    await mkdir(path.join(dir, "root/run/systemd/system"), { recursive: true });
    root = new HostRoot(path.join(dir, "root"));
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  async function script(name: string, body: string): Promise<void> {
    const file = path.join(dir, "bin", name);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
  }

  it("takes the state from stdout despite a non-zero exit; a journal without the previous boot gives null", async () => {
    await script("systemctl", [
      'case "$1" in',
      '  is-system-running) echo degraded; exit 1 ;;',
      '  list-units) echo "srv-a.mount loaded failed failed /srv/a"; exit 0 ;;',
      "esac", "exit 9",
    ].join("\n"));
    await script("journalctl", 'echo "Data from the specified boot (-1) is not available: No such boot ID in journal" >&2; exit 1');
    const c = ctx(root);
    const out = await collectSystemd(live(c));
    expect(out.fact).toEqual({ state: "degraded", failedUnits: ["srv-a.mount"], previousBootEmergency: null });
    expect(out.detail).toBe("previous boot unknown: Data from the specified boot (-1) is not available: No such boot ID in journal");
    expect(out.findings.map((f) => f.code)).toEqual(["NS_SYSTEMD_DEGRADED", "NS_SYSTEMD_FAILED_MOUNT_UNIT"]);
  });

  it("asks the journal with matches, then for the failures up to the emergency", async () => {
    const log = path.join(dir, "journalctl.args");
    const emergency = JSON.stringify({ __REALTIME_TIMESTAMP: "1732350004101200", UNIT: "emergency.target", JOB_TYPE: "start",
      JOB_RESULT: "done", MESSAGE: "Reached target emergency.target - Emergency Mode." });
    const failure = JSON.stringify({ __REALTIME_TIMESTAMP: "1732350004100000", UNIT: "srv-data.mount", JOB_TYPE: "start",
      JOB_RESULT: "failed", MESSAGE: "Failed to mount srv-data.mount - /srv/data." });
    await script("systemctl", 'case "$1" in is-system-running) echo running ;; esac; exit 0');
    await script("journalctl", [
      `echo "$*" >> ${log}`,
      `case "$*" in *JOB_RESULT*) echo '${failure}' ;; *) echo '${emergency}' ;; esac`,
    ].join("\n"));
    const c = ctx(root);
    const out = await collectSystemd(live(c));
    expect(out.fact?.previousBootEmergency).toBe(true);
    expect(out.findings[0]!.message).toContain("failed before it: srv-data.mount (failed)");
    expect((await readFile(log, "utf8")).trim().split("\n")).toEqual([
      "-b -1 -o json --no-pager -q _PID=1 UNIT=emergency.target UNIT=rescue.target UNIT=emergency.service UNIT=rescue.service",
      "-b -1 -o json --no-pager -q -r -n 20 --until=@1732350005 _PID=1 JOB_RESULT=failed JOB_RESULT=dependency JOB_RESULT=timeout",
    ]);
  });

  it("kills a hung systemctl when the probe's signal aborts, and rejects", async () => {
    const pidFile = path.join(dir, "hung.pid");
    await script("systemctl", `echo $$ > ${pidFile}; exec sleep 30`);
    await script("journalctl", "exit 0");
    const ac = new AbortController();
    const c = ctx(root, ac.signal);
    const t0 = performance.now();
    setTimeout(() => ac.abort(new Error("probe systemd timed out")), 200);
    await expect(collectSystemd(live(c))).rejects.toThrow("systemctl is-system-running: stopped: probe systemd timed out");
    expect(performance.now() - t0).toBeLessThan(1_500);
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    await new Promise((r) => setTimeout(r, 50));
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });
});
