/**
 * `nightshift-agent check` as a real process (the built dist/agent/cli/main.js)
 * against fixture host trees: the exit status is the number of critical
 * findings, the human output carries the corrected fstab lines, and nothing
 * that went wrong can exit 0.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthReportSchema, type HealthReport } from "../../../../shared/protocol/findings.js";
import { AGENT_BIN, REPO_ROOT, runNode } from "../../../helpers/run.js";
import { ensureTestUser, TEST_DAEMON_USER } from "../../../helpers/session-daemon.js";

const fixture = (name: string) => path.join(REPO_ROOT, "test/fixtures/hosts", name);
const check = (...args: string[]) => runNode(AGENT_BIN, ["check", ...args]);
const criticals = (r: HealthReport) => r.findings.filter((f) => f.severity === "critical").length;
let tmp: string;

beforeAll(() => {
  expect(fs.existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ns-check-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("check on fixture hosts", () => {
  it("incident --json: the health report, and the exit status is its number of critical findings", async () => {
    const result = await check("--root", fixture("incident"), "--no-libvirt", "--json");
    const report = HealthReportSchema.parse(JSON.parse(result.stdout));
    expect(result.code).toBe(criticals(report));
    expect(report.probes.map((p) => p.name)).toContain("fstab");
    expect(report.probes.every((p) => p.status === "ok" || p.status === "not-applicable")).toBe(true);
    expect(report.findings.filter((f) => f.probe === "fstab" && f.severity === "critical").map((f) => [f.code, f.subject])).toEqual([
      ["NS_FSTAB_NETWORK_NO_NOFAIL", "/srv/nas"],
      ["NS_FSTAB_NETWORK_NO_NOFAIL", "/srv/backup"],
      ["NS_FSTAB_TYPE_MISMATCH", "/srv/data"],
    ]);
    expect(result.stderr).toBe("nightshift-agent check: libvirt not used (--no-libvirt); probes that need it report not-applicable\n");
  });

  it("incident, for humans: findings table, the corrected lines, the probes, the summary", async () => {
    const result = await check("--root", fixture("incident"), "--no-libvirt");
    const json = HealthReportSchema.parse(JSON.parse((await check("--root", fixture("incident"), "--no-libvirt", "--json")).stdout));
    expect(result.code).toBe(criticals(json));
    const out = result.stdout;
    expect(out.split("\n")[0]).toMatch(/^SEVERITY\s+CODE\s+SUBJECT\s+MESSAGE$/);
    expect(out).toMatch(/^critical\s+NS_FSTAB_TYPE_MISMATCH\s+\/srv\/data\s+line 7: declared xfs but \/dev\/sdb1 holds ext4/m);
    // Worst first: no warning row before the last critical row.
    const rows = out.split("\n\n")[0]!.split("\n").slice(1).map((l) => l.split(/\s+/)[0]);
    expect(rows.lastIndexOf("critical")).toBeLessThan(rows.indexOf("warning"));
    // One block per corrected line, naming every finding it fixes.
    expect(out).toContain("  /srv/nas (NS_FSTAB_NETWORK_NO_NOFAIL, NS_FSTAB_NETWORK_NO_NETDEV, NS_FSTAB_NETWORK_NO_TIMEOUT, NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME):\n" +
      "    192.168.10.20:/vmstore                    /srv/nas        nfs     defaults,nofail,_netdev,x-systemd.mount-timeout=30 0 0\n");
    expect(out).toContain("    192.168.10.20:/backup                     /srv/backup     nfs     defaults,nofail,_netdev,x-systemd.mount-timeout=30 0 0\n");
    expect(out).toContain("  /srv/data (NS_FSTAB_TYPE_MISMATCH):\n    UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/data       ext4    defaults        0       2\n");
    expect(out).toMatch(/^PROBE\s+STATUS\s+MS\s+DETAIL$/m);
    expect(out).toMatch(/^fstab\s+ok\s+\d+\.\d\s+6 entries \(2 network\), 0 unparseable; 1 of 1 server names looked up; 5 block devices/m);
    expect(out.trimEnd().split("\n").at(-1)).toBe(`${criticals(json)} critical, ${json.findings.length - criticals(json)} warning, 0 info; exit status ${result.code}`);
  });

  it("healthy: no findings, exit 0", async () => {
    const result = await check("--root", fixture("healthy"), "--no-libvirt");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^No findings\.\n/);
    expect(result.stdout).toMatch(/0 critical, 0 warning, 0 info; exit status 0\n$/);
  });

  it("--probe and --fstab: check an edited fstab before installing it", async () => {
    const edited = path.join(tmp, "fstab.new");
    fs.writeFileSync(edited, [
      "UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/data ext4 defaults 0 2",
      "192.168.10.20:/vmstore /srv/nas nfs defaults,nofail,_netdev,x-systemd.mount-timeout=30 0 0",
    ].join("\n") + "\n");
    const result = await check("--root", fixture("incident"), "--fstab", edited, "--probe", "fstab", "--json");
    expect(result.code).toBe(0);
    const report = HealthReportSchema.parse(JSON.parse(result.stdout));
    expect(report.probes.map((p) => [p.name, p.status])).toEqual([["fstab", "ok"]]);
    expect(report.findings).toEqual([]);
    expect(result.stderr).toMatch(/^nightshift-agent check: libvirt not used: --root .*incident is not this host; probes that need it report not-applicable\n$/);
  });

  /** An fstab of 150 entries whose devices do not exist: 150 critical findings. */
  function manyMissing(): string {
    const many = path.join(tmp, "fstab.many");
    fs.writeFileSync(many, Array.from({ length: 150 }, (_, i) =>
      `UUID=00000000-0000-4000-8000-${String(i).padStart(12, "0")} /srv/gone${i} ext4 defaults 0 2`).join("\n") + "\n");
    return many;
  }

  it("caps the exit status at 100 critical findings", async () => {
    const many = manyMissing();
    const listAll = path.join(tmp, "settings-list-all.yaml");
    fs.writeFileSync(listAll, "findingsPerCode: 1000\n");
    const result = await check("--root", fixture("healthy"), "--fstab", many, "--probe", "fstab", "--settings", listAll, "--json");
    expect(criticals(HealthReportSchema.parse(JSON.parse(result.stdout)))).toBe(150);
    expect(result.code).toBe(100);
  });

  it("counts a summary of findings beyond findingsPerCode (20 by default) as one: 150 missing devices are 20 and one for the other 130", async () => {
    const result = await check("--root", fixture("healthy"), "--fstab", manyMissing(), "--probe", "fstab", "--json");
    const report = HealthReportSchema.parse(JSON.parse(result.stdout));
    expect(criticals(report)).toBe(21);
    expect(report.findings.at(-1)!.message).toMatch(/^150 lines have this finding, first at line 1; the first 20 are listed one by one, the other 130 only here \(lines 21-150\)/);
    expect(result.code).toBe(21);
  });
});

describe("check: what must never exit 0", () => {
  it("a probe that failed and nothing critical: 101, the check is incomplete", async () => {
    const notAFile = path.join(tmp, "fstab-dir");
    fs.mkdirSync(notAFile);
    const result = await check("--root", fixture("healthy"), "--fstab", notAFile, "--probe", "fstab");
    expect(result.code).toBe(101);
    expect(result.stdout).toMatch(/^fstab\s+failed\s+[\d.]+\s+cannot read .*fstab-dir: a directory/m);
    expect(result.stdout).toMatch(/0 critical, 0 warning, 0 info; incomplete: fstab failed; exit status 101\n$/);
  });

  it.each([
    [["--bogus"], /^error: unknown option '--bogus'\n/],
    [["--no-libvirt", "--probe", "nope"], /unknown probe nope; probes: .*fstab.* \(NS_ERR_CHECK_PROBE\)\n$/],
    [["--root", "/nonexistent-root"], /--root \/nonexistent-root is not a directory \(NS_ERR_CHECK_PATH\)\n$/],
    [["--no-libvirt", "--fstab", "/nonexistent/fstab"], /--fstab \/nonexistent\/fstab does not exist \(NS_ERR_CHECK_PATH\)\n$/],
  ])("cannot run (%j): 125 with the reason on stderr, nothing on stdout", async (args, stderr) => {
    const result = await check(...args);
    expect(result.code).toBe(125);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(stderr);
  });

  it("settings: a file of its own is held to the schema, agent.yaml's probes: section is used", async () => {
    const own = path.join(tmp, "settings.yaml");
    fs.writeFileSync(own, "probeTimeout: 5s\nprobeTimeot: 1s\nmountTimeoutMs: 3000\n");
    const bad = await check("--root", fixture("healthy"), "--settings", own);
    expect(bad.code).toBe(125);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toBe(`nightshift-agent check: invalid settings in ${own}:\n` +
      `  ${own}:2: probeTimeot: unknown key "probeTimeot" (did you mean probeTimeout?); known keys: probeTimeout, mountTimeout, ` +
      "neverEmptyMounts, maxVmUptime, criticalVms, haGroups, findingsPerCode, disabledProbes, enabledProbes\n" +
      `  ${own}:3: mountTimeoutMs: renamed mountTimeout (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write mountTimeout: 3s (NS_ERR_CONFIG)\n`);

    const badSection = path.join(tmp, "agent-bad.yaml");
    fs.writeFileSync(badSection, "controller: wss://controller:8650/v1/agent\nprobes:\n  interval: 300\n");
    expect((await check("--root", fixture("healthy"), "--settings", badSection)).stderr).toContain(
      `${badSection}:3: probes.interval: expected a duration like 90s, 15m, 1h, 3d (text with a unit), got number 300`);

    const agentYaml = path.join(tmp, "agent.yaml");
    fs.writeFileSync(agentYaml, "controller: wss://controller:8650/v1/agent\nprobes:\n  interval: 5m\n  disabledProbes: [fstab]\n");
    const result = await check("--root", fixture("incident"), "--no-libvirt", "--settings", agentYaml, "--json");
    const report = HealthReportSchema.parse(JSON.parse(result.stdout));
    expect(report.probes.map((p) => p.name)).not.toContain("fstab");
    expect(result.code).toBe(criticals(report));
  });

  it("run by a user who cannot read the devices: the fstab's devices are unchecked, which is critical", async () => {
    ensureTestUser();
    const shared = fs.mkdtempSync(path.join(os.tmpdir(), "ns-check-user-"));
    try {
      fs.chmodSync(shared, 0o755);
      const file = path.join(shared, "fstab");
      fs.writeFileSync(file, "UUID=9b1d7c3e-5f2a-4b8c-a1d3-e4f5a6b7c8d9 /srv/data ext4 defaults 0 2\n", { mode: 0o644 });
      const result = await runNode(AGENT_BIN, ["check", "--probe", "fstab", "--fstab", file, "--no-libvirt", "--json"], { user: TEST_DAEMON_USER });
      const report = HealthReportSchema.parse(JSON.parse(result.stdout));
      expect(report.findings.map((f) => [f.code, f.severity, f.subject])).toEqual([["NS_FSTAB_DEVICES_UNCHECKED", "critical", "devices"]]);
      expect(report.findings[0]!.message).toMatch(/not running as root, so blkid cannot read the devices$/);
      expect(result.code).toBe(1);
    } finally {
      fs.rmSync(shared, { recursive: true, force: true });
    }
  });

  it("--help documents the exit status", async () => {
    const result = await check("--help");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("1..100    the number of critical findings (100: 100 or more)");
    expect(result.stdout).toContain("125       the check could not run");
  });
});

describe("check: libvirt", () => {
  it("says when libvirt cannot be reached and runs the probes anyway", async () => {
    const result = await check("--uri", "qemu+unix:///system?socket=/nonexistent/libvirt-sock", "--probe", "fstab", "--fstab", path.join(fixture("healthy"), "etc/fstab"), "--json");
    expect(result.stderr).toMatch(/^nightshift-agent check: libvirt unreachable at qemu\+unix:\/\/\/system\?socket=\/nonexistent\/libvirt-sock \(libvirt socket \/nonexistent\/libvirt-sock does not exist.*\); probes that need it report not-applicable\n$/);
    const report = HealthReportSchema.parse(JSON.parse(result.stdout));
    expect(report.probes.map((p) => p.name)).toEqual(["fstab"]);
    // Live, this host's real blkid judged the healthy fixture's fstab: its UUIDs are not here.
    expect(result.code).toBe(criticals(report));
  });
});
