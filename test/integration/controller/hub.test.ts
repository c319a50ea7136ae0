/**
 * The agent endpoint against bad and good clients, over real WebSocket
 * connections to a controller on port 0 with a real SQLite file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { sampleDomain as domain, TestAgent } from "../../helpers/ws-agent.js";

let controller: RunningController;
let dataDir: string;
let adminToken: string;
const tokens: Record<string, string> = {};

async function api(method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(controller.url + p, {
    method, headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

/** Rejected upgrade: the HTTP status and JSON body the agent gets. */
async function refusedUpgrade(token: string): Promise<{ status: number; body: { error: { code: string; message: string } } }> {
  const ws = new WebSocket(controller.url.replace("http", "ws") + "/v1/agent", { headers: { Authorization: `Bearer ${token}` } });
  ws.on("error", () => {});
  const [, res] = (await once(ws, "unexpected-response")) as [unknown, import("node:http").IncomingMessage];
  let text = "";
  for await (const chunk of res) text += chunk;
  return { status: res.statusCode!, body: JSON.parse(text) };
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-hub-"));
  const config = ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir, agents: { maxMessageBytes: 64 * 1024, heartbeat: "1s" } });
  controller = await startController(config, pino({ level: "silent" }));
  adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  for (const name of ["hv-good", "hv-bad", "hv-dup"]) {
    const { json } = await api("POST", "/v1/hosts", { name });
    tokens[name] = (json as { token: string }).token;
  }
});

afterAll(async () => {
  await controller.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("agent endpoint", () => {
  it("refuses a wrong token with 401 and a JSON reason", async () => {
    const { status, body } = await refusedUpgrade("nsh_not-a-real-token");
    expect(status).toBe(401);
    expect(body.error.code).toBe("NS_ERR_UNAUTHORIZED");
    expect(body.error.message).toMatch(/nightshift hosts enroll NAME/);
  });

  it("stores a good agent's hello, inventory and events, acking each event", async () => {
    const good = await TestAgent.connect(controller.url, tokens["hv-good"]!);
    good.hello("hv-good");
    const welcome = await good.next("welcome");
    expect(welcome).toMatchObject({ host: "hv-good", heartbeatSeconds: 1 });
    const web = domain("web1");
    good.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [web, domain("db1")] });
    const id = randomUUID();
    good.send({ v: 1, type: "events", events: [{ id, time: new Date().toISOString(), domain: "web1", uuid: web.uuid, kind: "lifecycle", event: "stopped", detail: "destroyed" }] });
    expect((await good.next("ack")).ids).toEqual([id]);
    const vms = (await api("GET", "/v1/vms?host=hv-good")).json as { name: string; state: string; stateReason: string; disks: unknown[] }[];
    expect(vms.map((v) => [v.name, v.state, v.stateReason])).toEqual([["db1", "running", "booted"], ["web1", "shutoff", "destroyed"]]);
    expect(vms[1]!.disks).toEqual(web.disks);
    // The same event again (a redelivery) is acked but stored once.
    good.send({ v: 1, type: "events", events: [{ id, time: new Date().toISOString(), domain: "web1", uuid: web.uuid, kind: "lifecycle", event: "stopped", detail: "destroyed" }] });
    expect((await good.next("ack")).ids).toEqual([id]);
    const events = (await api("GET", "/v1/events?host=hv-good&vm=web1")).json as { id: string }[];
    expect(events.filter((e) => e.id === id)).toHaveLength(1);
    await good.close();
  });

  it("answers malformed, unversioned, unknown, invalid and out-of-order messages with clear errors and keeps the connection", async () => {
    const bad = await TestAgent.connect(controller.url, tokens["hv-bad"]!);
    const cases: [unknown, string, RegExp][] = [
      [{ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [] }, "NS_ERR_PROTOCOL_ORDER", /send hello first/],
      ["{not json", "NS_ERR_PROTOCOL_MALFORMED_JSON", /not JSON/],
      ["[1,2]", "NS_ERR_PROTOCOL_MALFORMED_JSON", /must be a JSON object/],
      [{ v: 99, type: "hello" }, "NS_ERR_PROTOCOL_UNSUPPORTED_VERSION", /version 99 is not supported/],
      [{ v: 1, type: "format-disk" }, "NS_ERR_PROTOCOL_UNKNOWN_TYPE", /unknown message type "format-disk"/],
      [{ v: 1, type: "hello", host: "hv-bad" }, "NS_ERR_PROTOCOL_SCHEMA", /invalid hello message: hostname/],
    ];
    for (const [message, code, text] of cases) {
      bad.send(message);
      const err = await bad.next("error");
      expect(err.code).toBe(code);
      expect(err.message).toMatch(text);
    }
    bad.hello("hv-bad");
    await bad.next("welcome");
    // The envelope is refused as a whole; its domains are checked one by one only once it is usable (item-refusals.test.ts).
    bad.send({ v: 1, type: "inventory", collectedAt: "yesterday", domains: [{ name: "x" }], extra: 1 });
    const err = await bad.next("error");
    expect(err.code).toBe("NS_ERR_PROTOCOL_SCHEMA");
    expect(err.message).toMatch(/^invalid inventory message: collectedAt: Invalid ISO datetime$/);
    bad.send({ v: 1, type: "events", events: [] });
    expect((await bad.next("error")).message).toMatch(/^invalid events message: events: Too small/);
    expect(bad.ws.readyState).toBe(WebSocket.OPEN);
    await bad.close();
  });

  it("refuses a hello that claims another host than the token's and closes", async () => {
    const liar = await TestAgent.connect(controller.url, tokens["hv-bad"]!);
    liar.hello("hv-good");
    const err = await liar.next("error");
    expect(err.code).toBe("NS_ERR_HOST_MISMATCH");
    const [code] = await once(liar.ws, "close");
    expect(code).toBe(4403);
    await liar.close();
  });

  it("closes an oversized frame with 1009 and keeps serving others", async () => {
    const big = await TestAgent.connect(controller.url, tokens["hv-bad"]!);
    big.hello("hv-bad");
    await big.next("welcome");
    big.send("x".repeat(70 * 1024));
    const [code] = await once(big.ws, "close");
    expect(code).toBe(1009);
    await big.close();
    const other = await TestAgent.connect(controller.url, tokens["hv-good"]!);
    other.hello("hv-good");
    expect((await other.next("welcome")).host).toBe("hv-good");
    await other.close();
  });

  it("refuses a second live agent for the same host with 409, and accepts it once the first is gone", async () => {
    const first = await TestAgent.connect(controller.url, tokens["hv-dup"]!);
    first.hello("hv-dup");
    await first.next("welcome");
    const { status, body } = await refusedUpgrade(tokens["hv-dup"]!);
    expect(status).toBe(409);
    expect(body.error.code).toBe("NS_ERR_DUPLICATE_HOST");
    expect(body.error.message).toMatch(/host 'hv-dup' already has a live agent connected from 127\.0\.0\.1/);
    await first.close();
    const second = await TestAgent.connect(controller.url, tokens["hv-dup"]!);
    second.hello("hv-dup");
    await second.next("welcome");
    await second.close();
  });

  it("terminates an agent that stops answering pings within two heartbeats", async () => {
    const silent = await TestAgent.connect(controller.url, tokens["hv-bad"]!);
    silent.hello("hv-bad");
    await silent.next("welcome");
    // Stop reading: the client's automatic pong can no longer be produced.
    (silent.ws as unknown as { _socket: import("node:net").Socket })._socket.pause();
    const t0 = Date.now();
    await waitFor(async () => ((await api("GET", "/v1/hosts")).json as { name: string; connected: boolean }[])
      .find((h) => h.name === "hv-bad")?.connected === false, 5000);
    expect(Date.now() - t0).toBeLessThan(2500);
    silent.ws.terminate();
  });

  it("records the history: connected, disconnected, rejected duplicate", async () => {
    const events = (await api("GET", "/v1/events?host=hv-dup")).json as { kind: string; event: string }[];
    const hostEvents = events.filter((e) => e.kind === "host").map((e) => e.event);
    expect(hostEvents).toEqual(["enrolled", "connected", "rejected", "disconnected", "connected", "disconnected"]);
  });

  it("counts refused messages by kind in /metrics", async () => {
    const text = await (await fetch(controller.url + "/metrics")).text();
    for (const kind of ["order", "malformed-json", "unsupported-version", "unknown-type", "schema", "host-mismatch", "oversized"]) {
      expect(text).toMatch(new RegExp(`nightshift_agent_message_errors_total\\{kind="${kind}"\\} [1-9]`));
    }
    expect(text).toMatch(/nightshift_agent_connections_total\{result="unauthorized"\} 1/);
    expect(text).toMatch(/nightshift_agent_connections_total\{result="duplicate"\} 1/);
  });
});

async function waitFor(predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("condition not met in time");
}
