/**
 * A loop of duplicate agents for one host against a controller on port 0
 * (real HTTP server, real SQLite file): every one is refused with 409 and
 * counted in /metrics, but the append-only history gets at most one
 * `rejected` row per host per agents.rejectedEventInterval, each
 * saying how many refusals it stands for.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { TestAgent } from "../../helpers/ws-agent.js";
import { controllerApi } from "../../helpers/controller-api.js";
import { rawRequest, upgradeRequest } from "../../helpers/raw-http.js";
import type { EventRecord } from "../../../shared/api.js";

const INTERVAL_SECONDS = 1;
const ATTEMPTS = 300;

let controller: RunningController;
let dataDir: string;
let adminToken: string;
let hostToken: string;
const { ok } = controllerApi(() => ({ url: controller.url, adminToken }));

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-duplicates-"));
  const config = ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir, agents: { rejectedEventInterval: `${INTERVAL_SECONDS}s` } });
  controller = await startController(config, pino({ level: "silent" }));
  adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  hostToken = (await ok<{ token: string }>("POST", "/v1/hosts", { name: "hv-twice" }, 201)).token;
});

afterAll(async () => {
  await controller?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const rejectedRows = async () => (await ok<EventRecord[]>("GET", "/v1/events?host=hv-twice&limit=10000")).filter((e) => e.event === "rejected");
const refusals = (rows: EventRecord[]) => rows.reduce((n, r) => n + Number((r.data as { refusals?: number }).refusals), 0);

async function duplicateMetric(): Promise<number> {
  const text = await (await fetch(`${controller.url}/metrics`)).text();
  return Number(/nightshift_agent_connections_total\{result="duplicate"\} (\d+)/.exec(text)?.[1] ?? 0);
}

describe("duplicate agents", () => {
  it(`${ATTEMPTS} refused duplicates: every one a 409 and counted, the history one row per interval with the count`, async () => {
    const live = await TestAgent.connect(controller.url, hostToken);
    live.hello("hv-twice");
    await live.next("welcome");

    const t0 = Date.now();
    for (let i = 0; i < ATTEMPTS; i++) {
      const answer = await rawRequest(controller.url, upgradeRequest("/v1/agent", { Authorization: `Bearer ${hostToken}` }));
      expect(answer.status, answer.raw).toBe(409);
    }
    const elapsed = Date.now() - t0;
    expect(await duplicateMetric()).toBe(ATTEMPTS);

    const rows = await rejectedRows();
    const intervals = Math.ceil(elapsed / (INTERVAL_SECONDS * 1000));
    expect(rows.length, `${rows.length} rejected rows for ${ATTEMPTS} refusals in ${elapsed} ms`).toBeLessThanOrEqual(intervals);
    expect(rows[0]!.data).toMatchObject({ reason: "duplicate agent", remote: "127.0.0.1", existing: "127.0.0.1", refusals: 1 });

    // The refusals since the last row are written when its interval ends, without another attempt.
    await new Promise((r) => setTimeout(r, INTERVAL_SECONDS * 1000 + 300));
    const settled = await rejectedRows();
    expect(refusals(settled)).toBe(ATTEMPTS);
    expect(settled.length).toBeLessThanOrEqual(intervals + 1);

    // A quiet interval adds nothing.
    await new Promise((r) => setTimeout(r, INTERVAL_SECONDS * 1000 + 300));
    expect(await rejectedRows()).toHaveLength(settled.length);
    await live.close();
  });
});
