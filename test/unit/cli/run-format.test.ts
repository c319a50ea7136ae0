/** Human output of runs: the plan, the evidence log, the tables, and what `--wait` prints as a run changes. */
import { describe, expect, it } from "vitest";
import { expectAligned } from "../../helpers/table-assert.js";
import { RunSpecSchema, type EvidenceRecord, type RunDetail, type RunPlan, type RunVmRecord, type SnapshotRecord } from "../../../shared/runs.js";
import { countsText, formatDurationMs, isoSeconds, planText, runDetailText, runsTable, runVmsTable, startedText } from "../../../cli/run-format.js";
import { evidenceEntry, evidenceLayout, evidenceText, outputLines } from "../../../cli/evidence-format.js";
import { escapeControl } from "../../../shared/terminal-text.js";
import { snapshotsTable } from "../../../cli/snapshots.js";
import { abortedText } from "../../../cli/runs.js";

const T0 = Date.parse("2026-11-23T12:00:00.000Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

const evidence = (over: Partial<EvidenceRecord>): EvidenceRecord => ({
  seq: 1, time: at(0), vm: "web1", host: "hv1", step: "snapshot", check: "create", command: "virDomainSnapshotCreateXML nightshift-r1-web1",
  result: "PASS", output: "", durationMs: 850, ...over,
});

describe("small formatters", () => {
  it("ISO times to the second, durations", () => {
    expect(isoSeconds("2026-11-23T12:00:01.234Z")).toBe("2026-11-23T12:00:01Z");
    expect(isoSeconds(null)).toBe("-");
    expect([0, 850, 12_345, 59_999, 65_000, 3_600_000 + 3 * 60_000].map(formatDurationMs))
      .toEqual(["0ms", "850ms", "12.3s", "60.0s", "1m 05s", "1h 03m"]);
  });

  it("counts: the non-zero ones, outcomes before in-flight and pending", () => {
    expect(countsText({ pending: 2, succeeded: 3, "rolled-back": 1, skipped: 0 })).toBe("3 succeeded, 1 rolled-back, 2 pending");
    expect(countsText({ succeeded: 0 })).toBe("none yet");
  });
});

describe("evidence log", () => {
  it("one line per record, columns aligned, output indented below", () => {
    const text = evidenceText([
      evidence({}),
      evidence({ seq: 2, time: at(65), vm: "database-01", step: "patch", check: "exec", command: "apt-get -y upgrade", result: "FAIL",
        output: "E: Could not get lock /var/lib/dpkg/lock\r\nE: is another process using it?\n\n", durationMs: 65_000 }),
      evidence({ seq: 3, time: at(70), vm: null, step: "run", check: "", command: "halt", result: "INFO", output: "", durationMs: 0 }),
    ]);
    expect(text).toBe(
      "2026-11-23T12:00:00.000Z  web1         snapshot/create       PASS   850ms  virDomainSnapshotCreateXML nightshift-r1-web1\n" +
      "2026-11-23T12:01:05.000Z  database-01  patch/exec            FAIL  1m 05s  apt-get -y upgrade\n" +
      "    | E: Could not get lock /var/lib/dpkg/lock\n" +
      "    | E: is another process using it?\n" +
      "2026-11-23T12:01:10.000Z  -            run                   INFO     0ms  halt\n");
  });

  it("guest output cannot send terminal escapes; a multi-line command stays on its line", () => {
    expect(escapeControl("\u001b[2J\u0007ok\tfine")).toBe("\\x1b[2J\\x07ok\tfine");
    expect(outputLines("a\u001b]0;pwned\u0007\nb\n")).toEqual(["a\\x1b]0;pwned\\x07", "b"]);
    expect(outputLines(" \n\n")).toEqual([]);
    const entry = evidenceEntry(evidence({ command: "set -e\napt-get update", output: "" }), evidenceLayout([]));
    expect(entry.split("\n")).toHaveLength(2);
    expect(entry).toContain("set -e\\napt-get update\n");
  });

  it("a layout fixed up front keeps batches aligned (the run's VM names)", () => {
    const layout = evidenceLayout([evidence({ vm: "a" })], ["a", "long-vm-name"]);
    const first = evidenceEntry(evidence({ vm: "a" }), layout);
    const second = evidenceEntry(evidence({ vm: "long-vm-name" }), layout);
    expect(first.indexOf("snapshot/create")).toBe(second.indexOf("snapshot/create"));
  });

  it("nothing for no evidence", () => {
    expect(evidenceText([])).toBe("");
  });
});

describe("plan", () => {
  const plan: RunPlan = {
    name: "openssl update",
    rules: ["canary web1 alone first; a canary failure halts the run", "at most 4 VMs at once, 2 per host"],
    vms: [
      { position: 2, vm: "web2", host: "hv1", canary: false, steps: ["snapshot nightshift-x-web2", "patch: apt-get -y upgrade"] },
      { position: 1, vm: "web1", host: "hypervisor-1", canary: true, steps: ["precheck", "snapshot nightshift-x-web1", "patch: apt-get -y upgrade",
        "verify tcp 443", "roll back on failure", "6", "7", "8", "9", "ten"] },
    ],
  };

  it("rules, then each VM in order with its numbered steps", () => {
    const lines = planText(plan).split("\n");
    expect(lines.slice(0, 5)).toEqual([
      'Plan for "openssl update" (dry run: nothing was started)', "", "Rules:",
      "  - canary web1 alone first; a canary failure halts the run", "  - at most 4 VMs at once, 2 per host",
    ]);
    expect(lines[6]).toBe("VMs in order (2):");
    expect(lines[7]).toMatch(/^ {2}POS\s+VM\s+HOST\s+CANARY$/);
    expect(lines[8]).toMatch(/^ {2}1\s+web1\s+hypervisor-1\s+yes$/);
    expect(lines[9]).toBe("       1. precheck");
    expect(lines[18]).toBe("      10. ten");
    expect(lines[19]).toMatch(/^ {2}2\s+web2\s+hv1\s+no$/);
    expect(lines[20]).toBe("       1. snapshot nightshift-x-web2");
    expect(lines[7]!.indexOf("HOST")).toBe(lines[19]!.indexOf("hv1"));
  });

  it("no rules", () => {
    expect(planText({ ...plan, rules: [] })).toContain("Rules:\n  (none)\n");
  });
});

const vmRecord = (over: Partial<RunVmRecord>): RunVmRecord => ({
  vm: "web1", host: "hv1", position: 1, canary: true, phase: "done", outcome: "succeeded", reason: null,
  snapshot: "nightshift-r1-web1", startedAt: at(0), finishedAt: at(60), ...over,
});

const detail = (over: Partial<RunDetail>): RunDetail => ({
  id: "r1", name: "openssl update", state: "running", haltReason: null, createdAt: at(0), finishedAt: null, vmCount: 2,
  counts: { succeeded: 1, "rolled-back": 0, skipped: 0, "needs-attention": 0, aborted: 0, "in-flight": 1, pending: 0 },
  spec: RunSpecSchema.parse({ vms: ["web1", "web2"], patch: { exec: "apt-get -y upgrade" }, reboot: "if-required",
    verify: { exec: "systemctl is-active nginx", output: "active", tcp: [443] } }),
  vms: [vmRecord({}), vmRecord({ vm: "web2", position: 2, canary: false, phase: "patch", outcome: null, snapshot: null })],
  ...over,
});

describe("tables", () => {
  it("runs: one row per run with its counts and halt reason", () => {
    const text = runsTable([
      detail({}),
      detail({ id: "r0", name: "kernel", state: "finished", haltReason: "canary web1 failed: rolled back", finishedAt: at(90),
        counts: { succeeded: 0, "rolled-back": 1, skipped: 0, "needs-attention": 0, aborted: 3, "in-flight": 0, pending: 0 } }),
    ]);
    const [header, r1, r0] = text.trimEnd().split("\n");
    expect(header).toMatch(/^ID\s+NAME\s+STATE\s+VMS\s+SUCCEEDED\s+ROLLED-BACK\s+SKIPPED\s+NEEDS-ATTENTION\s+ABORTED\s+CREATED\s+HALT REASON$/);
    expect(r1).toMatch(/^r1\s+openssl update\s+running\s+2\s+1\s+0\s+0\s+0\s+0\s+2026-11-23T12:00:00Z\s+-$/);
    expect(r0).toMatch(/^r0\s+kernel\s+finished\s+2\s+0\s+1\s+0\s+0\s+3\s+2026-11-23T12:00:00Z\s+canary web1 failed: rolled back$/);
    for (const column of ["NAME", "STATE", "VMS", "ABORTED", "CREATED", "HALT REASON"]) expectAligned(text, column);
  });

  it("run VMs: by position, dashes while in flight", () => {
    const text = runVmsTable([vmRecord({ vm: "web2", position: 2, canary: false, phase: "patch", outcome: null, snapshot: null }), vmRecord({})]);
    const [header, first, second] = text.trimEnd().split("\n");
    expect(header).toMatch(/^POS\s+VM\s+HOST\s+CANARY\s+PHASE\s+OUTCOME\s+REASON\s+SNAPSHOT$/);
    expect(first).toMatch(/^1\s+web1\s+hv1\s+yes\s+done\s+succeeded\s+-\s+nightshift-r1-web1$/);
    expect(second).toMatch(/^2\s+web2\s+hv1\s+no\s+patch\s+-\s+-\s+-$/);
    for (const column of ["VM", "PHASE", "OUTCOME", "SNAPSHOT"]) expectAligned(text, column);
  });

  it("run VMs: a long reason is cut in its column and printed whole below the table", () => {
    const reason = "verify failed: verify command `cat /data/version`: exit 0, but expected a line matching /^(?:v[12])$/; got: | broken";
    const text = runVmsTable([vmRecord({ outcome: "rolled-back", reason }), vmRecord({ vm: "web2", position: 2, reason: "short" })]);
    const lines = text.split("\n");
    expect(lines[1]).toContain(`  ${reason.slice(0, 57)}...  nightshift-r1-web1`);
    expect(lines[2]).toMatch(/\s+short\s+nightshift-r1-web1$/);
    expect(text.endsWith(`\nReasons:\n  1 web1: ${reason}\n`)).toBe(true);
    expect(runVmsTable([vmRecord({ reason: "short" })])).not.toContain("Reasons:");
  });

  it("run show: header with state, counts and what the run does, then the VMs", () => {
    const text = runDetailText(detail({ haltReason: "aborted by the operator", state: "stopping" }));
    expect(text).toContain('run        r1 "openssl update"\n');
    expect(text).toContain("state      stopping (halted: aborted by the operator)\n");
    expect(text).toContain("vms        2: 1 succeeded, 1 in-flight\n");
    expect(text).toContain('patch      exec "apt-get -y upgrade" (timeout 30m)\n');
    expect(text).toContain("reboot     if-required\n");
    expect(text).toContain('verify     exec "systemctl is-active nginx" outputs "active"; tcp 443\n');
    expect(text).toContain("limits     4 at once, 2 per host; 1 canary; no new VM after 1 failure\n");
    expect(text).toMatch(/\n\nPOS\s+VM\s+HOST/);
  });

  it("snapshots: times to the second, dashes for none", () => {
    const snap = (over: Partial<SnapshotRecord>): SnapshotRecord => ({
      runId: "r1", vm: "web1", host: "hv1", name: "nightshift-r1-web1", createdAt: at(0), expiresAt: at(3 * 86_400),
      deletedAt: null, note: null, ...over,
    });
    const text = snapshotsTable([snap({}), snap({ vm: "db1", name: "nightshift-r1-db1", deletedAt: at(100), note: "run rolled back to it; retention" })]);
    const [header, kept, deleted] = text.trimEnd().split("\n");
    expect(header).toMatch(/^VM\s+HOST\s+SNAPSHOT\s+RUN\s+CREATED\s+EXPIRES\s+DELETED\s+NOTE$/);
    expect(kept).toMatch(/^web1\s+hv1\s+nightshift-r1-web1\s+r1\s+2026-11-23T12:00:00Z\s+2026-11-26T12:00:00Z\s+-\s+-$/);
    expect(deleted).toMatch(/\s2026-11-23T12:01:40Z\s+run rolled back to it; retention$/);
    for (const column of ["HOST", "SNAPSHOT", "RUN", "EXPIRES", "DELETED", "NOTE"]) expectAligned(text, column);
  });
});

describe("start and abort messages", () => {
  it("start names the run, its canary and the commands to follow it", () => {
    const text = startedText(detail({}));
    expect(text.split("\n")[0]).toBe('Started run r1 ("openssl update"): 2 VMs, canary first: web1.');
    expect(text).toMatch(/^ {2}nightshift run show r1 {6}progress/m);
    expect(text).toMatch(/^ {2}nightshift run evidence r1 {2}every step/m);
    expect(text).toMatch(/^ {2}nightshift run abort r1 {5}start no more VMs/m);
  });

  it("abort says what state the run is in now", () => {
    const text = abortedText({ ...detail({ state: "stopping", haltReason: "aborted" }),
      counts: { succeeded: 1, "rolled-back": 0, skipped: 0, "needs-attention": 0, aborted: 3, "in-flight": 1, pending: 0 } });
    expect(text).toBe("Run r1 is stopping (aborted): no new VM starts; VMs not started end aborted. " +
      "Now: 1 succeeded, 3 aborted, 1 in-flight.\nFollow it: nightshift run show r1\n");
  });
});
