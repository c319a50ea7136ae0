/**
 * A run on a host whose agent is not connected would have every step wait
 * runs.agentLostTimeout and then change nothing: it is refused at
 * start (409 NS_ERR_HOST_DISCONNECTED) unless the operator says to wait for
 * the agent, and then the run says so in its evidence.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import type { SimulatedHypervisor } from "../../helpers/simulated-hypervisor.js";
import { controllerApi } from "../../helpers/controller-api.js";
import type { EvidenceRecord, RunDetail, RunSpecInput } from "../../../shared/runs.js";

let controller: RunningController;
let dataDir: string;
let adminToken: string;
const hypervisors: SimulatedHypervisor[] = [];
const { api, hypervisor } = controllerApi(() => ({ url: controller.url, adminToken }), hypervisors);

const spec = (vms: string[]): RunSpecInput => ({ vms, patch: { exec: "apt-get -y upgrade" }, verify: { exec: "cat /data/version" } });

beforeEach(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-runs-disc-"));
  controller = await startController(ControllerConfigSchema.parse({
    listen: "127.0.0.1:0", dataDir, agents: { heartbeat: "1s" }, runs: { agentLostTimeout: "2s" }, retention: { schedule: "0 0 1 1 *" },
  }), pino({ level: "silent" }));
  adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
});

afterEach(async () => {
  for (const hv of hypervisors.splice(0)) await hv.disconnect();
  await controller.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("runs on a host without a connected agent", () => {
  it("are refused at start with the host named; nothing is stored", async () => {
    const up = await hypervisor("hv-up", ["a"]);
    const down = await hypervisor("hv-down", ["b"]);
    await down.disconnect();
    const before = (await api<unknown[]>("GET", "/v1/runs")).json.length;
    const refused = await api<{ error: { code: string; message: string } }>("POST", "/v1/runs", { spec: spec(["hv-up/a", "hv-down/b"]) });
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe("NS_ERR_HOST_DISCONNECTED");
    expect(refused.json.error.message).toMatch(/hv-down/);
    expect(refused.json.error.message).not.toMatch(/hv-up/);
    expect(refused.json.error.message).toMatch(/waitForAgent|--wait-for-agent/);
    expect((await api<unknown[]>("GET", "/v1/runs")).json.length).toBe(before);
    expect(up.steps).toEqual([]);
    // A dry run still shows the plan: nothing would start.
    expect((await api("POST", "/v1/runs", { spec: spec(["hv-down/b"]), dryRun: true })).status).toBe(200);
  });

  it("start with waitForAgent: the run begins, says it waits, and goes on when the agent comes back", async () => {
    const hv = await hypervisor("hv-late", ["c"]);
    await hv.disconnect();
    const started = await api<{ run: RunDetail }>("POST", "/v1/runs", { spec: spec(["hv-late/c"]), waitForAgent: true });
    expect(started.status).toBe(201);
    const id = started.json.run.id;
    const evidence = (await api<EvidenceRecord[]>("GET", `/v1/runs/${id}/evidence`)).json;
    expect(evidence.some((e) => e.result === "WARN" && /hv-late/.test(e.output) && /not connected/.test(e.output))).toBe(true);
    await hv.connect(controller.url, hv.token);
    for (let i = 0; i < 400; i++) {
      const { json } = await api<RunDetail>("GET", `/v1/runs/${id}`);
      if (json.state === "finished") {
        expect(json.vms[0]!.outcome).toBe("succeeded");
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error("run did not finish");
  });
});
