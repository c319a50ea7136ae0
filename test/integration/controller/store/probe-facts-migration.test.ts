/**
 * Migration 10 on a real SQLite file: the mounts and host_health rows a
 * version 9 controller stored become the mounts and systemd facts in
 * probe_facts, and /metrics shows the same gauges from them as before.
 */
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { openDatabase } from "../../../../controller/store/db.js";
import { MIGRATIONS } from "../../../../controller/store/migrations.js";
import { startController } from "../../../../controller/server.js";
import { ControllerConfigSchema } from "../../../../controller/config.js";

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeVersion9Database(file: string): void {
  const db = openDatabase(file, MIGRATIONS.filter((m) => m.version <= 9));
  db.prepare("INSERT INTO hosts (id, name, enrolled_at) VALUES (1, 'hv1', 1000), (2, 'hv2', 1000), (3, 'hv3', 1000)").run();
  const mount = db.prepare(`INSERT INTO mounts (host_id, mount_point, fstype, source, state, in_fstab, network, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
  mount.run(1, "/srv/nas", "nfs4", "nas01:/vmstore", "hung", 1, 1, 5000);
  mount.run(1, "/", "ext4", "/dev/vda1", "up", 1, 0, 5000);
  mount.run(2, "/mnt/cifs", "cifs", "//fs/share", "up", 0, 1, 6000);
  const health = db.prepare(`INSERT INTO host_health (host_id, reported_at, systemd_state, failed_units, previous_boot_emergency)
    VALUES (?, ?, ?, ?, ?)`);
  health.run(1, 5000, "degraded", '["srv-nas.mount"]', 1);
  health.run(2, 6000, "running", "[]", null);
  // A report without the systemd fact.
  health.run(3, 7000, null, "[]", null);
  db.close();
}

describe("migration 10: probe facts", () => {
  it("moves mounts and host_health into probe_facts as the facts they were, and drops both tables", () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-mig-facts-"));
    const file = path.join(dir, "nightshift.db");
    writeVersion9Database(file);
    const db = openDatabase(file);
    const rows = (db.prepare("SELECT host_id, probe, fact, reported_at FROM probe_facts ORDER BY host_id, probe").all() as
      { host_id: number; probe: string; fact: string; reported_at: number }[]).map((r) => ({ ...r, fact: JSON.parse(r.fact) as unknown }));
    expect(rows).toEqual([
      { host_id: 1, probe: "mounts", reported_at: 5000, fact: [
        { mountPoint: "/", fstype: "ext4", source: "/dev/vda1", state: "up", inFstab: true, network: false },
        { mountPoint: "/srv/nas", fstype: "nfs4", source: "nas01:/vmstore", state: "hung", inFstab: true, network: true },
      ] },
      { host_id: 1, probe: "systemd", reported_at: 5000, fact: { state: "degraded", failedUnits: ["srv-nas.mount"], previousBootEmergency: true } },
      { host_id: 2, probe: "mounts", reported_at: 6000, fact: [
        { mountPoint: "/mnt/cifs", fstype: "cifs", source: "//fs/share", state: "up", inFstab: false, network: true },
      ] },
      { host_id: 2, probe: "systemd", reported_at: 6000, fact: { state: "running", failedUnits: [], previousBootEmergency: null } },
    ]);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    expect(tables).toContain("probe_facts");
    expect(tables).not.toContain("mounts");
    expect(tables).not.toContain("host_health");
    db.close();
  });

  it("exports the same gauges from the moved facts", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-mig-facts-"));
    writeVersion9Database(path.join(dir, "nightshift.db"));
    const controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir: dir }), pino({ level: "silent" }));
    try {
      const text = await (await fetch(`${controller.url}/metrics`)).text();
      expect(text).toMatch(/^nightshift_mount_hung\{host="hv1",mount_point="\/srv\/nas"\} 1$/m);
      expect(text).toMatch(/^nightshift_mount_up\{host="hv1",mount_point="\/",fstype="ext4"\} 1$/m);
      expect(text).toMatch(/^nightshift_mount_state\{host="hv2",mount_point="\/mnt\/cifs",state="up"\} 1$/m);
      expect(text).toMatch(/^nightshift_systemd_state\{host="hv1",state="degraded"\} 1$/m);
      expect(text).toMatch(/^nightshift_previous_boot_emergency\{host="hv1"\} 1$/m);
      expect(text).not.toMatch(/^nightshift_previous_boot_emergency\{host="hv2"\}/m);
      // hv3's last report had no systemd fact: no fact gauge for it.
      expect(text).not.toMatch(/^nightshift_(mount_[a-z]+|systemd_state|previous_boot_emergency)\{host="hv3"/m);
    } finally {
      await controller.close();
    }
  });
});
