/**
 * `nightshift run ...`, `runs` and `snapshots` as real processes against a
 * real controller. hv1 and hv2 are agents that never answer steps (a run on
 * them stays in flight); sim1 is a simulated hypervisor that answers them, so
 * runs there finish (for --wait and snapshots).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startController, type TestController } from "../../helpers/controller.js";
import type { TestAgent } from "../../helpers/ws-agent.js";
import { SimulatedHypervisor } from "../../helpers/simulated-hypervisor.js";
import type { EvidenceRecord, RunDetail, RunPlan, RunRecord, RunSpecInput } from "../../../shared/runs.js";
import { api, apiCall, CLI_BIN, enrolledAgent, runAgainst, waitForVms } from "./run-cli.js";

let controller: TestController;
let hv1: TestAgent;
let hv2: TestAgent;
let sim: SimulatedHypervisor;
let dir: string;

beforeAll(async () => {
  controller = await startController();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-cli-runs-"));
  hv1 = await enrolledAgent(controller, "hv1", ["web1", "web2", "web3", "dup"]);
  hv2 = await enrolledAgent(controller, "hv2", ["dup"]);
  const token = (await runAgainst(controller, ["hosts", "enroll", "sim1"])).stdout.trim();
  sim = new SimulatedHypervisor("sim1", ["app1", "app2", "app3"]);
  sim.vms.get("app3")!.breaksOnPatch = true;
  await sim.connect(controller.url, token);
  await waitForVms(controller, 8);
});

afterAll(async () => {
  await sim?.disconnect();
  await hv1?.close();
  await hv2?.close();
  await controller?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const runsNow = async () => await api(controller, "/v1/runs") as RunRecord[];

describe("run start --dry-run", () => {
  const spec: RunSpecInput = { vms: ["web1", "web2"], patch: { exec: "apt-get -y upgrade" }, reboot: "if-required" };

  it("prints the controller's plan: its rules, then each VM with its host, canary and numbered steps", async () => {
    const result = await runAgainst(controller, ["run", "start", "--vm", "web1", "--vm", "web2", "--patch-exec", "apt-get -y upgrade",
      "--reboot", "if-required", "--dry-run"]);
    expect(result.code, result.stderr).toBe(0);
    const { json } = await apiCall<{ plan: RunPlan }>(controller, "POST", "/v1/runs", { spec, dryRun: true });
    const plan = json.plan;
    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe(`Plan for ${JSON.stringify(plan.name)} (dry run: nothing was started)`);
    expect(result.stdout).toContain(`Rules:\n${plan.rules.map((r) => `  - ${r}\n`).join("")}\nVMs in order (2):\n`);
    expect(result.stdout).toMatch(/^ {2}POS\s+VM\s+HOST\s+CANARY$/m);
    const web1 = lines.findIndex((l) => /^ {2}1\s+web1\s+hv1\s+yes$/.test(l));
    const web2 = lines.findIndex((l) => /^ {2}2\s+web2\s+hv1\s+no$/.test(l));
    expect(web1).toBeGreaterThan(0);
    expect(web2).toBe(web1 + plan.vms[0]!.steps.length + 1);
    plan.vms[0]!.steps.forEach((step, i) => expect(lines[web1 + 1 + i]).toBe(`      ${String(i + 1).padStart(2)}. ${step}`));
    expect(plan.vms[0]!.steps.some((s) => s.includes("apt-get -y upgrade"))).toBe(true);
    expect(await runsNow()).toEqual([]);
  });

  it("--json prints the plan as the API gives it", async () => {
    const result = await runAgainst(controller, ["run", "start", "--vm", "web1", "--vm", "web2", "--patch-exec", "apt-get -y upgrade",
      "--reboot", "if-required", "--dry-run", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const { json } = await apiCall<{ plan: RunPlan }>(controller, "POST", "/v1/runs", { spec, dryRun: true });
    expect(JSON.parse(result.stdout)).toEqual(json.plan);
  });

  it("a runbook file with a flag overriding its VMs", async () => {
    const file = path.join(dir, "hook.yaml");
    fs.writeFileSync(file, "name: kernel via hook\nvms: [web1, web2]\npatch:\n  hook: /usr/local/sbin/patch-vm\ncanary: 0\n");
    const result = await runAgainst(controller, ["run", "start", "-f", file, "--vm", "hv2/dup", "--dry-run", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout) as RunPlan;
    expect(plan.name).toBe("kernel via hook");
    expect(plan.vms.map(({ position, vm, host, canary }) => ({ position, vm, host, canary })))
      .toEqual([{ position: 1, vm: "dup", host: "hv2", canary: false }]);
    expect(plan.vms[0]!.steps.join("\n")).toContain("/usr/local/sbin/patch-vm");
  });
});

describe("run start errors", () => {
  it("an unknown VM: exit 1 with the controller's message and code", async () => {
    const result = await runAgainst(controller, ["run", "start", "--vm", "web1", "--vm", "nosuch", "--patch-exec", "x", "--dry-run"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^nightshift: no VM named 'nosuch'.*\(NS_ERR_NO_VM\)\n$/);
  });

  it("a name on two hosts: exit 1, says to use HOST/VM", async () => {
    const result = await runAgainst(controller, ["run", "start", "--vm", "dup", "--patch-exec", "x"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^nightshift: 'dup' exists on hv1, hv2: .*HOST\/VM.*\(NS_ERR_VM_AMBIGUOUS\)\n$/);
  });

  it("runbook errors are usage errors (exit 2) that name the file and line; nothing is started", async () => {
    const broken = path.join(dir, "broken.yaml");
    fs.writeFileSync(broken, "vms: [web1\npatch: {exec: x}\n");
    const syntax = await runAgainst(controller, ["run", "start", "-f", broken]);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(new RegExp(`^nightshift: ${broken}:2:\\d+: .* \\(the runbook is YAML\\) \\(NS_ERR_RUNBOOK\\)\\n$`));

    const invalid = path.join(dir, "invalid.yaml");
    fs.writeFileSync(invalid, "vms: [web1]\npatch: {exec: x}\nkeepSnapshots: forever\nmax-parallel: 2\n");
    const values = await runAgainst(controller, ["run", "start", "-f", invalid, "--canary", "-1"]);
    expect(values.code).toBe(2);
    expect(values.stderr).toMatch(/option '--canary <n>' argument '-1' is invalid\. expected a whole number/);
    const spec = await runAgainst(controller, ["run", "start", "-f", invalid, "--reboot", "always"]);
    expect(spec.code).toBe(2);
    expect(spec.stdout).toBe("");
    expect(spec.stderr).toBe(`nightshift: invalid run options (runbook ${invalid} and flags), nothing was started:\n` +
      `  ${invalid}:3: keepSnapshots: expected a duration like 90s, 15m, 1h, 3d\n` +
      `  ${invalid}:4: max-parallel: unknown key "max-parallel" (did you mean maxParallel?); known keys: ` +
      "name, vms, patch, patchTimeout, reboot, verify, maxParallel, maxParallelPerHost, canary, maxFailures, keepSnapshots, " +
      "rebootIfOlderThan, loggedInUsers, snapshotMode, allowNoRollback, snapshotHeadroom\n" +
      "Run options and runbook keys: nightshift run start --help (NS_ERR_RUN_SPEC)\n");

    const missing = await runAgainst(controller, ["run", "start", "-f", path.join(dir, "nope.yaml")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`nightshift: cannot read runbook ${path.join(dir, "nope.yaml")}: no such file (NS_ERR_RUNBOOK)\n`);
    expect(await runsNow()).toEqual([]);
  });

  it("usage errors: both patches, --wait with --dry-run, no options", async () => {
    const both = await runAgainst(controller, ["run", "start", "--vm", "web1", "--patch-exec", "x", "--patch-hook", "/y"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("cannot be used with option '--patch-hook <path>'");
    const waitDry = await runAgainst(controller, ["run", "start", "--vm", "web1", "--patch-exec", "x", "--dry-run", "--wait"]);
    expect(waitDry.code).toBe(2);
    expect(waitDry.stderr).toContain("--wait has nothing to wait for with --dry-run");
    const nothing = await runAgainst(controller, ["run", "start"]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain("vms (--vm): missing");
    expect(nothing.stderr).toContain("patch (--patch-exec or --patch-hook): missing");
  });
});

describe("a run whose agent does not answer", () => {
  let id: string;

  it("start prints the id and how to follow it; the agent is asked for the first step of the canary", async () => {
    const result = await runAgainst(controller, ["run", "start", "--vm", "web1", "--vm", "web2", "--patch-exec", "apt-get -y upgrade",
      "--name", "stuck"]);
    expect(result.code, result.stderr).toBe(0);
    const match = /^Started run (\S+) \("stuck"\): 2 VMs, canary first: web1\.\n/.exec(result.stdout);
    expect(match, result.stdout).not.toBeNull();
    id = match![1]!;
    expect(result.stdout).toContain(`nightshift run show ${id}`);
    expect(result.stdout).toContain(`nightshift run evidence ${id}`);
    const step = await hv1.next("step", 5_000);
    expect(step.action.vm).toBe("web1");
  });

  it("runs: the run in the table, --json as the API", async () => {
    const table = await runAgainst(controller, ["runs"]);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^ID\s+NAME\s+STATE\s+VMS\s+SUCCEEDED\s+ROLLED-BACK\s+SKIPPED\s+NEEDS-ATTENTION\s+ABORTED\s+CREATED\s+HALT REASON$/);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(new RegExp(`^${id}\\s+stuck\\s+running\\s+2\\s+0\\s+0\\s+0\\s+0\\s+0\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+-$`));
    const json = await runAgainst(controller, ["runs", "--json", "--limit", "1"]);
    expect(JSON.parse(json.stdout)).toEqual(await api(controller, "/v1/runs?limit=1"));
    expect((await runAgainst(controller, ["runs", "--limit", "0"])).code).toBe(2);
  });

  it("run show: header and per-VM rows from the API's detail; --json as the API", async () => {
    const detail = await api(controller, `/v1/runs/${id}`) as RunDetail;
    const web1 = detail.vms.find((v) => v.vm === "web1")!;
    expect(web1.outcome).toBeNull();
    const result = await runAgainst(controller, ["run", "show", id]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`run        ${id} "stuck"\n`);
    expect(result.stdout).toContain("state      running\n");
    expect(result.stdout).toContain('patch      exec "apt-get -y upgrade" (timeout 30m)\n');
    expect(result.stdout).toMatch(/^POS\s+VM\s+HOST\s+CANARY\s+PHASE\s+OUTCOME\s+REASON\s+SNAPSHOT$/m);
    expect(result.stdout).toMatch(new RegExp(`^1\\s+web1\\s+hv1\\s+yes\\s+${web1.phase}\\s+-\\s+`, "m"));
    expect(result.stdout).toMatch(/^2\s+web2\s+hv1\s+no\s+pending\s+-\s+-\s+-$/m);
    const json = await runAgainst(controller, ["run", "show", id, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual(await api(controller, `/v1/runs/${id}`));
  });

  it("a VM in an active run cannot join another", async () => {
    const result = await runAgainst(controller, ["run", "start", "--vm", "web1", "--patch-exec", "x"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^nightshift: VM hv1/web1 is already in run ${id}.*\\(NS_ERR_VM_IN_RUN\\)\\n$`));
  });

  it("run evidence: a line per record of the API, --json as the API", async () => {
    const records = await api(controller, `/v1/runs/${id}/evidence`) as EvidenceRecord[];
    const result = await runAgainst(controller, ["run", "evidence", id]);
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("    | "));
    expect(lines).toHaveLength(records.length);
    records.forEach((r, i) => {
      expect(lines[i]!.startsWith(`${r.time}  `)).toBe(true);
      expect(lines[i]).toContain(`  ${r.result}  `);
    });
    const json = await runAgainst(controller, ["run", "evidence", id, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual(records);
  });

  it("abort: the pending VM ends aborted, the run stops", async () => {
    const result = await runAgainst(controller, ["run", "abort", id]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Run ${id} is (stopping|finished) \\(aborted by the operator\\): no new VM starts; ` +
      "VMs not started end aborted\\. Now: .*1 aborted"));
    const detail = await api(controller, `/v1/runs/${id}`) as RunDetail;
    expect(detail.vms.find((v) => v.vm === "web2")!.outcome).toBe("aborted");
    expect(detail.haltReason).toBe("aborted by the operator");
    const show = await runAgainst(controller, ["run", "show", id]);
    expect(show.stdout).toMatch(/^2\s+web2\s+hv1\s+no\s+\S+\s+aborted\s+/m);
    const runs = await runAgainst(controller, ["runs"]);
    expect(runs.stdout).toMatch(new RegExp(`^${id}\\s+stuck\\s+(stopping|finished)\\s+2\\s+0\\s+0\\s+0\\s+0\\s+1\\s+\\S+\\s+aborted by the operator$`, "m"));
  });

  it("an unknown run id: exit 1, NS_ERR_NO_RUN, for show, evidence and abort", async () => {
    for (const args of [["run", "show", "nosuch"], ["run", "evidence", "nosuch"], ["run", "abort", "nosuch"]]) {
      const result = await runAgainst(controller, args);
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stderr).toMatch(/^nightshift: no run with id 'nosuch'.*\(NS_ERR_NO_RUN\)\n$/);
    }
  });
});

describe("run start --wait", () => {
  it("Ctrl-C stops only the waiting: exit 130, the run goes on", async () => {
    const child = spawn(process.execPath, [CLI_BIN, "run", "start", "--vm", "web3", "--patch-exec", "x", "--wait"], {
      env: { ...process.env, NIGHTSHIFT_URL: controller.url, NIGHTSHIFT_TOKEN: controller.adminToken, HOME: "/nonexistent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => { stdout += c; });
    child.stderr.setEncoding("utf8").on("data", (c: string) => { stderr += c; });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    for (let i = 0; !/^Started run (\S+)/.test(stdout); i++) {
      if (i > 200) throw new Error(`no start line: ${stdout} ${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const id = /^Started run (\S+)/.exec(stdout)![1]!;
    await new Promise((r) => setTimeout(r, 300));
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toContain(`nightshift: stopped waiting; run ${id} continues on the controller.`);
    expect(stderr).toContain(`nightshift run abort ${id}`);
    const detail = await api(controller, `/v1/runs/${id}`) as RunDetail;
    expect(detail.state).toBe("running");
    expect(detail.haltReason).toBeNull();
    expect(detail.vms[0]!.outcome).toBeNull();
    expect((await runAgainst(controller, ["run", "abort", id])).code).toBe(0);
  });

  it("follows a run to its end: evidence and changes as they come, the summary, exit 0 when every VM succeeded", async () => {
    const result = await runAgainst(controller, ["run", "start", "--vm", "app1", "--vm", "app2", "--patch-exec", "apt-get -y upgrade",
      "--verify-exec", "cat /data/version", "--verify-pattern", "v[12]", "--wait"]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const id = /^Started run (\S+)/.exec(result.stdout)![1]!;
    const records = await api(controller, `/v1/runs/${id}/evidence`) as EvidenceRecord[];
    const logged = result.stdout.split("\n").filter((l) => /^\d{4}-\d\d-\d\dT\S+Z {2}app\d +\S+\/\S* +(PASS|FAIL|INFO|WARN) /.test(l));
    // Every record once, in order (the run-level ones have vm "-").
    expect(logged.map((l) => l.split(/\s+/)[2])).toEqual(records.filter((r) => r.vm !== null).map((r) => r.check ? `${r.step}/${r.check}` : r.step));
    expect(result.stdout).toMatch(/^\S+Z {2}app1 {2}succeeded$/m);
    expect(result.stdout).toMatch(/^\S+Z {2}app2 {2}succeeded$/m);
    expect(result.stdout).toMatch(new RegExp(`\\nRun ${id} finished: 2 succeeded\\nPOS\\s+VM\\s+HOST`));
    expect(result.stdout).toMatch(new RegExp(`^1\\s+app1\\s+sim1\\s+yes\\s+done\\s+succeeded\\s+\\S+\\s+nightshift-${id}-app1$`, "m"));
  });

  it("exit 1 when a VM did not succeed; with --json the progress goes to stderr and the run to stdout", async () => {
    const result = await runAgainst(controller, ["run", "start", "--vm", "app3", "--patch-exec", "apt-get -y upgrade",
      "--verify-exec", "cat /data/version", "--verify-pattern", "v[12]", "--wait", "--json"]);
    expect(result.code).toBe(1);
    const run = JSON.parse(result.stdout) as RunDetail;
    expect(run.state).toBe("finished");
    expect(run.vms.map((v) => v.outcome)).toEqual(["rolled-back"]);
    expect(run).toEqual(await api(controller, `/v1/runs/${run.id}`));
    expect(result.stderr).toMatch(new RegExp(`^Started run ${run.id} `));
    expect(result.stderr).toMatch(/ {2}app3 {2}verify\/exec +FAIL /);
    expect(result.stderr).toMatch(/^\S+Z {2}app3 {2}rolled-back: /m);
    expect(result.stderr).toMatch(new RegExp(`nightshift: run ${run.id} finished, 1 of 1 VM did not succeed \\(1 rolled-back\\): ` +
      `see nightshift run evidence ${run.id} \\(NS_ERR_RUN_NOT_SUCCEEDED\\)\\n$`));
  });
});

describe("snapshots", () => {
  it("lists the snapshots runs took; --json and --all --json as the API", async () => {
    const snapshots = await api(controller, "/v1/snapshots") as { vm: string; name: string; runId: string }[];
    expect(snapshots.map((s) => s.vm).sort()).toEqual(["app1", "app2", "app3"]);
    const json = await runAgainst(controller, ["snapshots", "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(snapshots);
    const all = await runAgainst(controller, ["snapshots", "--all", "--json"]);
    expect(JSON.parse(all.stdout)).toEqual(await api(controller, "/v1/snapshots?all=1"));
    const table = await runAgainst(controller, ["snapshots"]);
    expect(table.stdout).toMatch(/^VM\s+HOST\s+SNAPSHOT\s+RUN\s+CREATED\s+EXPIRES\s+DELETED\s+NOTE$/m);
    for (const s of snapshots) {
      expect(table.stdout).toMatch(new RegExp(`^${s.vm}\\s+sim1\\s+${s.name}\\s+${s.runId}\\s+\\S+Z\\s+\\S+Z\\s+-\\s+-$`, "m"));
    }
  });
});

describe("run start on a host without a connected agent", () => {
  it("is refused naming the host; --wait-for-agent starts it", async () => {
    const gone = await enrolledAgent(controller, "hv-gone", ["lonely"]);
    await waitForVms(controller, 9);
    await gone.close();
    for (let i = 0; i < 100; i++) {
      const hosts = await api(controller, "/v1/hosts") as { name: string; connected: boolean }[];
      if (hosts.find((h) => h.name === "hv-gone")?.connected === false) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const args = ["run", "start", "--vm", "hv-gone/lonely", "--patch-exec", "apt-get -y upgrade"];
    const refused = await runAgainst(controller, args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no agent is connected for host hv-gone .*--wait-for-agent.*\(NS_ERR_HOST_DISCONNECTED\)/);
    const started = await runAgainst(controller, [...args, "--wait-for-agent", "--json"]);
    expect(started.code).toBe(0);
    const run = JSON.parse(started.stdout) as RunDetail;
    await apiCall(controller, "POST", `/v1/runs/${run.id}/abort`);
  });
});

describe("snapshots delete and vm resolve", () => {
  it("deletes a run's internal snapshot (--json as the API answers), lists it as deleted; usage errors exit 2", async () => {
    const snap = (await api(controller, "/v1/snapshots") as { vm: string; host: string; name: string }[]).find((s) => s.vm === "app1")!;
    const both = await runAgainst(controller, ["snapshots", "delete", `sim1/app1`, snap.name, "--merge", "--discard"]);
    expect([both.code, both.stderr]).toEqual([2, "nightshift: give --merge or --discard, not both (NS_ERR_USAGE)\n"]);
    const bare = await runAgainst(controller, ["snapshots", "delete", "app1", snap.name]);
    expect([bare.code, bare.stderr]).toEqual([2, "nightshift: 'app1': name the VM as HOST/VM (nightshift snapshots lists both) (NS_ERR_USAGE)\n"]);
    const discard = await runAgainst(controller, ["snapshots", "delete", "sim1/app1", snap.name, "--discard"]);
    expect([discard.code, discard.stderr]).toEqual([1, expect.stringMatching(/internal snapshot.*\(NS_ERR_SNAPSHOT_MODE\)\n$/)]);

    const deleted = await runAgainst(controller, ["snapshots", "delete", "sim1/app1", snap.name, "--reason", "not needed", "--json"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    const record = JSON.parse(deleted.stdout) as { result: string; deletedAt: string | null; note: string };
    const all = await api(controller, "/v1/snapshots?all=1") as { name: string }[];
    expect(record).toEqual({ ...all.find((s) => s.name === snap.name), result: "deleted" });
    expect(record.note).toMatch(/^deleted by the operator \(\S+@\S+ \(API token \S+\)\): not needed$/);
    const table = await runAgainst(controller, ["snapshots", "--all"]);
    expect(table.stdout).toMatch(new RegExp(`^app1\\s+sim1\\s+${snap.name}\\s+\\S+\\s+\\S+Z\\s+\\S+Z\\s+\\S+Z\\s+deleted by the operator`, "m"));
    const again = await runAgainst(controller, ["snapshots", "delete", "sim1/app1", snap.name]);
    expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/was deleted at .*\(NS_ERR_SNAPSHOT_DELETED\)\n$/)]);
  });

  it("vm resolve refuses a VM that does not need attention, and an unknown one", async () => {
    const fine = await runAgainst(controller, ["vm", "resolve", "sim1/app1", "--reason", "x"]);
    expect([fine.code, fine.stderr]).toEqual([1, "nightshift: sim1/app1 does not need attention: no run left it so since a later run on it " +
      "ended well or it was last resolved (see nightshift runs) (NS_ERR_VM_NOT_NEEDS_ATTENTION)\n"]);
    const unknown = await runAgainst(controller, ["vm", "resolve", "nosuchvm", "--reason", "x"]);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining("(NS_ERR_NO_VM)")]);
    const noReason = await runAgainst(controller, ["vm", "resolve", "sim1/app1"]);
    expect([noReason.code, noReason.stderr]).toEqual([2, expect.stringContaining("required option '--reason <text>' not specified")]);
  });
});
