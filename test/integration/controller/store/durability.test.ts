/**
 * An ack lets the agent drop an event from its spool, so what the controller
 * acked must survive a power cut: the database runs with synchronous=FULL
 * unless the operator chose `store.synchronous: normal`.
 */
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openDatabase } from "../../../../controller/store/db.js";
import { ControllerConfigSchema } from "../../../../controller/config.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function dbFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-durability-"));
  dirs.push(dir);
  return path.join(dir, "nightshift.db");
}

// SQLite's numbers for PRAGMA synchronous.
const FULL = 2;
const NORMAL = 1;

describe("store durability", () => {
  it("commits are synced to disk (synchronous=FULL) by default, in WAL mode", () => {
    const db = openDatabase(dbFile());
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(FULL);
    db.close();
  });

  it("store.synchronous: normal is taken as asked", () => {
    const db = openDatabase(dbFile(), undefined, { synchronous: "normal" });
    expect(db.pragma("synchronous", { simple: true })).toBe(NORMAL);
    db.close();
  });

  it("the controller's config defaults to full and refuses other values", () => {
    expect(ControllerConfigSchema.parse({}).store.synchronous).toBe("full");
    expect(ControllerConfigSchema.safeParse({ store: { synchronous: "off" } }).success).toBe(false);
  });
});
