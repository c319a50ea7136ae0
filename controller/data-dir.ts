/**
 * The controller's data directory holds the database (token hashes, the whole
 * history) and admin.token. Whatever the directory looked like before the
 * first start (an operator's `mkdir` gives 0755), only the controller's user
 * may read what is in it: the directory is made 0700 and the database files
 * 0600. A token file readable by others is refused rather than fixed: the
 * token may already have been read, so the operator must decide (rotate it).
 */
import fs from "node:fs";
import type { Logger } from "../shared/logging.js";
import { NightshiftError, errorMessage } from "../shared/errors.js";
import { makeDirs } from "../shared/make-dir.js";
import { exposedMode } from "../shared/file-mode.js";

/** A file or directory whose permissions let others read a secret. */
export class FileModeError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_FILE_MODE", message);
  }
}

const OTHERS = 0o077;

/** Creates the data directory, or tightens an existing one to 0700. */
export function secureDataDir(dataDir: string, log: Logger): void {
  try {
    makeDirs(dataDir, 0o700);
    const mode = fs.statSync(dataDir).mode & 0o777;
    if ((mode & OTHERS) !== 0) {
      fs.chmodSync(dataDir, 0o700);
      log.warn({ dataDir, was: mode.toString(8) }, `the data directory ${dataDir} was readable by others (mode ${mode.toString(8)}); it is now 0700`);
    }
  } catch (err) {
    throw new NightshiftError("NS_ERR_STORE", `cannot create or secure the data directory ${dataDir}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Makes the database and its WAL files 0600 (SQLite creates them with the umask's mode). */
export function secureDatabaseFiles(dbFile: string): void {
  for (const file of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) {
    try {
      if ((fs.statSync(file).mode & OTHERS) !== 0) fs.chmodSync(file, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

/** Refuses a secret file that others can read or write. */
export function checkSecretFileMode(file: string, what: string): void {
  const mode = exposedMode(file);
  if (mode !== null) {
    throw new FileModeError(`${what} ${file} is readable or writable by others (mode ${mode.toString(8)}): ` +
      `the token may have been read; run \`chmod 600 ${file}\` (and consider removing it so a new one is made)`);
  }
}
