/**
 * Event times the controller cannot trust: a host whose clock says 2999 sends
 * a full batch of 1,000 events, another host reports one real event, and one
 * event that arrives days late. `nightshift events` (table and --json) against
 * a real controller process orders and filters by when the controller
 * received each event, and shows the agent's own time where it differs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { startController, type TestController } from "../../helpers/controller.js";
import type { EventRecord } from "../../../shared/api.js";
import type { TestAgent } from "../../helpers/ws-agent.js";
import { enrolledAgent, runAgainst, waitForVms } from "./run-cli.js";

let controller: TestController;
const agents: TestAgent[] = [];
const realId = randomUUID();
const lateId = randomUUID();
const LATE_TIME = new Date(Date.now() - 3 * 86_400_000).toISOString();

function lifecycle(id: string, time: string, domain: string, uuid: string) {
  return { id, time, domain, uuid, kind: "lifecycle", event: "started", detail: "booted" };
}

async function events(args: string[]): Promise<EventRecord[]> {
  const result = await runAgainst(controller, ["events", ...args, "--json"]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as EventRecord[];
}

beforeAll(async () => {
  controller = await startController();
  const skewed = await enrolledAgent(controller, "skewed", ["vm9"]);
  const honest = await enrolledAgent(controller, "honest", ["web1"]);
  agents.push(skewed, honest);
  await waitForVms(controller, 2);
  const uuid = randomUUID();
  const future = Array.from({ length: 1000 }, (_, i) => lifecycle(randomUUID(), new Date(Date.UTC(2999, 0, 1) + i * 1000).toISOString(), "vm9", uuid));
  skewed.send({ v: 1, type: "events", events: future });
  expect((await skewed.next("ack")).ids).toHaveLength(1000);
  // The honest host's event comes after the skewed batch: it is the newest the controller has.
  honest.send({ v: 1, type: "events", events: [lifecycle(realId, new Date().toISOString(), "web1", randomUUID())] });
  await honest.next("ack");
  // Spooled for three days (a long controller outage), delivered now.
  honest.send({ v: 1, type: "events", events: [lifecycle(lateId, LATE_TIME, "web1", randomUUID())] });
  await honest.next("ack");
}, 30_000);

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await controller?.stop();
});

describe("events from a host with a clock in the future", () => {
  it("do not hide the fleet's other events from `nightshift events`", async () => {
    const listed = await events([]);
    expect(listed).toHaveLength(1000);
    const honest = listed.filter((e) => e.host === "honest" && e.kind === "lifecycle").map((e) => e.id);
    expect(honest).toEqual([realId, lateId]);
    // Newest received last, like a log.
    expect(listed.at(-1)!.id).toBe(lateId);
    const received = listed.map((e) => Date.parse(e.receivedAt));
    expect(received).toEqual([...received].sort((a, b) => a - b));
  });

  it("do not hide them from `--since 10m`, which selects by receipt; a late event shows up when it arrives", async () => {
    const recent = await events(["--since", "10m"]);
    expect(recent.filter((e) => e.host === "honest" && e.kind === "lifecycle").map((e) => e.id)).toEqual([realId, lateId]);
    // 4 host events (2 enrolled, 2 connected) + 1000 + 2 arrived in the last 10 minutes; the newest 1000 are shown.
    expect(recent).toHaveLength(1000);
    // The agent's own time is kept as it said it.
    expect(recent.find((e) => e.id === lateId)!.time).toBe(LATE_TIME);
    expect(recent.filter((e) => e.time.startsWith("2999-"))).toHaveLength(998);
    expect(await events(["--since", new Date(Date.now() + 60_000).toISOString()])).toEqual([]);
  });

  it("the table shows the receipt time and, where it differs, the agent's time", async () => {
    const result = await runAgainst(controller, ["events", "--limit", "4"]);
    expect(result.code, result.stderr).toBe(0);
    const [header, ...rows] = result.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^TIME\s+AGENT-TIME\s+HOST\s+KIND\s+VM\s+EVENT\s+DETAIL$/);
    expect(rows).toHaveLength(4);
    const iso = "\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z";
    expect(rows[0]).toMatch(new RegExp(`^${iso}\\s+2999-01-01T00:16:38\\.000Z\\s+skewed\\s+lifecycle\\s+vm9\\s+started\\s+booted$`));
    expect(rows[1]).toMatch(new RegExp(`^${iso}\\s+2999-01-01T00:16:39\\.000Z\\s+skewed\\s+`));
    expect(rows[2]).toMatch(new RegExp(`^${iso}\\s+-\\s+honest\\s+lifecycle\\s+web1\\s+started\\s+booted$`));
    expect(rows[3]).toMatch(new RegExp(`^${iso}\\s+${LATE_TIME.replace(/\./g, "\\.")}\\s+honest\\s+lifecycle\\s+web1\\s+`));
    expect(Date.now() - Date.parse(rows[3]!.split(/\s+/)[0]!)).toBeLessThan(60_000);
  });

  it("per host, the skewed host's own history is still complete and in the order it arrived", async () => {
    const skewed = await events(["--host", "skewed", "--limit", "5000"]);
    const times = skewed.filter((e) => e.kind === "lifecycle").map((e) => e.time);
    expect(times).toHaveLength(1000);
    expect(times).toEqual([...times].sort());
  });
});
