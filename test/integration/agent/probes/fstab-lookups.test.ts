/**
 * The fstab probe's server-name lookups, live: real `getent ahostsv4`
 * children for an fstab with thousands of NFS servers named by hostname.
 * Their number alive at once is counted from outside (test/helpers/
 * child-sampler.ts reads /proc), and the probe must finish within its
 * timeout, saying which names it did not get to.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { fstabProbe } from "../../../../agent/probes/fstab.js";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { liveCommands } from "../../../../agent/probes/live-commands.js";
import { runProbes } from "../../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import { HealthReportSchema, type HealthReport } from "../../../../shared/protocol/findings.js";
import { sampleChildren, type ChildSample } from "../../../helpers/child-sampler.js";
import { nfsServerLines, writeFstab } from "../../../helpers/fstab-files.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-fstab-lookups-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const names = (n: number) => Array.from({ length: n }, (_, i) => `nstest-srv-${String(i).padStart(5, "0")}.invalid`);

/** Runs the fstab probe on `fstab` live (real getent), counting its getent children. */
async function probe(fstab: string, probeTimeoutMs: number): Promise<{ report: HealthReport; ms: number; children: ChildSample; after: ChildSample }> {
  const sampler = await sampleChildren(process.pid, "getent");
  const started = performance.now();
  const report = await runProbes([fstabProbe], {
    root: new HostRoot("/", fstab), commands: liveCommands(), settings: ProbeSettingsSchema.parse({ probeTimeout: `${probeTimeoutMs}ms` }), libvirt: null, log: pino({ level: "silent" }), now: () => new Date(),
  });
  const ms = performance.now() - started;
  const children = await sampler.stop();
  // Anything still alive now was left behind by the probe.
  const afterSampler = await sampleChildren(process.pid, "getent");
  const after = await afterSampler.stop();
  HealthReportSchema.parse(report);
  return { report, ms, children, after };
}

describe("fstab probe live: many server names", { timeout: 120_000 }, () => {
  it("1,000 distinct names on 2,000 lines: each looked up once, at most 8 getent at a time, within the probe timeout", async () => {
    const all = names(1000);
    const fstab = writeFstab(dir, "fstab-1000", nfsServerLines([...all, ...all]));
    const { report, ms, children, after } = await probe(fstab, 10_000);
    console.log(`1,000 names: ${ms.toFixed(0)} ms, at most ${children.max} getent children running at once (${children.maxZombies} unreaped; ` +
      `${children.samples} samples); ${report.probes[0]!.detail}`);
    expect(report.probes[0]).toMatchObject({ name: "fstab", status: "ok" });
    expect(ms).toBeLessThan(10_000);
    expect(children.max).toBeGreaterThan(0);
    expect(children.max).toBeLessThanOrEqual(8);
    expect(after.max + after.maxZombies).toBe(0);
    // 1,000 names from 2,000 lines: each once. How many the DNS answered in time depends on it; the rest are named.
    const looked = Number(/(\d+) of 1000 server names looked up/.exec(report.probes[0]!.detail ?? "")?.[1]);
    expect(looked).toBeGreaterThan(0);
    const unchecked = report.findings.filter((f) => f.code === "NS_FSTAB_SERVERS_UNCHECKED");
    if (looked < 1000) expect(unchecked[0]!.message).toMatch(new RegExp(`^${1000 - looked} of 1000 server names were not looked up`));
    else expect(unchecked).toEqual([]);
    const byName = report.findings.filter((f) => f.code === "NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME");
    expect(byName).toHaveLength(21);
    // The first lines' names are looked up first: the findings listed one by one have their answer.
    expect(byName[0]!.message).toMatch(/nstest-srv-00000\.invalid does not resolve from here now either$/);
  });

  it("5,000 names against a 2 s probe timeout: the probe ends in time, kills its children, and names the ones it did not look up", async () => {
    const fstab = writeFstab(dir, "fstab-5000", nfsServerLines(names(5000)));
    const { report, ms, children, after } = await probe(fstab, 2_000);
    console.log(`5,000 names, 2 s timeout: ${ms.toFixed(0)} ms, status ${report.probes[0]!.status}, at most ${children.max} getent at once; ${report.probes[0]!.detail}`);
    expect(report.probes[0]).toMatchObject({ name: "fstab", status: "ok" });
    expect(ms).toBeLessThan(2_000);
    expect(children.max).toBeLessThanOrEqual(8);
    expect(after.max + after.maxZombies).toBe(0);
    const looked = /(\d+) of 5000 server names looked up/.exec(report.probes[0]!.detail ?? "");
    expect(looked).not.toBeNull();
    const done = Number(looked![1]);
    expect(done).toBeLessThan(5000);
    const unchecked = report.findings.find((f) => f.code === "NS_FSTAB_SERVERS_UNCHECKED");
    expect(unchecked).toMatchObject({ severity: "info", subject: "server names" });
    expect(unchecked!.message).toMatch(new RegExp(`^${5000 - done} of 5000 server names were not looked up`));
    // Every line is still judged: 20 one by one and the summary.
    const byName = report.findings.filter((f) => f.code === "NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME");
    expect(byName.length).toBe(21);
  });
});
