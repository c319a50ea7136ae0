/**
 * One controller per data directory. Two on one database would run two plan
 * executors, two retention jobs and two run resumers over the same rows.
 *
 * The lock is an SQLite database of its own (`controller.lock`) held in
 * exclusive locking mode: SQLite takes an fcntl lock that the kernel drops
 * when the process dies, so a SIGKILLed controller leaves no stale lock, and
 * it also conflicts within one process. The holder's pid is written beside it
 * (`controller.pid`) so that a refused start can say who holds it.
 */
import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { NightshiftError, errorMessage } from "../shared/errors.js";

export const LOCK_FILE = "controller.lock";
export const PID_FILE = "controller.pid";

export class DataDirLockedError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_DATA_DIR_LOCKED", message);
  }
}

export interface DataDirLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  const lockFile = path.join(dataDir, LOCK_FILE);
  const pidFile = path.join(dataDir, PID_FILE);
  let db: Database.Database;
  try {
    db = new Database(lockFile, { timeout: 0 });
  } catch (err) {
    throw new NightshiftError("NS_ERR_STORE", `cannot open the lock file ${lockFile}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    // A write transaction takes the exclusive lock; in exclusive locking mode it is kept after COMMIT.
    db.exec("BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS lock (x); COMMIT;");
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === "SQLITE_BUSY") {
      const holder = readPid(pidFile);
      throw new DataDirLockedError(`the data directory ${dataDir} is in use by another controller` +
        `${holder ? ` (pid ${holder})` : ""}: stop it first, or give this one its own --data-dir`);
    }
    throw new NightshiftError("NS_ERR_STORE", `cannot lock the data directory ${dataDir}: ${errorMessage(err)}`, { cause: err });
  }
  fs.writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  return {
    release() {
      if (!db.open) return;
      try {
        if (readPid(pidFile) === process.pid) fs.rmSync(pidFile, { force: true });
      } finally {
        db.close();
      }
    },
  };
}

function readPid(file: string): number | null {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
