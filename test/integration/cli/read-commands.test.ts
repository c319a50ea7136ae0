/**
 * `nightshift vms`, `events`, `status` as real processes against a real
 * controller. No agent runs here (the agent end-to-end tests fill VMs); the
 * host events that enrolling and revoking record are real data for `events`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startController, type TestController } from "../../helpers/controller.js";
import { api, runAgainst } from "./run-cli.js";

let controller: TestController;

beforeAll(async () => {
  controller = await startController();
});

afterAll(async () => {
  await controller?.stop();
});

describe("on an empty controller", () => {
  it("vms prints the header only; --json prints []", async () => {
    expect(await runAgainst(controller, ["vms"])).toEqual({ code: 0, stdout: "HOST  NAME  STATE  AUTOSTART  VCPUS  MEMORY  DISKS\n", stderr: "" });
    const json = await runAgainst(controller, ["vms", "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it("events prints the header only; --json prints []", async () => {
    expect(await runAgainst(controller, ["events"])).toEqual({ code: 0, stdout: "TIME  AGENT-TIME  HOST  KIND  VM  EVENT  DETAIL\n", stderr: "" });
    expect(JSON.parse((await runAgainst(controller, ["events", "--json"])).stdout)).toEqual([]);
  });

  it("status shows zero everywhere; --json matches GET /v1/status", async () => {
    const text = await runAgainst(controller, ["status"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^controller {2}${controller.url} \\(version \\d+\\.\\d+\\.\\d+, up \\d+s\\)\n`));
    expect(text.stdout).toContain("hosts       0 total: 0 up, 0 missing, 0 enrolled, 0 revoked\n");
    expect(text.stdout).toContain("agents      0 connected\n");
    expect(text.stdout).toContain("vms         0 total\n");
    expect(text.stdout).toContain("events      0 stored\n");

    const json = await runAgainst(controller, ["status", "--json"]);
    expect(json.code).toBe(0);
    const printed = JSON.parse(json.stdout) as { uptimeSeconds: number };
    const expected = await api(controller, "/v1/status") as { uptimeSeconds: number };
    expect(Math.abs(printed.uptimeSeconds - expected.uptimeSeconds)).toBeLessThanOrEqual(2);
    expect({ ...printed, uptimeSeconds: 0 }).toEqual({ ...expected, uptimeSeconds: 0 });
    expect(expected).toMatchObject({ agentsConnected: 0, vms: { total: 0, byState: {} }, eventsStored: 0 });
  });
});

describe("with enrolled hosts", () => {
  beforeAll(async () => {
    for (const args of [["hosts", "enroll", "alpha"], ["hosts", "enroll", "beta"], ["hosts", "revoke", "beta"]]) {
      const result = await runAgainst(controller, args);
      expect(result.code, result.stderr).toBe(0);
    }
  });

  it("events shows the enrolled and revoked host events, oldest first", async () => {
    const result = await runAgainst(controller, ["events"]);
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^TIME\s+AGENT-TIME\s+HOST\s+KIND\s+VM\s+EVENT\s+DETAIL$/);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z\s+-\s+alpha\s+host\s+-\s+enrolled\s+-$/);
    expect(rows[1]).toMatch(/\s+beta\s+host\s+-\s+enrolled\s+-$/);
    expect(rows[2]).toMatch(/\s+beta\s+host\s+-\s+revoked\s+-$/);
  });

  it("--json prints exactly GET /v1/events", async () => {
    const result = await runAgainst(controller, ["events", "--json"]);
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { host: string; kind: string; event: string }[];
    expect(printed).toEqual(await api(controller, "/v1/events"));
    expect(printed.map((e) => `${e.host}/${e.kind}/${e.event}`)).toEqual(["alpha/host/enrolled", "beta/host/enrolled", "beta/host/revoked"]);
  });

  it("--host, --since and --limit reach the API", async () => {
    const byHost = JSON.parse((await runAgainst(controller, ["events", "--host", "beta", "--json"])).stdout) as { host: string }[];
    expect(byHost.map((e) => e.host)).toEqual(["beta", "beta"]);

    const newest = JSON.parse((await runAgainst(controller, ["events", "--limit", "1", "--json"])).stdout) as { event: string }[];
    expect(newest.map((e) => e.event)).toEqual(["revoked"]);

    expect(JSON.parse((await runAgainst(controller, ["events", "--since", "1h", "--json"])).stdout)).toHaveLength(3);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect(JSON.parse((await runAgainst(controller, ["events", "--since", future, "--json"])).stdout)).toEqual([]);
    expect(JSON.parse((await runAgainst(controller, ["events", "--vm", "nosuch", "--json"])).stdout)).toEqual([]);
  });

  it("vms --host of an enrolled host with no agent yet is empty; of an unknown host an error", async () => {
    expect(JSON.parse((await runAgainst(controller, ["vms", "--host", "alpha", "--json"])).stdout)).toEqual([]);
    expect(await runAgainst(controller, ["vms", "--host", "nosuch"])).toEqual({
      code: 1, stdout: "", stderr: "nightshift: no host named 'nosuch' (NS_ERR_NO_HOST)\n",
    });
  });

  it("status counts hosts by status and the stored events", async () => {
    const result = await runAgainst(controller, ["status"]);
    expect(result.stdout).toContain("hosts       2 total: 0 up, 0 missing, 1 enrolled, 1 revoked\n");
    expect(result.stdout).toContain("events      3 stored\n");
    const json = JSON.parse((await runAgainst(controller, ["status", "--json"])).stdout) as Record<string, unknown>;
    expect(json.hosts).toEqual({ total: 2, up: 0, missing: 0, enrolled: 1, revoked: 1 });
    expect(json.eventsStored).toBe(3);
  });
});
