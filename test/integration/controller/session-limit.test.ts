/**
 * One enrolled agent connecting and hanging up in a loop against a controller
 * on port 0 (real HTTP server, real SQLite file, real WebSocket clients): past
 * agents.maxSessions per agents.maxSessionsInterval its upgrades are refused
 * with 429 NS_ERR_TOO_MANY_SESSIONS and counted, so the session table and the
 * history grow by a bounded number of rows; the refusals themselves coalesce
 * into `rejected` rows like duplicates do. Another host reconnecting after a
 * blip is welcomed meanwhile, and the looping host is let in again once its
 * window has passed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { TestAgent } from "../../helpers/ws-agent.js";
import { controllerApi } from "../../helpers/controller-api.js";
import { rawRequest, upgradeRequest } from "../../helpers/raw-http.js";
import type { EventRecord } from "../../../shared/api.js";

const MAX_SESSIONS = 10;
const WINDOW_SECONDS = 4;
const CYCLES = 1_000;

let controller: RunningController;
let dataDir: string;
let adminToken: string;
let loopToken: string;
const { ok } = controllerApi(() => ({ url: controller.url, adminToken }));

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-session-limit-"));
  const config = ControllerConfigSchema.parse({
    listen: "127.0.0.1:0", dataDir,
    agents: { maxSessions: MAX_SESSIONS, maxSessionsInterval: `${WINDOW_SECONDS}s`, rejectedEventInterval: "1s" },
  });
  controller = await startController(config, pino({ level: "silent" }));
  adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
});

afterAll(async () => {
  await controller?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** One connect/disconnect cycle: the HTTP status of a refusal, or 101 for a session that opened (and was closed by us). */
function cycle(token: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${controller.url.replace("http", "ws")}/v1/agent`, { headers: { Authorization: `Bearer ${token}` } });
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      ws.terminate();
      resolve(res.statusCode ?? 0);
    });
    ws.on("open", () => {
      ws.close();
      ws.on("close", () => resolve(101));
    });
    ws.on("error", () => {});
  });
}

const history = async (host: string) => ok<EventRecord[]>("GET", `/v1/events?host=${host}&limit=10000`);
const sessionRows = (host: string) => (controller.store.db.prepare(
  "SELECT count(*) AS n FROM agent_sessions s JOIN hosts h ON h.id = s.host_id WHERE h.name = ?").get(host) as { n: number }).n;

async function metric(result: string): Promise<number> {
  const text = await (await fetch(`${controller.url}/metrics`)).text();
  return Number(new RegExp(`nightshift_agent_connections_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

describe("agent session limit", () => {
  it(`${CYCLES} connect/disconnect cycles of one host: sessions and history rows stay bounded, the rest is refused 429 and counted`, async () => {
    const token = (await ok<{ token: string }>("POST", "/v1/hosts", { name: "hv-loop" }, 201)).token;
    loopToken = token;
    const blipToken = (await ok<{ token: string }>("POST", "/v1/hosts", { name: "hv-blip" }, 201)).token;
    const t0 = Date.now();
    const statuses = new Map<number, number>();
    for (let i = 0; i < CYCLES; i++) {
      const status = await cycle(token);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    const elapsed = Date.now() - t0;
    const windows = Math.ceil(elapsed / (WINDOW_SECONDS * 1000));
    const opened = statuses.get(101) ?? 0;
    const refused = statuses.get(429) ?? 0;
    expect(opened + refused, JSON.stringify([...statuses])).toBe(CYCLES);
    expect(opened, `${opened} sessions in ${elapsed} ms`).toBeLessThanOrEqual(MAX_SESSIONS * windows);
    expect(await metric("rate-limited")).toBe(refused);

    // An honest agent on another host, reconnecting after a network blip, is welcomed while the loop is refused.
    for (let i = 0; i < 2; i++) {
      const agent = await TestAgent.connect(controller.url, blipToken);
      agent.hello("hv-blip");
      await agent.next("welcome");
      await agent.close();
    }

    // The refusal is documented: a JSON 429 with the code and when to come back.
    const answer = await rawRequest(controller.url, upgradeRequest("/v1/agent", { Authorization: `Bearer ${token}` }));
    expect(answer.status, answer.raw).toBe(429);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "NS_ERR_TOO_MANY_SESSIONS" } });
    expect(Number(answer.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(answer.headers["retry-after"])).toBeLessThanOrEqual(WINDOW_SECONDS);

    // Rows: one session and two history rows per accepted session, at most a `rejected` row per second for the refusals.
    await new Promise((r) => setTimeout(r, 1_300));
    const rows = await history("hv-loop");
    const count = (event: string) => rows.filter((e) => e.event === event).length;
    const rejected = rows.filter((e) => e.event === "rejected");
    const seconds = Math.ceil((Date.now() - t0) / 1000);
    console.log(`${CYCLES} cycles in ${elapsed} ms: ${opened} sessions, ${refused + 1} refused; rows: agent_sessions ${sessionRows("hv-loop")}, ` +
      `connected ${count("connected")}, disconnected ${count("disconnected")}, rejected ${rejected.length}`);
    expect(sessionRows("hv-loop")).toBe(opened);
    expect(count("connected")).toBe(opened);
    expect(count("disconnected")).toBe(opened);
    expect(rejected.length).toBeLessThanOrEqual(seconds + 1);
    expect(rejected[0]!.data).toMatchObject({ reason: "too many sessions", remote: "127.0.0.1" });
    expect(rejected.reduce((n, r) => n + Number((r.data as { refusals: number }).refusals), 0)).toBe(refused + 1);
  });

  it("the looping host is welcomed again once its window has passed", async () => {
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 200));
    const agent = await TestAgent.connect(controller.url, loopToken);
    agent.hello("hv-loop");
    expect((await agent.next("welcome")).host).toBe("hv-loop");
    await agent.close();
  });
});
