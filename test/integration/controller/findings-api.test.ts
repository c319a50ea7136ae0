/**
 * GET /v1/findings answers pages: at most 1000 findings unless `limit` asks
 * for more (at most 10,000), open ones first, then the most recently resolved;
 * `X-Total-Count` says how many match and `Link: <...>; rel="next"` where the
 * next page starts. A controller on port 0 with a real SQLite file; the
 * history is made as an agent makes it, by reports whose findings the next
 * report no longer has.
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
import type { FindingRecord } from "../../../shared/api.js";

let controller: RunningController;
let dataDir: string;
let admin: string;
const ROUNDS = 4;
const PER_ROUND = 5_000;

async function get(p: string): Promise<Response> {
  return fetch(controller.url + p, { headers: { Authorization: `Bearer ${admin}` } });
}

function finding(subject: string, severity = "warning") {
  return { code: "NS_MOUNT_HUNG", severity, subject, probe: "mounts", message: `statfs ${subject} did not answer within 5 s`,
    remedy: `umount -l ${subject}` };
}

function health(findings: unknown[]) {
  return { v: 1, type: "health", report: { collectedAt: new Date().toISOString(), probes: [{ name: "mounts", status: "ok", durationMs: 1 }],
    findings, mounts: [], systemd: null } };
}

function openCount(): number {
  return controller.store.db.prepare("SELECT count(*) FROM findings WHERE resolved_at IS NULL").pluck().get() as number;
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-findings-api-"));
  controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir }), pino({ level: "silent" }));
  admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  const res = await fetch(controller.url + "/v1/hosts", {
    method: "POST", headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" }, body: JSON.stringify({ name: "hv1" }),
  });
  const agent = await TestAgent.connect(controller.url, ((await res.json()) as { token: string }).token);
  agent.hello("hv1");
  await agent.next("welcome");
  // Each round's findings are resolved by the next report: 20,000 resolved ones, then 3 open.
  for (let r = 0; r < ROUNDS; r++) {
    agent.send(health(Array.from({ length: PER_ROUND }, (_, i) => finding(`/srv/r${r}/m${i}`))));
    await pollFor(async () => (openCount() === PER_ROUND ? true : null), `round ${r} stored`);
  }
  agent.send(health([finding("/srv/now-a", "critical"), finding("/srv/now-b"), finding("/srv/now-c", "info")]));
  await pollFor(async () => (openCount() === 3 ? true : null), "the last report stored");
  await agent.close();
}, 60_000);

afterAll(async () => {
  await controller?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function nextLink(res: Response): string | null {
  return /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("link") ?? "")?.[1] ?? null;
}

describe("GET /v1/findings?resolved=true over 20,003 findings", () => {
  it("answers 1000 by default, open ones first, then the most recently resolved, and says how many there are", async () => {
    const res = await get("/v1/findings?resolved=true");
    expect(res.status).toBe(200);
    const body = await res.text();
    const page = JSON.parse(body) as FindingRecord[];
    expect(page).toHaveLength(1000);
    expect(body.length).toBeLessThan(500_000);
    expect(res.headers.get("x-total-count")).toBe(String(ROUNDS * PER_ROUND + 3));
    expect(page.slice(0, 3).map((f) => [f.severity, f.subject, f.resolvedAt])).toEqual([
      ["critical", "/srv/now-a", null], ["warning", "/srv/now-b", null], ["info", "/srv/now-c", null],
    ]);
    // The newest history first: the last round's findings, resolved by the last report.
    expect(page.slice(3).every((f) => f.resolvedAt !== null && f.subject.startsWith(`/srv/r${ROUNDS - 1}/`))).toBe(true);
    const resolvedTimes = page.slice(3).map((f) => Date.parse(f.resolvedAt!));
    expect(resolvedTimes).toEqual(resolvedTimes.slice().sort((a, b) => b - a));
    expect(nextLink(res)).toMatch(/^\/v1\/findings\?resolved=true&limit=1000&after=[A-Za-z0-9_-]+$/);
  });

  it("pages through every finding exactly once by following Link rel=next", async () => {
    const seen: FindingRecord[] = [];
    let next: string | null = "/v1/findings?resolved=true&limit=7000";
    let pages = 0;
    while (next !== null) {
      const res = await get(next);
      expect(res.status).toBe(200);
      seen.push(...((await res.json()) as FindingRecord[]));
      next = nextLink(res);
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toHaveLength(ROUNDS * PER_ROUND + 3);
    expect(new Set(seen.map((f) => f.subject)).size).toBe(ROUNDS * PER_ROUND + 3);
    expect(seen.slice(0, 3).every((f) => f.resolvedAt === null)).toBe(true);
    const resolvedTimes = seen.slice(3).map((f) => Date.parse(f.resolvedAt!));
    expect(resolvedTimes).toEqual(resolvedTimes.slice().sort((a, b) => b - a));
  });

  it("answers at most 10,000 however many are asked for; a bad limit or cursor is a 400", async () => {
    const res = await get("/v1/findings?resolved=true&limit=50000");
    expect((await res.json()) as unknown[]).toHaveLength(10_000);
    for (const query of ["limit=0", "limit=-3", "limit=1.5", "limit=many", "after=not-a-cursor", "after="]) {
      const bad = await get(`/v1/findings?resolved=true&${query}`);
      expect(bad.status, query).toBe(400);
      expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("NS_ERR_BAD_REQUEST");
    }
  });

  it("without resolved=true: the 3 open ones, worst first, no next page", async () => {
    const res = await get("/v1/findings");
    expect(((await res.json()) as FindingRecord[]).map((f) => f.subject)).toEqual(["/srv/now-a", "/srv/now-b", "/srv/now-c"]);
    expect(res.headers.get("x-total-count")).toBe("3");
    expect(res.headers.get("link")).toBeNull();
    const severe = await get("/v1/findings?resolved=true&severity=critical");
    expect(((await severe.json()) as FindingRecord[]).map((f) => f.subject)).toEqual(["/srv/now-a"]);
  });
});
