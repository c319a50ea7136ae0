/** The event spool on real files in a temporary directory. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Spool, SPOOL_FILE, type SpoolEntry } from "../../../../agent/daemon/spool.js";
import type { DomainEventMessage } from "../../../../shared/protocol/messages.js";

let dir: string;
let logs: { level: number; code?: string; msg: string; line?: number }[];
const logger = pino({ level: "debug" }, { write: (s: string) => { logs.push(JSON.parse(s) as (typeof logs)[number]); } });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-spool-"));
  logs = [];
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function event(i: number = ++n): DomainEventMessage {
  const hex = i.toString(16).padStart(12, "0");
  return {
    id: `00000000-0000-4000-8000-${hex}`,
    time: new Date(Date.UTC(2026, 10, 23, 12, 0, 0, i)).toISOString(),
    domain: `web${i}`,
    uuid: "3d0c5e2a-8f1b-4c1d-9e2f-0a1b2c3d4e5f",
    kind: "lifecycle",
    event: "started",
    detail: "booted",
  };
}

const open = (maxEvents = 100, extra: Partial<Parameters<typeof Spool.open>[0]> = {}) =>
  Spool.open({ dir, maxEvents, logger, ...extra });
const ids = (spool: Spool) => spool.after(0, 1_000_000).map((r) => r.entry.id);
const entries = (spool: Spool): SpoolEntry[] => [...spool.losses(), ...spool.after(0, 1_000_000).map((r) => r.entry)];
const fileLines = () => fs.readFileSync(path.join(dir, SPOOL_FILE), "utf8").split("\n").filter(Boolean);

describe("Spool", () => {
  it("keeps appended events across a reopen, in order, until they are acked", () => {
    const a = event(1), b = event(2), c = event(3);
    let spool = open();
    spool.append(a);
    spool.append(b);
    spool.append(c);
    expect(spool.ack([b.id])).toBe(1);
    // No close: as after a SIGKILL.
    spool = open();
    expect(entries(spool)).toEqual([{ kind: "event", id: a.id, event: a }, { kind: "event", id: c.id, event: c }]);
    expect(logs.some((l) => l.msg.startsWith("spool holds unacked entries"))).toBe(true);
    spool.ack([a.id, c.id]);
    spool.close();
    expect(open().size).toBe(0);
  });

  it("keeps an event the controller will refuse (a VM name over 256 characters, as the test driver allows) across a reopen", () => {
    // The controller records such an event as event-refused and acks it; the spool must not lose it before that.
    const long = { ...event(), domain: `vm-${"n".repeat(300)}` };
    open().append(long);
    expect(entries(open())).toEqual([{ kind: "event", id: long.id, event: long }]);
    expect(logs.filter((l) => l.code === "NS_ERR_SPOOL_CORRUPT")).toEqual([]);
  });

  it("ignores unknown and repeated acks, and duplicate appends", () => {
    const spool = open();
    const a = event();
    spool.append(a);
    spool.append(a);
    expect(spool.size).toBe(1);
    const before = fileLines().length;
    expect(spool.ack(["nope-nope-nope"])).toBe(0);
    expect(fileLines().length).toBe(before);
    expect(spool.ack([a.id])).toBe(1);
    expect(spool.ack([a.id])).toBe(0);
  });

  it("hands out entries after a position, oldest first, at most `limit`", () => {
    const spool = open();
    for (let i = 0; i < 10; i++) spool.append(event());
    const first = spool.after(0, 4);
    expect(first).toHaveLength(4);
    const next = spool.after(first.at(-1)!.seq, 100);
    expect(next).toHaveLength(6);
    expect([...first, ...next].map((r) => r.entry.id)).toEqual(ids(spool));
    expect(spool.after(next.at(-1)!.seq, 100)).toEqual([]);
  });

  it("drops the oldest events when full and counts them in one loss report", () => {
    const spool = open(3);
    const events = Array.from({ length: 6 }, () => event());
    const dropped = events.map((e) => spool.append(e));
    expect(dropped).toEqual([0, 0, 0, 1, 1, 1]);
    const all = entries(spool);
    expect(all.filter((e) => e.kind === "event").map((e) => e.id)).toEqual(events.slice(3).map((e) => e.id));
    const losses = all.filter((e) => e.kind === "lost");
    expect(losses).toEqual([{ kind: "lost", id: expect.stringMatching(/^[0-9a-f-]{36}$/), count: 3,
      firstLostAt: events[0]!.time, lastLostAt: events[2]!.time }]);
    expect(spool.stats).toEqual({ events: 3, losses: 1, droppedTotal: 3, corruptLines: 0 });
    // The same after a restart.
    const reopened = open(3);
    expect(entries(reopened)).toEqual(all);
  });

  it("freezes a loss report once sent: later drops start a new one", () => {
    const spool = open(1);
    spool.append(event());
    spool.append(event());
    const [first] = entries(spool).filter((e) => e.kind === "lost");
    spool.markSent(first!.id);
    spool.append(event());
    spool.append(event());
    const losses = entries(spool).filter((e) => e.kind === "lost");
    expect(losses.map((l) => (l.kind === "lost" ? l.count : 0))).toEqual([1, 2]);
    expect(losses[0]).toEqual(first);
    expect(losses[1]!.id).not.toBe(first!.id);
    spool.ack([first!.id]);
    expect(entries(spool).filter((e) => e.kind === "lost")).toHaveLength(1);
  });

  it("treats loss reports read back at start-up as possibly sent", () => {
    let spool = open(1);
    spool.append(event());
    spool.append(event());
    const before = entries(spool).find((e) => e.kind === "lost")!;
    spool = open(1);
    spool.append(event());
    const losses = entries(spool).filter((e) => e.kind === "lost");
    expect(losses).toHaveLength(2);
    expect(losses[0]).toEqual(before);
  });

  it("drops down to a smaller maxEvents at start-up and reports it", () => {
    const spool = open(10);
    const events = Array.from({ length: 5 }, () => event());
    for (const e of events) spool.append(e);
    spool.close();
    const smaller = open(2);
    expect(entries(smaller).filter((e) => e.kind === "event").map((e) => e.id)).toEqual(events.slice(3).map((e) => e.id));
    expect(entries(smaller).find((e) => e.kind === "lost")).toMatchObject({ count: 3, firstLostAt: events[0]!.time, lastLostAt: events[2]!.time });
    expect(logs.some((l) => l.code === "NS_ERR_SPOOL_OVERFLOW")).toBe(true);
  });

  it("skips and logs corrupt lines and a torn last line, never crashes, and rewrites the file clean", () => {
    const a = event(), b = event(), c = event();
    const good = (e: DomainEventMessage) => JSON.stringify({ t: "e", e });
    fs.writeFileSync(path.join(dir, SPOOL_FILE), [
      good(a),
      "{not json",
      JSON.stringify({ t: "e", e: { ...b, id: "x" } }), // fails the schema
      JSON.stringify({ t: "zz" }),
      good(b),
      good(c).slice(0, 40), // torn: the agent died mid-write
    ].join("\n"));
    const spool = open();
    expect(ids(spool)).toEqual([a.id, b.id]);
    expect(spool.stats.corruptLines).toBe(4);
    const corrupt = logs.filter((l) => l.code === "NS_ERR_SPOOL_CORRUPT");
    expect(corrupt.map((l) => l.line)).toEqual([2, 3, 4, 6]);
    expect(corrupt.every((l) => l.level === 50)).toBe(true);
    // Rewritten: appends after the torn line are not glued to it.
    expect(fileLines()).toEqual([good(a), good(b)]);
    spool.append(c);
    expect(ids(open())).toEqual([a.id, b.id, c.id]);
  });

  it("compacts once acked lines pile up, without changing what it holds", () => {
    const spool = open(100_000, { compactAfterDeadLines: 50 });
    const kept: string[] = [];
    for (let i = 0; i < 300; i++) {
      const e = event();
      spool.append(e);
      if (i % 10 === 0) kept.push(e.id);
      else spool.ack([e.id]);
    }
    expect(ids(spool)).toEqual(kept);
    // 300 appends and 270 acks without compaction would be 570 lines.
    expect(fileLines().length).toBeLessThan(kept.length + 2 * 50 + 2);
    expect(ids(open())).toEqual(kept);
    expect(fs.existsSync(path.join(dir, `${SPOOL_FILE}.tmp`))).toBe(false);
  });

  it("keeps a downtime report across reopens and compactions until it is acked, apart from events and losses", () => {
    let spool = open(100_000, { compactAfterDeadLines: 5 });
    const down = spool.recordDowntime("2026-11-23T10:00:00.000Z", "2026-11-23T10:05:00.000Z", false);
    for (let i = 0; i < 20; i++) {
      const e = event();
      spool.append(e);
      spool.ack([e.id]);
    }
    expect(spool.stats.events).toBe(0);
    expect(spool.stats.losses).toBe(0);
    // No close: as after a SIGKILL; the compactions in between kept it too.
    spool = open();
    expect(spool.downtimes()).toEqual([down]);
    expect(spool.after(0, 10)).toEqual([]);
    expect(spool.ack([down.id])).toBe(1);
    spool.close();
    expect(open().downtimes()).toEqual([]);
  });

  it("ignores a temporary file left by a compaction that was interrupted", () => {
    const spool = open();
    const a = event();
    spool.append(a);
    fs.writeFileSync(path.join(dir, `${SPOOL_FILE}.tmp`), "half a compaction");
    expect(ids(open())).toEqual([a.id]);
  });

  it("close() leaves only live entries on disk", () => {
    const spool = open();
    const events = Array.from({ length: 5 }, () => event());
    for (const e of events) spool.append(e);
    spool.ack(events.slice(0, 4).map((e) => e.id));
    spool.close();
    expect(fileLines()).toEqual([JSON.stringify({ t: "e", e: events[4] })]);
  });

  it("says which state directory it cannot create", () => {
    const file = path.join(dir, "a-file");
    fs.writeFileSync(file, "");
    expect(() => Spool.open({ dir: path.join(file, "state"), maxEvents: 10 })).toThrowError(
      expect.objectContaining({ code: "NS_ERR_AGENT_STATE_DIR", message: expect.stringContaining(path.join(file, "state")) }));
  });

  it("works without fdatasync too", () => {
    const spool = open(10, { fsync: false });
    const a = event();
    spool.append(a);
    expect(ids(open())).toEqual([a.id]);
  });
});
