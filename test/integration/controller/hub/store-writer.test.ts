/**
 * The group writer on a real SQLite file: one failing job in a group costs
 * only itself. Its writes are undone, it alone is rejected, and the group's
 * other jobs still commit together, in one transaction (one fsync with
 * synchronous=FULL), not one each; while failures are recent, no other job
 * is even run twice.
 */
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { Store } from "../../../../controller/store/index.js";
import { GUARDED_GROUPS, StoreWriter } from "../../../../controller/hub/store-writer.js";
import { sampleDomain } from "../../../helpers/ws-agent.js";
import type { Domain } from "../../../../shared/protocol/messages.js";

const opened: { store: Store; dir: string }[] = [];
afterEach(() => {
  for (const { store, dir } of opened.splice(0)) {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function openStore(): { store: Store; hostId: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-store-writer-"));
  const store = Store.open(path.join(dir, "nightshift.db"));
  opened.push({ store, dir });
  const host = store.hosts.enroll("hv1", `host_${randomUUID()}`, Date.now())!;
  return { store, hostId: host.id };
}

/** A VM whose two disks share target vda: its disk rows break the disks table's primary key. */
function twinDiskDomain(): Domain {
  const d = sampleDomain("twin") as Domain;
  return { ...d, disks: [d.disks[0]!, { ...d.disks[0]!, source: "/images/other.qcow2" }] };
}

function eventJob(store: Store, hostId: number, id: string) {
  return () => store.events.insert({ eventId: id, hostId, time: Date.now(), kind: "reboot", domainName: "web1", domainUuid: randomUUID() }, Date.now());
}

describe("StoreWriter: a failing job in a group", () => {
  it("is rolled back and rejected alone; the 40 others commit in one transaction", async () => {
    const { store, hostId } = openStore();
    const writer = new StoreWriter(store);
    const before = writer.transactionsCommitted;
    const ids = Array.from({ length: 40 }, () => randomUUID());
    const honest = ids.slice(0, 20).map((id) => writer.write(eventJob(store, hostId, id)));
    // A real constraint failure after a write of its own (the domain row), as an inventory job would hit it.
    const failing = writer.write(() => store.domains.replaceInventory(hostId, [twinDiskDomain()], Date.now()));
    const thrown = writer.write(() => {
      eventJob(store, hostId, "written-then-thrown")();
      throw new Error("job gave up");
    });
    honest.push(...ids.slice(20).map((id) => writer.write(eventJob(store, hostId, id))));

    expect(await Promise.all(honest)).toEqual(ids.map(() => true));
    await expect(failing).rejects.toThrow(/UNIQUE constraint failed: disks/);
    await expect(thrown).rejects.toThrow("job gave up");
    expect(writer.transactionsCommitted - before).toBe(1);
    expect(store.events.count()).toBe(40);
    expect(store.events.query({ limit: 100 }).map((e) => e.id)).not.toContain("written-then-thrown");
    expect(store.domains.list()).toEqual([]);
  });

  it("redoes the others in one new transaction when a job's failure ended the whole transaction", async () => {
    const { store, hostId } = openStore();
    const writer = new StoreWriter(store);
    const before = writer.transactionsCommitted;
    const ids = Array.from({ length: 10 }, () => randomUUID());
    const first = ids.slice(0, 5).map((id) => writer.write(eventJob(store, hostId, id)));
    // What SQLITE_FULL or an I/O error does to a transaction: SQLite rolls all of it back, savepoints included.
    const abortsAll = writer.write(() => {
      store.db.exec("ROLLBACK");
      throw new Error("database or disk is full");
    });
    const rest = ids.slice(5).map((id) => writer.write(eventJob(store, hostId, id)));
    expect(await Promise.all([...first, ...rest])).toEqual(ids.map(() => true));
    await expect(abortsAll).rejects.toThrow("database or disk is full");
    expect(store.events.count()).toBe(10);
    expect(store.db.inTransaction).toBe(false);
    expect(writer.transactionsCommitted - before).toBe(1);
  });

  it("after a failure, groups run each job once, in a savepoint: a failing job makes no other job run twice", async () => {
    const { store, hostId } = openStore();
    const writer = new StoreWriter(store);
    const runs = new Map<string, number>();
    const counted = (id: string) => () => {
      runs.set(id, (runs.get(id) ?? 0) + 1);
      return eventJob(store, hostId, id)();
    };
    const failing = () => writer.write(() => store.domains.replaceInventory(hostId, [twinDiskDomain()], Date.now())).catch(() => "refused");
    const group = async (label: string) => {
      const ids = Array.from({ length: 20 }, (_, i) => `${label}-${String(i).padStart(3, "0")}`);
      const jobs = [...ids.slice(0, 10).map((id) => writer.write(counted(id))), failing(), ...ids.slice(10).map((id) => writer.write(counted(id)))];
      await Promise.all(jobs);
      return ids.map((id) => runs.get(id));
    };
    // The first failure after a quiet time: the transaction is rolled back, the 10 jobs before it are done again.
    expect(await group("first")).toEqual([...Array<number>(10).fill(2), ...Array<number>(10).fill(1)]);
    const before = writer.transactionsCommitted;
    expect(await group("second")).toEqual(Array<number>(20).fill(1));
    expect(writer.transactionsCommitted - before).toBe(1);
    // GUARDED_GROUPS quiet groups later, groups run without savepoints again.
    for (let g = 0; g < GUARDED_GROUPS; g++) await writer.write(eventJob(store, hostId, `quiet-${g}`));
    expect(await group("later")).toEqual([...Array<number>(10).fill(2), ...Array<number>(10).fill(1)]);
    expect(store.events.count()).toBe(60 + GUARDED_GROUPS);
  });

  it("a group of 1,000 jobs of which every tenth fails still commits once", async () => {
    const { store, hostId } = openStore();
    const writer = new StoreWriter(store);
    const before = writer.transactionsCommitted;
    const jobs = Array.from({ length: 1000 }, (_, i) => (i % 10 === 9
      ? writer.write(() => store.domains.replaceInventory(hostId, [twinDiskDomain()], Date.now())).then(() => "stored", () => "refused")
      : writer.write(eventJob(store, hostId, randomUUID())).then(() => "stored", () => "refused")));
    const outcomes = await Promise.all(jobs);
    expect(outcomes.filter((o) => o === "refused")).toHaveLength(100);
    expect(store.events.count()).toBe(900);
    expect(writer.transactionsCommitted - before).toBe(1);
  });
});
