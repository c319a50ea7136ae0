/**
 * Resolved findings are history with an end: on the retention schedule the
 * controller deletes those resolved longer ago than retention.resolvedFindings
 * (90d by default) and, per host, all but the retention.resolvedFindingsPerHost
 * most recently resolved. Open findings are never touched. A controller on
 * port 0 with a real SQLite file; findings written through the store as the
 * hub writes them, at the times the test says.
 */
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { pollFor } from "../../helpers/poll.js";

const DAY = 86_400_000;
const running: { controller: RunningController; dataDir: string }[] = [];

afterEach(async () => {
  for (const { controller, dataDir } of running.splice(0)) {
    await controller.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

async function started(config: Record<string, unknown>): Promise<RunningController> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-finding-retention-"));
  const controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir, ...config }), pino({ level: "silent" }));
  running.push({ controller, dataDir });
  return controller;
}

/** `count` findings on the host, opened a day before and resolved at `resolvedAt` (null: left open). */
function seed(controller: RunningController, host: string, prefix: string, count: number, resolvedAt: number | null): void {
  const { store } = controller;
  const hostId = store.hosts.findByName(host)?.id ?? store.hosts.enroll(host, `host_${prefix}_${host}`, Date.now())!.id;
  const opened = (resolvedAt ?? Date.now()) - DAY;
  store.transaction(() => {
    for (let i = 0; i < count; i++) {
      const subject = `/srv/${prefix}/${i}`;
      store.health.upsertFinding(hostId, { code: "NS_MOUNT_HUNG", severity: "critical", subject, probe: "mounts", message: "hung",
        remedy: "umount -l" }, "agent", opened);
      if (resolvedAt !== null) store.health.resolveFinding(hostId, "NS_MOUNT_HUNG", subject, resolvedAt + i);
    }
  });
}

function rows(controller: RunningController, where: string): number {
  return controller.store.db.prepare(`SELECT count(*) FROM findings WHERE ${where}`).pluck().get() as number;
}

describe("retention of resolved findings", () => {
  it("deletes, on the schedule, those resolved more than 90 days ago (the default), in chunks; newer and open ones stay", async () => {
    const controller = await started({ retention: { schedule: "* * * * * *" } });
    const now = Date.now();
    seed(controller, "hv1", "ancient", 12_000, now - 400 * DAY);
    seed(controller, "hv1", "old", 300, now - 91 * DAY);
    seed(controller, "hv1", "recent", 200, now - 10 * DAY);
    seed(controller, "hv1", "open", 50, null);
    expect(rows(controller, "1 = 1")).toBe(12_550);

    await pollFor(async () => (rows(controller, `resolved_at < ${now - 90 * DAY}`) === 0 ? true : null), "findings resolved over 90 days ago deleted", 5_000);
    expect(rows(controller, "subject LIKE '/srv/recent/%'")).toBe(200);
    expect(rows(controller, "resolved_at IS NULL")).toBe(50);
    const metrics = await (await fetch(controller.url + "/metrics")).text();
    expect(metrics).toMatch(/^nightshift_resolved_findings_deleted_total\{reason="age"\} 12300$/m);
  });

  it("keeps at most retention.resolvedFindingsPerHost per host, the most recently resolved, whatever their age", async () => {
    const controller = await started({ retention: { schedule: "* * * * * *", resolvedFindingsPerHost: 1000 } });
    const now = Date.now();
    seed(controller, "hv-churn", "churned", 2_500, now - DAY);
    seed(controller, "hv-churn", "open", 20, null);
    seed(controller, "hv-quiet", "few", 10, now - 2 * DAY);

    await pollFor(async () => (rows(controller, "resolved_at IS NOT NULL AND host_id = (SELECT id FROM hosts WHERE name = 'hv-churn')") === 1000
      ? true : null), "hv-churn's resolved findings trimmed to 1000", 5_000);
    // The most recently resolved stay: the seed resolves finding i at resolvedAt + i.
    const kept = controller.store.db.prepare("SELECT subject FROM findings WHERE subject LIKE '/srv/churned/%'").pluck().all() as string[];
    expect(kept.map((s) => Number(s.split("/").pop())).sort((a, b) => a - b)[0]).toBe(1500);
    expect(rows(controller, "resolved_at IS NULL")).toBe(20);
    expect(rows(controller, "subject LIKE '/srv/few/%'")).toBe(10);
    const metrics = await (await fetch(controller.url + "/metrics")).text();
    expect(metrics).toMatch(/^nightshift_resolved_findings_deleted_total\{reason="per-host-limit"\} 1500$/m);
  });

  it("refuses a retention period without a unit and a limit below 1", () => {
    expect(ControllerConfigSchema.safeParse({ retention: { resolvedFindings: "90" } }).success).toBe(false);
    expect(ControllerConfigSchema.safeParse({ retention: { resolvedFindingsPerHost: 0 } }).success).toBe(false);
    expect(ControllerConfigSchema.parse({}).retention).toMatchObject({ resolvedFindings: 90 * DAY, resolvedFindingsPerHost: 10_000 });
  });
});
