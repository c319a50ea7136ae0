/** `run start --wait`: the change lines, and the polling loop against a scripted client (no timers, no network). */
import { describe, expect, it } from "vitest";
import type { EvidenceRecord, RunDetail, RunVmRecord } from "../../../shared/runs.js";
import { RunSpecSchema } from "../../../shared/runs.js";
import { ControllerApiError, ControllerUnreachableError } from "../../../cli/api-client.js";
import { allSucceeded, notSucceededError, runChanges, summaryText, waitForRun } from "../../../cli/run-wait.js";

const T0 = Date.parse("2026-11-23T12:00:00.000Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

const vm = (name: string, position: number, over: Partial<RunVmRecord> = {}): RunVmRecord => ({
  vm: name, host: "hv1", position, canary: position === 1, phase: over.outcome ? "done" : "pending", outcome: null, reason: null, snapshot: null,
  startedAt: null, finishedAt: null, ...over,
});

const run = (vms: RunVmRecord[], over: Partial<RunDetail> = {}): RunDetail => ({
  id: "r1", name: "n", state: "running", haltReason: null, createdAt: at(0), finishedAt: null, vmCount: vms.length,
  counts: {
    succeeded: vms.filter((v) => v.outcome === "succeeded").length, "rolled-back": vms.filter((v) => v.outcome === "rolled-back").length,
    skipped: 0, "needs-attention": 0, aborted: vms.filter((v) => v.outcome === "aborted").length,
    "in-flight": vms.filter((v) => v.outcome === null && v.phase !== "pending").length, pending: vms.filter((v) => v.phase === "pending").length,
  },
  spec: RunSpecSchema.parse({ vms: vms.map((v) => v.vm), patch: { exec: "x" } }), vms, ...over,
});

const record = (seq: number, vmName: string, step: string): EvidenceRecord => ({
  seq, time: at(seq), vm: vmName, host: "hv1", step, check: "", command: `${step} ${vmName}`, result: "PASS", output: "", durationMs: 10,
});

describe("runChanges", () => {
  it("a line per phase change and per outcome, with the reason; nothing for what did not change", () => {
    const before = run([vm("web1", 1, { phase: "patch" }), vm("web2", 2)]);
    const after = run([vm("web1", 1, { phase: "done", outcome: "rolled-back", reason: "verify tcp 443 refused" }), vm("web2", 2, { phase: "precheck" })],
      { haltReason: "canary web1 failed", state: "stopping" });
    expect(runChanges(before, after, at(5), 4)).toEqual({
      phases: ["2026-11-23T12:00:05Z  web2  phase precheck"],
      outcomes: [
        "2026-11-23T12:00:05Z  web1  rolled-back: verify tcp 443 refused",
        "2026-11-23T12:00:05Z  run   halted: canary web1 failed",
        "2026-11-23T12:00:05Z  run   state stopping",
      ],
    });
    expect(runChanges(after, after, at(6))).toEqual({ phases: [], outcomes: [] });
  });

  it("the first look reports VMs that are not pending any more", () => {
    expect(runChanges(null, run([vm("web1", 1, { phase: "snapshot" }), vm("web2", 2)]), at(1)).phases)
      .toEqual(["2026-11-23T12:00:01Z  web1  phase snapshot"]);
  });

  it("the same VM name on two hosts is two VMs", () => {
    const before = run([vm("db", 1, { host: "hv1" }), vm("db", 2, { host: "hv2" })]);
    const after = run([vm("db", 1, { host: "hv1" }), vm("db", 2, { host: "hv2", phase: "patch" })]);
    expect(runChanges(before, after, at(1))).toEqual({ phases: ["2026-11-23T12:00:01Z  db  phase patch"], outcomes: [] });
  });
});

describe("outcome of --wait", () => {
  it("succeeds only when every VM succeeded", () => {
    expect(allSucceeded(run([vm("a", 1, { outcome: "succeeded" }), vm("b", 2, { outcome: "succeeded" })]))).toBe(true);
    expect(allSucceeded(run([vm("a", 1, { outcome: "succeeded" }), vm("b", 2, { outcome: "skipped" })]))).toBe(false);
    const failed = run([vm("a", 1, { outcome: "succeeded" }), vm("b", 2, { outcome: "rolled-back" })], { state: "finished" });
    const err = notSucceededError(failed);
    expect(err.code).toBe("NS_ERR_RUN_NOT_SUCCEEDED");
    expect(err.message).toBe("run r1 finished, 1 of 2 VMs did not succeed (1 succeeded, 1 rolled-back): see nightshift run evidence r1");
    expect(summaryText(failed)).toMatch(/^\nRun r1 finished: 1 succeeded, 1 rolled-back\nPOS\s+VM/);
  });
});

/** A client that answers from scripted polls; records the `after` values it was asked for. */
function scripted(polls: (RunDetail | Error)[], evidenceBySeq: EvidenceRecord[]) {
  const afters: (number | undefined)[] = [];
  let i = 0;
  return {
    afters,
    client: {
      getRun: async (id: string) => {
        expect(id).toBe("r1");
        const next = polls[Math.min(i++, polls.length - 1)]!;
        if (next instanceof Error) throw next;
        return next;
      },
      runEvidence: async (_id: string, after?: number) => {
        afters.push(after);
        // Evidence appears as the polls go on: poll n sees the records with seq <= 2n.
        return evidenceBySeq.filter((r) => r.seq > (after ?? 0) && r.seq <= 2 * i);
      },
    },
  };
}

describe("waitForRun", () => {
  it("prints each evidence record once, in order, and the changes; returns the finished run", async () => {
    const evidence = [record(1, "web1", "precheck"), record(2, "web1", "snapshot"), record(3, "web1", "patch"), record(4, "web1", "verify")];
    const polls = [
      run([vm("web1", 1, { phase: "snapshot" })]),
      run([vm("web1", 1, { phase: "verify" })]),
      run([vm("web1", 1, { phase: "done", outcome: "succeeded" })], { state: "finished" }),
    ];
    const { client, afters } = scripted(polls, evidence);
    let out = "";
    let clock = T0;
    const sleeps: number[] = [];
    const finished = await waitForRun({
      client, runId: "r1", initial: run([vm("web1", 1)]), write: (t) => { out += t; },
      now: () => clock, sleep: async (ms) => { sleeps.push(ms); clock += ms; },
    });
    expect(finished.state).toBe("finished");
    expect(afters).toEqual([undefined, 2, 4]);
    expect(sleeps).toEqual([1000, 1000]);
    const lines = out.trimEnd().split("\n");
    expect(lines.map((l) => l.replace(/\s+/g, " "))).toEqual([
      "2026-11-23T12:00:01.000Z web1 precheck PASS 10ms precheck web1",
      "2026-11-23T12:00:02.000Z web1 snapshot PASS 10ms snapshot web1",
      "2026-11-23T12:00:00Z web1 phase snapshot",
      "2026-11-23T12:00:03.000Z web1 patch PASS 10ms patch web1",
      "2026-11-23T12:00:04.000Z web1 verify PASS 10ms verify web1",
      "2026-11-23T12:00:01Z web1 phase verify",
      "2026-11-23T12:00:02Z web1 succeeded",
      "2026-11-23T12:00:02Z run state finished",
    ]);
  });

  it("an unreachable controller is said once and retried; back again is said too", async () => {
    const down = new ControllerUnreachableError("cannot reach the controller at http://c:8650: connection refused");
    const { client } = scripted([down, down, run([vm("web1", 1, { outcome: "succeeded", phase: "done" })], { state: "finished" })], []);
    let out = "";
    let clock = T0;
    await waitForRun({ client, runId: "r1", write: (t) => { out += t; }, now: () => clock, sleep: async (ms) => { clock += ms; } });
    expect(out.match(/connection refused; retrying/g)).toHaveLength(1);
    expect(out).toContain("the controller answers again");
  });

  it("gives up after the limit, saying that the run continues", async () => {
    const down = new ControllerUnreachableError("cannot reach the controller at http://c:8650: connection refused");
    const { client } = scripted([down], []);
    let clock = T0;
    const waiting = waitForRun({ client, runId: "r1", write: () => {}, now: () => clock, sleep: async (ms) => { clock += ms; },
      unreachableLimitMs: 5_000 });
    await expect(waiting).rejects.toThrow(/gave up waiting for run r1 after 5 s \(the run itself continues on the controller\)/);
    expect(clock - T0).toBe(5_000);
  });

  it("other errors end the wait at once", async () => {
    const { client } = scripted([new ControllerApiError(404, "NS_ERR_NO_RUN", "no run r1")], []);
    await expect(waitForRun({ client, runId: "r1", write: () => {}, sleep: async () => {} })).rejects.toThrow("no run r1");
  });
});
