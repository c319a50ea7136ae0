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
