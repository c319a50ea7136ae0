/**
 * Schema migrations on real SQLite files: a database written by the previous
 * schema version is brought up to date at start-up without losing anything.
 */
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { pino } from "pino";
import { openDatabase, schemaVersion, StoreError } from "../../../../controller/store/db.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../../../controller/store/migrations.js";
import { startController } from "../../../../controller/server.js";
import { ControllerConfigSchema } from "../../../../controller/config.js";
import { hashToken } from "../../../../controller/tokens.js";

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const DISKS_V1 = [
  { target: "vda", bus: "virtio", device: "disk", type: "file", source: "/nfs/nas01/web1.qcow2", driverType: "qcow2", readonly: false, shareable: false },
  { target: "sda", bus: "sata", device: "cdrom", type: "file", source: null, driverType: null, readonly: true, shareable: false },
];

/** Writes a database exactly as schema version 1 left it, with data in every table. */
function writeVersion1Database(file: string): void {
  const db = openDatabase(file, MIGRATIONS.slice(0, 1));
  expect(schemaVersion(db)).toBe(1);
  db.prepare("INSERT INTO hosts (id, name, token_hash, enrolled_at, status, last_seen_at) VALUES (1, 'hv1', ?, 1000, 'up', 2000)")
    .run(hashToken("nsh_v1-token"));
  db.prepare(`INSERT INTO domains (host_id, uuid, name, state, state_reason, autostart, persistent, vcpus, memory_kib,
    max_memory_kib, disks, updated_at) VALUES (1, '11111111-2222-3333-4444-555555555555', 'web1', 'running', 'booted', 1, 1, 2,
    1048576, 2097152, ?, 3000)`).run(JSON.stringify(DISKS_V1));
  db.prepare(`INSERT INTO domains (host_id, uuid, name, state, state_reason, autostart, persistent, vcpus, memory_kib,
    max_memory_kib, disks, updated_at) VALUES (1, '66666666-2222-3333-4444-555555555555', 'nodisk', 'shutoff', 'unknown', 0, 1, 1,
    1024, 1024, '[]', 3000)`).run();
  db.prepare(`INSERT INTO events (event_id, host_id, time, received_at, kind, domain_name, domain_uuid, event, detail)
    VALUES ('ev-00000001', 1, 2500, 2501, 'lifecycle', 'web1', '11111111-2222-3333-4444-555555555555', 'started', 'booted')`).run();
  db.close();
}

describe("migrations", () => {
  it("moves version 1's disk JSON into the disks table, keeping every row", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-mig-"));
    const file = path.join(dir, "nightshift.db");
    writeVersion1Database(file);

    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT name, state, memory_kib FROM domains ORDER BY name").all()).toEqual([
      { name: "nodisk", state: "shutoff", memory_kib: 1024 },
      { name: "web1", state: "running", memory_kib: 1048576 },
    ]);
    expect(db.prepare("SELECT target, device, source, driver_type, readonly FROM disks ORDER BY target DESC").all()).toEqual([
      { target: "vda", device: "disk", source: "/nfs/nas01/web1.qcow2", driver_type: "qcow2", readonly: 0 },
      { target: "sda", device: "cdrom", source: null, driver_type: null, readonly: 1 },
    ]);
    const columns = (db.prepare("PRAGMA table_info(domains)").all() as { name: string }[]).map((c) => c.name);
    expect(columns).not.toContain("disks");
    expect(db.prepare("SELECT count(*) AS n FROM events").get()).toEqual({ n: 1 });
    // Opening again is a no-op.
    db.close();
    const again = openDatabase(file);
    expect(again.prepare("SELECT count(*) AS n FROM disks").get()).toEqual({ n: 2 });
    again.close();
  });

  it("serves the migrated data through a controller started on the old file", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-mig-"));
    writeVersion1Database(path.join(dir, "nightshift.db"));
    const controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir: dir }), pino({ level: "silent" }));
    try {
      const token = fs.readFileSync(path.join(dir, "admin.token"), "utf8").trim();
      const vms = await (await fetch(`${controller.url}/v1/vms`, { headers: { Authorization: `Bearer ${token}` } })).json() as
        { host: string; name: string; disks: { target: string; source: string | null }[] }[];
      expect(vms.find((v) => v.name === "web1")).toMatchObject({ host: "hv1", disks: [
        { target: "sda", source: null }, { target: "vda", source: "/nfs/nas01/web1.qcow2" },
      ] });
      const events = await (await fetch(`${controller.url}/v1/events`, { headers: { Authorization: `Bearer ${token}` } })).json() as { id: string }[];
      expect(events.map((e) => e.id)).toContain("ev-00000001");
    } finally {
      await controller.close();
    }
  });

  it("gives a VM that was mid-patch or mid-reboot under version 6 the step id version 6 derived, taken as sent", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-mig-"));
    const file = path.join(dir, "nightshift.db");
    const old = openDatabase(file, MIGRATIONS.filter((m) => m.version <= 6));
    old.prepare("INSERT INTO hosts (id, name, enrolled_at) VALUES (1, 'hv1', 1000)").run();
    const run = old.prepare("INSERT INTO runs (id, name, spec, state, created_at) VALUES (?, 'r', ?, 'running', 1000)");
    run.run("run-a", JSON.stringify({ reboot: "if-required" }));
    run.run("run-b", JSON.stringify({ reboot: "always" }));
    const vm = old.prepare(`INSERT INTO run_vms (run_id, position, host_id, vm, canary, phase, attempt, outcome, updated_at)
      VALUES (?, ?, 1, ?, 0, ?, ?, ?, 1000)`);
    vm.run("run-a", 1, "patching", "patch", 4, null);
    vm.run("run-a", 2, "rebooting", "reboot", 6, null);
    vm.run("run-a", 3, "prebooting", "preboot", 2, null);
    vm.run("run-a", 4, "verifying", "verify", 7, null);
    vm.run("run-a", 5, "finished", "done", 8, "succeeded");
    vm.run("run-b", 1, "rebooting", "reboot", 6, null);
    old.close();

    const db = openDatabase(file);
    expect(db.prepare("SELECT run_id, position, step_id, step_sent FROM run_vms ORDER BY run_id, position").all()).toEqual([
      { run_id: "run-a", position: 1, step_id: "run-a:1:patch:4:1", step_sent: 1 },
      // if-required: the reboot was the phase's second step, after asking whether one is needed.
      { run_id: "run-a", position: 2, step_id: "run-a:2:reboot:6:2", step_sent: 1 },
      { run_id: "run-a", position: 3, step_id: "run-a:3:preboot:2:1", step_sent: 1 },
      { run_id: "run-a", position: 4, step_id: null, step_sent: 0 },
      { run_id: "run-a", position: 5, step_id: null, step_sent: 0 },
      { run_id: "run-b", position: 1, step_id: "run-b:1:reboot:6:1", step_sent: 1 },
    ]);
    db.close();
  });

  it("gives durations version 9 stored as a bare number of seconds their unit, and leaves the others as they were", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-mig-"));
    const file = path.join(dir, "nightshift.db");
    const old = openDatabase(file, MIGRATIONS.filter((m) => m.version <= 9));
    const run = old.prepare("INSERT INTO runs (id, name, spec, state, created_at) VALUES (?, 'r', ?, 'finished', 1000)");
    run.run("run-a", JSON.stringify({ vms: ["a"], patchTimeout: "30", keepSnapshots: " 2.5 ", rebootIfOlderThan: "90d", reboot: "never" }));
    run.run("run-b", JSON.stringify({ vms: ["b"], patchTimeout: "30m", keepSnapshots: "3d" }));
    old.prepare(`INSERT INTO plans (id, name, spec, run_template, state, created_at, week_start)
      VALUES ('plan-a', 'p', '{}', ?, 'finished', 1000, 0)`).run(JSON.stringify({ patch: { exec: "x" }, patchTimeout: "600", keepSnapshots: "3d" }));
    const pref = old.prepare("INSERT INTO plan_preferences (grp, preference, updated_at) VALUES (?, ?, 1000)");
    pref.run("acme", JSON.stringify({ group: "acme", timezone: "UTC", notice: "48" }));
    pref.run("ops", JSON.stringify({ group: "ops", timezone: "UTC", notice: "48h" }));
    old.close();

    const db = openDatabase(file);
    const json = (sql: string) => (db.prepare(sql).pluck().all() as string[]).map((t) => JSON.parse(t) as Record<string, unknown>);
    expect(json("SELECT spec FROM runs ORDER BY id")).toEqual([
      { vms: ["a"], patchTimeout: "30s", keepSnapshots: "2.5s", rebootIfOlderThan: "90d", reboot: "never" },
      { vms: ["b"], patchTimeout: "30m", keepSnapshots: "3d" },
    ]);
    expect(json("SELECT run_template FROM plans")).toEqual([{ patch: { exec: "x" }, patchTimeout: "600s", keepSnapshots: "3d" }]);
    expect(json("SELECT preference FROM plan_preferences ORDER BY grp")).toEqual([
      { group: "acme", timezone: "UTC", notice: "48s" },
      { group: "ops", timezone: "UTC", notice: "48h" },
    ]);
    db.close();
  });

  it("refuses a database from a newer controller instead of guessing", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-mig-"));
    const file = path.join(dir, "nightshift.db");
    openDatabase(file).close();
    const raw = new Database(file);
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)").run();
    raw.close();
    expect(() => openDatabase(file)).toThrow(StoreError);
    expect(() => openDatabase(file)).toThrow(/schema version 99, newer than this controller knows/);
  });

  it("makes event ids unique per host (version 15), keeping every event of version 14 with its seq", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-mig-"));
    const file = path.join(dir, "nightshift.db");
    const old = openDatabase(file, MIGRATIONS.filter((m) => m.version <= 14));
    old.prepare("INSERT INTO hosts (id, name, enrolled_at) VALUES (1, 'hv1', 1000), (2, 'hv2', 1000)").run();
    const insert = old.prepare("INSERT INTO events (seq, event_id, host_id, time, received_at, kind, event) VALUES (?, ?, ?, ?, ?, 'host', ?)");
    insert.run(7, "ev-00000001", 1, 2000, 2001, "connected");
    insert.run(9, "ev-00000002", 2, 2100, 2101, "connected");
    expect(() => insert.run(10, "ev-00000001", 2, 2200, 2201, "back")).toThrow(/UNIQUE/);
    const before = old.prepare("SELECT * FROM events ORDER BY seq").all();
    old.close();

    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT * FROM events ORDER BY seq").all()).toEqual(before);
    const again = db.prepare("INSERT INTO events (event_id, host_id, time, received_at, kind, event) VALUES (?, ?, 2300, 2301, 'host', 'back')");
    expect(again.run("ev-00000001", 2).lastInsertRowid).toBe(10);
    expect(() => again.run("ev-00000001", 1)).toThrow(/UNIQUE constraint failed: events.host_id, events.event_id/);
    const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL").pluck().all() as string[]).sort();
    expect(indexes).toEqual(["events_host_received", "events_host_time", "events_received", "events_time"]);
    db.close();
  });

  it("keeps the event history append-only", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-mig-"));
    const file = path.join(dir, "nightshift.db");
    writeVersion1Database(file);
    const db = openDatabase(file);
    expect(() => db.prepare("DELETE FROM events").run()).toThrow(/append-only/);
    expect(() => db.prepare("UPDATE events SET detail = 'x'").run()).toThrow(/append-only/);
    db.close();
  });
});
