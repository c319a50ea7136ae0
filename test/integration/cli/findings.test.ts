/** `nightshift findings` and `nightshift expect-stop` as real processes against a real controller fed by a test agent. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { startController, type TestController } from "../../helpers/controller.js";
import { sampleDomain, TestAgent } from "../../helpers/ws-agent.js";
import { api, enrolledAgent, runAgainst } from "./run-cli.js";
import { pollFor } from "../../helpers/poll.js";

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

describe("nightshift findings --resolved over a history longer than a page", () => {
  it("shows the first 1000 (open first, then the most recently resolved) and says how many there are; --all shows every one", async () => {
    const hist = await enrolledAgent(controller, "hv-hist", []);
    const mountFinding = (subject: string) => ({ code: "NS_MOUNT_HUNG", severity: "critical", subject, probe: "mounts",
      message: `statfs ${subject} did not answer`, remedy: `umount -l ${subject}` });
    const health = (findings: unknown[]) => ({ v: 1, type: "health", report: { collectedAt: new Date().toISOString(),
      probes: [{ name: "mounts", status: "ok", durationMs: 1 }], findings, mounts: [], systemd: null } });
    hist.send(health(Array.from({ length: 1500 }, (_, i) => mountFinding(`/srv/m${i}`))));
    await pollFor(async () => ((await api(controller, "/v1/findings?host=hv-hist&limit=2000") as unknown[]).length === 1500 ? true : null), "1500 open");
    hist.send(health([mountFinding("/srv/still-hung")]));
    await pollFor(async () => ((await api(controller, "/v1/findings?host=hv-hist") as unknown[]).length === 1 ? true : null), "1500 resolved");
    await hist.close();

    const first = await runAgainst(controller, ["findings", "--resolved", "--host", "hv-hist", "--json"]);
    expect(first.code).toBe(0);
    const page = JSON.parse(first.stdout) as { subject: string; resolvedAt: string | null }[];
    expect(page).toHaveLength(1000);
    expect(page[0]).toMatchObject({ subject: "/srv/still-hung", resolvedAt: null });
    expect(first.stderr).toBe("nightshift: showing 1000 of 1501 findings (open ones first, then the most recently resolved); " +
      "--limit N (at most 10000) or --all for the rest\n");

    const all = await runAgainst(controller, ["findings", "--resolved", "--host", "hv-hist", "--all", "--json"]);
    expect(all.code).toBe(0);
    const every = JSON.parse(all.stdout) as { subject: string }[];
    expect(every).toHaveLength(1501);
    expect(new Set(every.map((f) => f.subject)).size).toBe(1501);
    expect(all.stderr).toBe("");

    const table = await runAgainst(controller, ["findings", "--resolved", "--host", "hv-hist", "--limit", "5"]);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n").filter((l) => /^critical\s+hv-hist\s/.test(l))).toHaveLength(5);
    expect(table.stderr).toMatch(/^nightshift: showing 5 of 1501 findings/);
    expect((await runAgainst(controller, ["findings", "--limit", "0"])).code).toBe(2);
  });
});
