/**
 * Probe runs are the latest health report's, never an accumulation: an agent
 * that names 100 new probes in every report (what an attacker with a host
 * token can do) holds at most 100 rows in probe_runs and 100 series of each
 * nightshift_probe_* metric, those of its last report. A controller on port 0
 * with a real SQLite file, the agent on a real WebSocket.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { TestAgent } from "../../helpers/ws-agent.js";
import { pollFor } from "../../helpers/poll.js";

let controller: RunningController;
let dataDir: string;
let admin: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-probe-runs-"));
  controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir }), pino({ level: "silent" }));
  admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
});

afterAll(async () => {
  await controller?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function connected(host: string): Promise<TestAgent> {
  const res = await fetch(controller.url + "/v1/hosts", {
    method: "POST", headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" }, body: JSON.stringify({ name: host }),
  });
  const { token } = (await res.json()) as { token: string };
  const agent = await TestAgent.connect(controller.url, token);
  agent.hello(host);
  await agent.next("welcome");
  return agent;
}

function health(probes: unknown[]) {
  return { v: 1, type: "health", report: { collectedAt: new Date().toISOString(), probes, findings: [], mounts: [], systemd: null } };
}

function storedProbes(host: string): string[] {
  return controller.store.db.prepare("SELECT p.probe FROM probe_runs p JOIN hosts h ON h.id = p.host_id WHERE h.name = ? ORDER BY p.probe")
    .pluck().all(host) as string[];
}

async function metricsText(): Promise<string> {
  return (await fetch(controller.url + "/metrics")).text();
}

function series(metrics: string, metric: string, host: string): string[] {
  return metrics.split("\n").filter((l) => l.startsWith(`${metric}{host="${host}",`));
}

describe("probe runs of a host", () => {
  it("are replaced by each report: 5 reports of 100 new names leave 100 rows and 100 series per metric, the last report's", async () => {
    const agent = await connected("hv-churn");
    let last: string[] = [];
    for (let r = 0; r < 5; r++) {
      last = Array.from({ length: 100 }, (_, i) => `churn-${r}-${String(i).padStart(3, "0")}`);
      agent.send(health(last.map((name) => ({ name, status: "ok", durationMs: 1 }))));
      await pollFor(async () => (storedProbes("hv-churn").includes(last[99]!) ? true : null), `report ${r} stored`);
    }
    expect(storedProbes("hv-churn")).toEqual(last);
    const metrics = await metricsText();
    expect(series(metrics, "nightshift_probe_success", "hv-churn")).toHaveLength(100);
    expect(series(metrics, "nightshift_probe_duration_seconds", "hv-churn")).toHaveLength(100);
    expect(metrics).not.toContain('probe="churn-0-000"');

    // Back to an honest agent's probes: the 100 others are gone from the table and from /metrics.
    const honest = ["fstab", "libvirt-hooks", "mounts", "systemd", "vm-placement"];
    agent.send(health(honest.map((name) => ({ name, status: "ok", durationMs: 2 }))));
    await pollFor(async () => (storedProbes("hv-churn").length === 5 ? true : null), "the honest report stored");
    expect(storedProbes("hv-churn")).toEqual(honest);
    expect(series(await metricsText(), "nightshift_probe_success", "hv-churn")).toHaveLength(5);
    await agent.close();
  });

  it("a refused probe run keeps its last stored row; a probe no longer reported loses its row and series", async () => {
    const agent = await connected("hv-refused-run");
    agent.send(health([{ name: "fstab", status: "ok", durationMs: 1 }, { name: "mounts", status: "failed", durationMs: 9 },
      { name: "systemd", status: "ok", durationMs: 3 }]));
    await pollFor(async () => (storedProbes("hv-refused-run").length === 3 ? true : null), "the first report stored");

    agent.send(health([{ name: "fstab", status: "ok", durationMs: 1 }, { name: "mounts", status: "stuck", durationMs: 9 }]));
    expect((await agent.next("error")).message).toMatch(/probes\[1\] mounts: status/);
    await pollFor(async () => (storedProbes("hv-refused-run").length === 2 ? true : null), "the second report stored");
    expect(storedProbes("hv-refused-run")).toEqual(["fstab", "mounts"]);
    const metrics = await metricsText();
    expect(series(metrics, "nightshift_probe_success", "hv-refused-run").sort()).toEqual([
      'nightshift_probe_success{host="hv-refused-run",probe="fstab"} 1',
      'nightshift_probe_success{host="hv-refused-run",probe="mounts"} 0',
    ]);
    await agent.close();
  });
});
