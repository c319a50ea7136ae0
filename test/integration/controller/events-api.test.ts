/**
 * GET /v1/events against a controller on port 0 with a real SQLite file:
 * which `since` values it takes (only the documented ones), and the times an
 * agent's `events-lost` report is stored with.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { TestAgent } from "../../helpers/ws-agent.js";
import { controllerApi } from "../../helpers/controller-api.js";
import type { EventRecord } from "../../../shared/api.js";

let controller: RunningController;
let dataDir: string;
let adminToken: string;
let hostToken: string;
const { api, ok } = controllerApi(() => ({ url: controller.url, adminToken }));

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-events-api-"));
  controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir }), pino({ level: "silent" }));
  adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  hostToken = (await ok<{ token: string }>("POST", "/v1/hosts", { name: "hv-ev" }, 201)).token;
});

afterAll(async () => {
  await controller?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("GET /v1/events?since=", () => {
  it.each(["foo 1", "+1", "x 99", "May 1", "abc 2020", "1/2/3", "2026-02-30", "2026-02-31T00:00:00Z", "2026-11-23T00:00:00", "2026-11-23 10:00Z", "yesterday", "120"])(
    "refuses %j with 400 NS_ERR_BAD_REQUEST and names the accepted forms", async (since) => {
      const answer = await api<{ error: { code: string; message: string } }>("GET", `/v1/events?since=${encodeURIComponent(since)}`);
      expect(answer.status, answer.text).toBe(400);
      expect(answer.json.error.code).toBe("NS_ERR_BAD_REQUEST");
      expect(answer.json.error.message).toContain(`since=${since}`);
      expect(answer.json.error.message).toMatch(/15m.*ISO 8601.*Z or an offset/);
    });

  it.each(["90s", "15m", "1h", "2d", "1w", "500ms", "2026-11-23", "2026-11-23T10:00Z", "2026-11-23T10:00:00.123+01:00", "2020-02-29T00:00:00Z"])(
    "takes %j", async (since) => {
      const answer = await api("GET", `/v1/events?since=${encodeURIComponent(since)}`);
      expect(answer.status, answer.text).toBe(200);
    });

  it("filters by the time it names", async () => {
    const all = await ok<EventRecord[]>("GET", "/v1/events");
    expect(all.map((e) => e.event)).toEqual(["enrolled"]);
    const before = new Date(Date.parse(all[0]!.time) - 1).toISOString();
    const after = new Date(Date.parse(all[0]!.time) + 1).toISOString();
    expect(await ok<EventRecord[]>("GET", `/v1/events?since=${before}`)).toHaveLength(1);
    expect(await ok<EventRecord[]>("GET", `/v1/events?since=${after}`)).toHaveLength(0);
  });
});

describe("events-lost", () => {
  it("is stored at the time the agent lost events, received at the time the controller got the report", async () => {
    const agent = await TestAgent.connect(controller.url, hostToken);
    agent.hello("hv-ev");
    await agent.next("welcome");
    const firstLostAt = new Date(Date.now() - 3 * 3_600_000).toISOString();
    const lastLostAt = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const id = randomUUID();
    const sentAt = Date.now();
    agent.send({ v: 1, type: "events-lost", id, count: 42, firstLostAt, lastLostAt });
    expect((await agent.next("ack")).ids).toEqual([id]);
    await agent.close();
    const [lost] = (await ok<EventRecord[]>("GET", "/v1/events?host=hv-ev")).filter((e) => e.event === "events-lost");
    expect(lost).toMatchObject({ id, time: lastLostAt, data: { count: 42, firstLostAt, lastLostAt } });
    const receivedAt = Date.parse(lost!.receivedAt);
    expect(receivedAt, `receivedAt ${lost!.receivedAt}, sent at ${new Date(sentAt).toISOString()}`).toBeGreaterThanOrEqual(sentAt - 5);
    expect(receivedAt).toBeLessThanOrEqual(Date.now());
  });
});

describe("event ids", () => {
  async function connected(host: string): Promise<TestAgent> {
    const token = (await ok<{ token: string }>("POST", "/v1/hosts", { name: host }, 201)).token;
    const agent = await TestAgent.connect(controller.url, token);
    agent.hello(host);
    await agent.next("welcome");
    return agent;
  }

  it("are the sending host's own: a host that sends another host's ids first suppresses none of its events", async () => {
    const victim = await connected("hv-victim");
    const attacker = await connected("hv-attacker");
    const uuid = randomUUID();
    const ids = [randomUUID(), randomUUID()];
    const event = (id: string, domain: string) => ({ id, time: new Date().toISOString(), domain, uuid, kind: "lifecycle", event: "stopped", detail: "crashed" });
    // The attacker's copies arrive first, one as an event, one as an events-lost report.
    attacker.send({ v: 1, type: "events", events: [event(ids[0]!, "decoy")] });
    expect((await attacker.next("ack")).ids).toEqual([ids[0]]);
    attacker.send({ v: 1, type: "events-lost", id: ids[1], count: 1, firstLostAt: new Date().toISOString(), lastLostAt: new Date().toISOString() });
    await attacker.next("ack");

    victim.send({ v: 1, type: "events", events: [event(ids[0]!, "db1"), event(ids[1]!, "db1")] });
    expect((await victim.next("ack")).ids).toEqual(ids);
    const history = await ok<EventRecord[]>("GET", "/v1/events?host=hv-victim");
    expect(history.filter((e) => e.kind === "lifecycle").map((e) => [e.id, e.vm, e.detail])).toEqual([[ids[0], "db1", "crashed"], [ids[1], "db1", "crashed"]]);
    const findings = await ok<{ code: string; subject: string }[]>("GET", "/v1/findings?host=hv-victim");
    expect(findings).toEqual([expect.objectContaining({ code: "NS_VM_UNEXPECTED_STOP", subject: "db1" })]);

    // Within one host an id still means one event: a redelivery is acked and stored once.
    victim.send({ v: 1, type: "events", events: [event(ids[0]!, "db1")] });
    await victim.next("ack");
    expect((await ok<EventRecord[]>("GET", "/v1/events?host=hv-victim")).filter((e) => e.kind === "lifecycle")).toHaveLength(2);
    expect((await ok<EventRecord[]>("GET", "/v1/events?host=hv-attacker")).filter((e) => e.vm === "decoy")).toHaveLength(1);
    await victim.close();
    await attacker.close();
  });
});
