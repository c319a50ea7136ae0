/**
 * The systemd probe on this very machine (HostRoot "/"). The project's machines
 * run without systemd as PID 1: the probe must say "absent", quickly, without
 * running a command or logging anything. On a host with systemd the second case
 * runs instead and checks a real answer.
 */
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { liveCommands } from "../../../../agent/probes/live-commands.js";
import { runProbes } from "../../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import { systemdProbe } from "../../../../agent/probes/systemd.js";
import { HealthReportSchema } from "../../../../shared/protocol/findings.js";

const systemdPresent = existsSync("/run/systemd/system");
const logLines: string[] = [];
const log = pino({ level: "trace" }, new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } }));
let dir: string;
let savedPath: string | undefined;

beforeAll(async () => {
  // Stand-ins first on PATH that record any call: there must be none without systemd.
  dir = await mkdtemp(path.join(os.tmpdir(), "ns-systemd-live-"));
  for (const name of ["systemctl", "journalctl"]) {
    await writeFile(path.join(dir, name), `#!/bin/sh\necho "${name} $*" >> ${dir}/calls\nexec /usr/bin/${name} "$@"\n`);
    await chmod(path.join(dir, name), 0o755);
  }
  savedPath = process.env.PATH;
  process.env.PATH = `${dir}:${savedPath ?? ""}`;
});

afterAll(async () => {
  process.env.PATH = savedPath;
  await rm(dir, { recursive: true, force: true });
});

describe("systemd probe on this machine", () => {
  it.runIf(!systemdPresent)("without systemd as PID 1: not-applicable, state absent, no findings, no command, no log, < 1 s", async () => {
    const t0 = performance.now();
    const report = HealthReportSchema.parse(await runProbes([systemdProbe], {
      root: new HostRoot("/"), commands: liveCommands(), settings: ProbeSettingsSchema.parse({}), libvirt: null, log, now: () => new Date(),
    }));
    const elapsed = performance.now() - t0;
    console.log(`systemd probe (absent): ${report.probes[0]!.durationMs.toFixed(2)} ms in the runner, ${elapsed.toFixed(2)} ms overall`);
    expect(report.probes).toEqual([{
      name: "systemd", status: "not-applicable", durationMs: expect.any(Number),
      detail: "systemd is not the init system here (no /run/systemd/system)",
    }]);
    expect(report.facts.systemd).toEqual({ state: "absent", failedUnits: [], previousBootEmergency: null });
    expect(report.findings).toEqual([]);
    expect(elapsed).toBeLessThan(1_000);
    expect(existsSync(path.join(dir, "calls"))).toBe(false);
    expect(logLines).toEqual([]);
  });

  it.runIf(!systemdPresent)("called directly, many times, it never throws", async () => {
    const ctx = {
      root: new HostRoot("/"), commands: liveCommands(), settings: ProbeSettingsSchema.parse({}), libvirt: null, log,
      signal: new AbortController().signal, now: () => new Date(),
    };
    const outs = await Promise.all(Array.from({ length: 20 }, () => systemdProbe.collect(ctx)));
    expect(new Set(outs.map((o) => `${o.status}/${o.fact?.state}/${o.findings.length}`))).toEqual(new Set(["not-applicable/absent/0"]));
  });

  it.runIf(systemdPresent)("with systemd: a real state, within the probe timeout", async () => {
    const report = HealthReportSchema.parse(await runProbes([systemdProbe], {
      root: new HostRoot("/"), commands: liveCommands(), settings: ProbeSettingsSchema.parse({}), libvirt: null, log, now: () => new Date(),
    }));
    expect(report.probes[0]!.status).toBe("ok");
    expect(report.facts.systemd?.state).toMatch(/^(running|degraded|maintenance|starting|initializing|stopping)$/);
    expect(await readFile(path.join(dir, "calls"), "utf8")).toContain("systemctl is-system-running");
  });
});
