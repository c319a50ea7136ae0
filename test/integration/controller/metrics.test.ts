/**
 * /metrics of a controller with a host, VMs and events in it, checked by
 * Prometheus' own linter (`promtool check metrics`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { sampleDomain, TestAgent } from "../../helpers/ws-agent.js";

let controller: RunningController;
let dataDir: string;
let metricsText: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-metrics-"));
  controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir }), pino({ level: "silent" }));
  const admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  const enroll = async (name: string) => ((await (await fetch(`${controller.url}/v1/hosts`, {
    method: "POST", headers: { Authorization: `Bearer ${admin}` }, body: JSON.stringify({ name }),
  })).json()) as { token: string }).token;
  const token = await enroll("hv1");
  await enroll("hv2-never-seen");
  const agent = await TestAgent.connect(controller.url, token);
  agent.hello("hv1");
  await agent.next("welcome");
  const web = sampleDomain("web1");
  const db = { ...sampleDomain("db1"), autostart: false, state: "shutoff", stateReason: "destroyed" };
  agent.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [web, db] });
  agent.send({ v: 1, type: "events", events: [
    { id: randomUUID(), time: new Date().toISOString(), domain: "web1", uuid: web.uuid, kind: "lifecycle", event: "suspended", detail: "paused" },
    { id: randomUUID(), time: new Date().toISOString(), domain: "web1", uuid: web.uuid, kind: "lifecycle", event: "resumed", detail: "unpaused" },
  ] });
  await agent.next("ack");
  agent.send("not json");
  await agent.next("error");
  metricsText = await (await fetch(`${controller.url}/metrics`)).text();
  await agent.close();
});

afterAll(async () => {
  await controller.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("/metrics", () => {
  it("passes promtool check metrics", () => {
    const result = spawnSync("promtool", ["check", "metrics"], { input: metricsText, encoding: "utf8" });
    expect(result.error, "promtool must be installed (Debian package prometheus)").toBeUndefined();
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("promtool would notice a broken exposition (the check can fail)", () => {
    const broken = "# TYPE nightshift_bad counter\nnightshift_bad{host=\"a\"} 1\n";
    const result = spawnSync("promtool", ["check", "metrics"], { input: broken, encoding: "utf8" });
    expect(result.status).not.toBe(0);
  });

  it("reports hosts, VM state and autostart, lifecycle events, sessions and message errors", () => {
    expect(metricsText).toMatch(/^nightshift_host_up\{host="hv1",status="up"\} 1$/m);
    expect(metricsText).toMatch(/^nightshift_host_up\{host="hv2-never-seen",status="enrolled"\} 0$/m);
    expect(metricsText).toMatch(/^nightshift_host_last_seen_timestamp_seconds\{host="hv1"\} \d{10}/m);
    expect(metricsText).toMatch(/^nightshift_vm_state\{host="hv1",vm="web1",state="running"\} 1$/m);
    expect(metricsText).toMatch(/^nightshift_vm_state\{host="hv1",vm="db1",state="shutoff"\} 1$/m);
    expect(metricsText).toMatch(/^nightshift_vm_autostart\{host="hv1",vm="web1"\} 1$/m);
    expect(metricsText).toMatch(/^nightshift_vm_autostart\{host="hv1",vm="db1"\} 0$/m);
    expect(metricsText).toMatch(/^nightshift_lifecycle_events_total\{event="suspended",detail="paused"\} 1$/m);
    expect(metricsText).toMatch(/^nightshift_agent_sessions 1$/m);
    expect(metricsText).toMatch(/^nightshift_agent_message_errors_total\{kind="malformed-json"\} 1$/m);
  });
});

describe("nightshift_lifecycle_events_total", () => {
  it("is labelled only with libvirt's event and detail names: 200 made-up ones add two `other` series, not 200", async () => {
    const admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
    const { token } = (await (await fetch(`${controller.url}/v1/hosts`, {
      method: "POST", headers: { Authorization: `Bearer ${admin}` }, body: JSON.stringify({ name: "hv-labels" }),
    })).json()) as { token: string };
    const agent = await TestAgent.connect(controller.url, token);
    agent.hello("hv-labels");
    await agent.next("welcome");
    const uuid = randomUUID();
    const event = (event: string, detail: string) => ({ id: randomUUID(), time: new Date().toISOString(), domain: "web9", uuid, kind: "lifecycle", event, detail });
    agent.send({ v: 1, type: "events", events: [
      ...Array.from({ length: 100 }, (_, i) => event("stopped", `made-up-${i}`)),
      ...Array.from({ length: 100 }, (_, i) => event(`made-up-${i}`, "booted")),
      event("stopped", "destroyed"),
    ] });
    await agent.next("ack");
    const text = await (await fetch(`${controller.url}/metrics`)).text();
    const series = text.split("\n").filter((l) => l.startsWith("nightshift_lifecycle_events_total{"));
    expect(series.filter((l) => l.includes("made-up"))).toEqual([]);
    expect(text).toMatch(/^nightshift_lifecycle_events_total\{event="stopped",detail="other"\} 100$/m);
    expect(text).toMatch(/^nightshift_lifecycle_events_total\{event="other",detail="other"\} 100$/m);
    expect(text).toMatch(/^nightshift_lifecycle_events_total\{event="stopped",detail="destroyed"\} 1$/m);
    expect(series.length).toBeLessThanOrEqual(5);
    // The history keeps what the agent sent.
    const history = (await (await fetch(`${controller.url}/v1/events?host=hv-labels&limit=500`, { headers: { Authorization: `Bearer ${admin}` } })).json()) as { detail: string }[];
    expect(history.filter((e) => e.detail?.startsWith("made-up-"))).toHaveLength(100);
    await agent.close();
  });
});
