/**
 * Terminal control characters an agent (or anyone holding its token) puts in
 * what it reports — a VM name, a finding's message, an event's fields, its
 * hello's versions — never reach the operator's terminal raw through the
 * `nightshift` binary's tables; `--json` keeps them exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { startController, type TestController } from "../../helpers/controller.js";
import { sampleDomain, TestAgent } from "../../helpers/ws-agent.js";
import { runAgainst } from "./run-cli.js";

/** Clears the screen, moves the cursor home, and a carriage return that would overwrite the start of the line. */
const HOSTILE = "\x1b[2J\x1b[Hpwned\rok\x07\x9b";
const ESCAPED = "\\x1b[2J\\x1b[Hpwned\\x0dok\\x07\\x9b";
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

let controller: TestController;
let agent: TestAgent;
const vm = sampleDomain(`web${HOSTILE}`);

beforeAll(async () => {
  controller = await startController();
  const enrolled = await runAgainst(controller, ["hosts", "enroll", "hv1"]);
  agent = await TestAgent.connect(controller.url, enrolled.stdout.trim());
  agent.send({ v: 1, type: "hello", host: "hv1", hostname: `hv1${HOSTILE}`, agentVersion: `0.1${HOSTILE}`, libvirtVersion: `9${HOSTILE}`,
    libvirtUri: "qemu:///system" });
  await agent.next("welcome");
  agent.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [vm] });
  agent.send({ v: 1, type: "health", report: {
    collectedAt: new Date().toISOString(), probes: [], mounts: [], systemd: null,
    findings: [{ code: "NS_FSTAB_TYPE_MISMATCH", severity: "critical", subject: `/srv${HOSTILE}`, probe: "fstab",
      message: `fstab says xfs${HOSTILE}`, remedy: `UUID=1 /srv ext4 defaults 0 2${HOSTILE}` }],
  } });
  agent.send({ v: 1, type: "events", events: [{ id: randomUUID(), time: new Date().toISOString(), domain: vm.name, uuid: vm.uuid,
    kind: "lifecycle", event: `stopped${HOSTILE}`, detail: `destroyed${HOSTILE}` }] });
  await agent.next("ack");
});

afterAll(async () => {
  await agent?.close();
  await controller?.stop();
});

describe("agent-reported text in the CLI's tables", () => {
  it.each([
    ["vms", 2], // the name, and the disk path made from it
    ["findings", 4],
    ["events", 3],
    ["hosts", 2],
  ] as const)("nightshift %s shows ESC, CR and other control characters escaped (\\xNN), %i times", async (command, times) => {
    const out = await runAgainst(controller, [command]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).not.toMatch(RAW_CONTROL);
    expect(out.stdout.split(ESCAPED).length - 1, out.stdout).toBe(times);
  });

  it("vms and findings tables stay aligned: a column is as wide as its escaped text", async () => {
    const out = await runAgainst(controller, ["vms"]);
    const [header, row] = out.stdout.split("\n");
    expect(row!.indexOf("running")).toBe(header!.indexOf("STATE"));
  });

  it("--json keeps every byte as the agent sent it", async () => {
    const vms = JSON.parse((await runAgainst(controller, ["vms", "--json"])).stdout) as { name: string }[];
    expect(vms.map((v) => v.name)).toEqual([vm.name]);
    const findings = JSON.parse((await runAgainst(controller, ["findings", "--json"])).stdout) as { message: string }[];
    expect(findings.map((f) => f.message)).toEqual([`fstab says xfs${HOSTILE}`]);
    const hosts = JSON.parse((await runAgainst(controller, ["hosts", "--json"])).stdout) as { agentVersion: string }[];
    expect(hosts.map((h) => h.agentVersion)).toEqual([`0.1${HOSTILE}`]);
  });

  it("an error message that names an agent's VM is escaped on stderr too", async () => {
    // The controller's answer quotes the VM's name as the agent reported it.
    const out = await runAgainst(controller, ["vm", "resolve", `hv1/${vm.name}`, "--reason", "checked"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("NS_ERR_VM_NOT_NEEDS_ATTENTION");
    expect(out.stderr).not.toMatch(RAW_CONTROL);
    expect(out.stderr).toContain(`web${ESCAPED}`);
  });
});
