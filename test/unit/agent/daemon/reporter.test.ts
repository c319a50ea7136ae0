/**
 * The reporter's sending rules, with a real spool on disk and a session that
 * records what would go on the wire: batches of at most MAX_EVENTS_PER_BATCH,
 * a window of unacked entries, loss reports on their own, everything unacked
 * again in order on a new session.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { IN_FLIGHT_WINDOW, Reporter } from "../../../../agent/daemon/reporter.js";
import { Spool } from "../../../../agent/daemon/spool.js";
import type { ControllerSession, OutgoingMessage } from "../../../../agent/daemon/controller-link.js";
import type { DomainEvent } from "../../../../agent/libvirt/events.js";
import { MAX_EVENTS_PER_BATCH } from "../../../../shared/protocol/messages.js";

let dir: string;
const logger = pino({ level: "silent" });

beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-reporter-")); });
afterEach(() => {
  vi.useRealTimers();
  fs.rmSync(dir, { recursive: true, force: true });
});

function session(): ControllerSession & { sent: OutgoingMessage[] } {
  const sent: OutgoingMessage[] = [];
  return {
    sent,
    welcome: { v: 1, type: "welcome", sessionId: "s", host: "h", inventoryIntervalSeconds: 3_600, heartbeatSeconds: 15 },
    send: (m) => { sent.push(m); return true; },
  };
}

let n = 0;
const libvirtEvent = (): DomainEvent => ({
  kind: "lifecycle", event: "started", detail: "booted", eventCode: 2, detailCode: 0, receivedAt: new Date(),
  domain: { name: `d${++n}`, uuid: "3d0c5e2a-8f1b-4c1d-9e2f-0a1b2c3d4e5f", id: 1 },
});

function setup(maxEvents = 100_000) {
  const spool = Spool.open({ dir, maxEvents, fsync: false, logger });
  const reporter = new Reporter({ spool, logger, inventory: () => Promise.resolve([]), canInventory: () => true });
  return { spool, reporter };
}

const eventIds = (sent: OutgoingMessage[]) => sent.flatMap((m) => (m.type === "events" ? m.events.map((e) => e.id) : []));

describe("Reporter", () => {
  it("dates an inventory from before libvirt was asked, not from when the answer was sent", async () => {
    // A VM defined, started and destroyed while the listing was under way is not in it; were the inventory dated
    // after the listing, the controller would take the VM's absence as newer than its stop and resolve the finding.
    const spool = Spool.open({ dir, maxEvents: 100, fsync: false, logger });
    let askedAt = 0;
    const reporter = new Reporter({ spool, logger, canInventory: () => true, inventory: async () => {
      askedAt = Date.now();
      await new Promise((r) => setTimeout(r, 60));
      return [];
    } });
    const s = session();
    await reporter.sessionStarted(s);
    const inventory = s.sent.find((m) => m.type === "inventory");
    expect(inventory?.type).toBe("inventory");
    expect(Date.parse(inventory!.type === "inventory" ? inventory!.collectedAt : "")).toBeLessThanOrEqual(askedAt);
    reporter.stop();
  });

  it("spools first and sends each event the moment it arrives; acks empty the spool", async () => {
    const { spool, reporter } = setup();
    const s = session();
    await reporter.sessionStarted(s);
    expect(s.sent.map((m) => m.type)).toEqual(["inventory"]);
    reporter.libvirtEvent(libvirtEvent());
    expect(spool.size).toBe(1);
    const msg = s.sent.at(-1)!;
    expect(msg.type).toBe("events");
    reporter.acked(eventIds([msg]));
    expect(spool.size).toBe(0);
    reporter.stop();
  });

  it("holds events while disconnected and sends them all, in order, in batches of at most MAX_EVENTS_PER_BATCH", async () => {
    const { spool, reporter } = setup();
    for (let i = 0; i < 2_500; i++) reporter.libvirtEvent(libvirtEvent());
    const spooled = spool.after(0, 10_000).map((r) => r.entry.id);
    const s = session();
    await reporter.sessionStarted(s);
    const batches = s.sent.filter((m) => m.type === "events");
    expect(batches.map((b) => (b.type === "events" ? b.events.length : 0))).toEqual([1_000, 1_000, 500]);
    expect(eventIds(s.sent)).toEqual(spooled);
    reporter.stop();
  });

  it("keeps at most IN_FLIGHT_WINDOW unacked entries on the wire and refills as acks arrive", async () => {
    const { reporter } = setup();
    const total = IN_FLIGHT_WINDOW + 1_500;
    for (let i = 0; i < total; i++) reporter.libvirtEvent(libvirtEvent());
    const s = session();
    await reporter.sessionStarted(s);
    expect(eventIds(s.sent)).toHaveLength(IN_FLIGHT_WINDOW);
    // Live events wait their turn too.
    reporter.libvirtEvent(libvirtEvent());
    expect(eventIds(s.sent)).toHaveLength(IN_FLIGHT_WINDOW);
    reporter.acked(eventIds(s.sent).slice(0, MAX_EVENTS_PER_BATCH));
    expect(eventIds(s.sent)).toHaveLength(IN_FLIGHT_WINDOW + MAX_EVENTS_PER_BATCH);
    reporter.acked(eventIds(s.sent));
    expect(eventIds(s.sent)).toHaveLength(total + 1);
    expect(new Set(eventIds(s.sent)).size).toBe(total + 1);
    reporter.stop();
  });

  it("re-sends everything unacked from the start on the next session, same ids, same order", async () => {
    const { reporter } = setup();
    const first = session();
    await reporter.sessionStarted(first);
    for (let i = 0; i < 5; i++) reporter.libvirtEvent(libvirtEvent());
    const sent = eventIds(first.sent);
    reporter.acked(sent.slice(0, 2));
    reporter.sessionEnded();
    reporter.libvirtEvent(libvirtEvent());
    const second = session();
    await reporter.sessionStarted(second);
    const again = eventIds(second.sent);
    expect(again.slice(0, 3)).toEqual(sent.slice(2));
    expect(again).toHaveLength(4);
    reporter.stop();
  });

  it("sends loss reports as events-lost at session start, then at most once a second while overflowing", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { spool, reporter } = setup(2);
    for (let i = 0; i < 5; i++) reporter.libvirtEvent(libvirtEvent());
    const s = session();
    await reporter.sessionStarted(s);
    expect(s.sent.map((m) => m.type)).toEqual(["events-lost", "events", "inventory"]);
    const first = s.sent[0]!;
    expect(first).toMatchObject({ type: "events-lost", count: 3 });
    // Overflowing while connected (acks withheld): the sent report keeps its count, drops go into a new one...
    for (let i = 0; i < 50; i++) reporter.libvirtEvent(libvirtEvent());
    const lostMessages = () => s.sent.filter((m) => m.type === "events-lost");
    expect(lostMessages()).toHaveLength(1);
    // ...which goes out a second later, once.
    vi.advanceTimersByTime(1_000);
    expect(lostMessages()).toHaveLength(2);
    expect(lostMessages()[1]).toMatchObject({ count: 50 });
    expect(spool.losses().map((l) => l.count)).toEqual([3, 50]);
    // Acked: gone from the spool.
    reporter.acked(lostMessages().map((m) => (m.type === "events-lost" ? m.id : "")));
    expect(spool.losses()).toEqual([]);
    reporter.stop();
  });

  it("does not send an inventory while libvirt is reconnecting", async () => {
    const spool = Spool.open({ dir, maxEvents: 10, fsync: false, logger });
    let calls = 0;
    const reporter = new Reporter({ spool, logger, inventory: () => { calls++; return Promise.resolve([]); }, canInventory: () => false });
    const s = session();
    await reporter.sessionStarted(s);
    expect(calls).toBe(0);
    expect(s.sent).toEqual([]);
    reporter.stop();
  });
});
