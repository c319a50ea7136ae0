/** `nightshift findings` and `nightshift expect-stop` as real processes against a real controller fed by a test agent. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { startController, type TestController } from "../../helpers/controller.js";
import { sampleDomain, TestAgent } from "../../helpers/ws-agent.js";
import { api, runAgainst } from "./run-cli.js";

let controller: TestController;
let agent: TestAgent;
const web = sampleDomain("web1");

beforeAll(async () => {
  controller = await startController();
  const enrolled = await runAgainst(controller, ["hosts", "enroll", "hv1"]);
  agent = await TestAgent.connect(controller.url, enrolled.stdout.trim());
  agent.hello("hv1");
  await agent.next("welcome");
  agent.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [web] });
  agent.send({ v: 1, type: "health", report: {
    collectedAt: new Date().toISOString(),
    probes: [{ name: "fstab", status: "ok", durationMs: 2 }],
    findings: [
      { code: "NS_FSTAB_TYPE_MISMATCH", severity: "critical", subject: "/srv/data", probe: "fstab",
        message: "fstab says xfs, the device holds ext4", remedy: "UUID=1234 /srv/data ext4 defaults 0 2" },
      { code: "NS_FSTAB_NETWORK_NO_NETDEV", severity: "warning", subject: "/srv/nas", probe: "fstab",
        message: "no _netdev", remedy: "nas01:/x /srv/nas nfs defaults,_netdev 0 0" },
    ],
    mounts: [], systemd: null,
  } });
  agent.send({ v: 1, type: "events", events: [{ id: randomUUID(), time: new Date().toISOString(), domain: "web1", uuid: web.uuid,
    kind: "lifecycle", event: "stopped", detail: "destroyed" }] });
  await agent.next("ack");
});

afterAll(async () => {
  await agent?.close();
  await controller?.stop();
});

describe("nightshift findings", () => {
  it("lists findings worst first, with the remedies (the corrected fstab line)", async () => {
    const result = await runAgainst(controller, ["findings"]);
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^SEVERITY\s+HOST\s+CODE\s+SUBJECT\s+SINCE\s+MESSAGE$/);
    expect(lines[1]).toMatch(/^critical\s+hv1\s+NS_FSTAB_TYPE_MISMATCH\s+\/srv\/data\s+\d+s ago\s+fstab says xfs/);
    expect(lines.slice(2, 4).map((l) => l.split(/\s+/)[0])).toEqual(["warning", "warning"]);
    expect(result.stdout).toContain("    UUID=1234 /srv/data ext4 defaults 0 2");
  });

  it("--severity filters, --json equals the API", async () => {
    const critical = await runAgainst(controller, ["findings", "--severity", "critical", "--json"]);
    expect(JSON.parse(critical.stdout)).toEqual(await api(controller, "/v1/findings?severity=critical"));
    expect((JSON.parse(critical.stdout) as unknown[]).length).toBe(1);
    const bad = await runAgainst(controller, ["findings", "--severity", "urgent"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Allowed choices are critical, warning, info/);
  });

  it("expect-stop explains the unexpected stop and resolves its finding", async () => {
    const before = JSON.parse((await runAgainst(controller, ["findings", "--json"])).stdout) as { code: string }[];
    expect(before.map((f) => f.code)).toContain("NS_VM_UNEXPECTED_STOP");
    const recorded = await runAgainst(controller, ["expect-stop", "web1", "--host", "hv1", "--reason", "disk resize", "--for", "1h"]);
    expect(recorded.code).toBe(0);
    expect(recorded.stdout).toMatch(/stops of web1 on hv1 are expected until .*; its unexpected-stop finding is resolved/);
    const after = JSON.parse((await runAgainst(controller, ["findings", "--json"])).stdout) as { code: string }[];
    expect(after.map((f) => f.code)).not.toContain("NS_VM_UNEXPECTED_STOP");
    const history = JSON.parse((await runAgainst(controller, ["events", "--host", "hv1", "--json"])).stdout) as { event: string; data: { reason?: string } | null }[];
    expect(history.find((e) => e.event === "expected-stop")?.data?.reason).toBe("disk resize");
  });

  it("expect-stop refuses a VM or host the controller does not know: a typo must not protect nothing in silence", async () => {
    const noVm = await runAgainst(controller, ["expect-stop", "web1-typo", "--host", "hv1", "--reason", "x"]);
    expect(noVm.code).toBe(1);
    expect(noVm.stderr).toMatch(/no VM named 'web1-typo' on host hv1 .*\(NS_ERR_NO_VM\)/);
    const noHost = await runAgainst(controller, ["expect-stop", "web1", "--host", "hv-typo", "--reason", "x"]);
    expect(noHost.code).toBe(1);
    expect(noHost.stderr).toMatch(/no host named 'hv-typo'.*\(NS_ERR_NO_HOST\)/);
    const history = JSON.parse((await runAgainst(controller, ["events", "--host", "hv1", "--json"])).stdout) as { event: string; data: { vm?: string } | null }[];
    expect(history.filter((e) => e.event === "expected-stop" && e.data?.vm === "web1-typo")).toEqual([]);
  });

  it("expect-stop without --reason is a usage error", async () => {
    const result = await runAgainst(controller, ["expect-stop", "web1", "--host", "hv1"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--reason/);
  });
});
