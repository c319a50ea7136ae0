/** Opens the controller's SQLite database (WAL) and brings its schema up to date. */
import Database from "better-sqlite3";
import path from "node:path";
import { MIGRATIONS, type Migration } from "./migrations.js";
import { NightshiftError } from "../../shared/errors.js";
import { makeDirs } from "../../shared/make-dir.js";

export type Db = Database.Database;

export class StoreError extends NightshiftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NS_ERR_STORE", message, options);
  }
}

export interface OpenOptions {
  /** SQLite's synchronous pragma (default full; see the controller's store.synchronous). */
  synchronous?: "full" | "normal";
}

export function openDatabase(file: string, migrations: readonly Migration[] = MIGRATIONS, options: OpenOptions = {}): Db {
  try {
    makeDirs(path.dirname(file), 0o700);
  } catch (err) {
    throw new StoreError(`cannot create the directory of the database ${file}: ${(err as Error).message}`, { cause: err });
  }
  let db: Db;
  try {
    db = new Database(file);
  } catch (err) {
    throw new StoreError(`cannot open database ${file}: ${(err as Error).message}`, { cause: err });
  }
  db.pragma("journal_mode = WAL");
  // An ack tells the agent it may drop the event from its spool, so an acked
  // commit must survive a power cut: FULL syncs the WAL at every commit. NORMAL
  // survives process crashes only. The group writer (hub/store-writer.ts) makes
  // one commit, so one sync, per event-loop turn, not per event.
  db.pragma(`synchronous = ${(options.synchronous ?? "full").toUpperCase()}`);
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  // The group writer runs each job in a savepoint; SQLite keeps what a savepoint may have to undo in
  // a sub-journal, by default a temp file: in memory, the event path wrote half the bytes per event
  // (controller-load bench, 20 agents: 19 KB/event with a file, 9-10 KB in memory, 10 KB before savepoints).
  db.pragma("temp_store = MEMORY");
  migrate(db, migrations, file);
  return db;
}

export function schemaVersion(db: Db): number {
  const row = db.prepare("SELECT max(version) AS v FROM schema_migrations").get() as { v: number | null } | undefined;
  return row?.v ?? 0;
}

function migrate(db: Db, migrations: readonly Migration[], file: string): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const current = schemaVersion(db);
  const newest = migrations[migrations.length - 1]?.version ?? 0;
  if (current > newest) {
    throw new StoreError(`database ${file} has schema version ${current}, newer than this controller knows (${newest}): ` +
      `upgrade the controller or restore a matching backup`);
  }
  // Foreign keys must be off while a migration rebuilds tables (SQLite's rule).
  db.pragma("foreign_keys = OFF");
  try {
    for (const m of migrations) {
      if (m.version <= current) continue;
      db.transaction(() => {
        db.exec(m.sql);
        const broken = db.pragma("foreign_key_check") as unknown[];
        if (broken.length > 0) throw new StoreError(`migration ${m.version} (${m.name}) left ${broken.length} broken references`);
        db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(m.version, m.name, Date.now());
      })();
    }
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError(`migrating ${file} failed, nothing was changed by the failing step: ${(err as Error).message}`, { cause: err });
  } finally {
    db.pragma("foreign_keys = ON");
  }
}
