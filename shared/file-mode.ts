/**
 * Token files must be readable by their owner only. A file others can read
 * (0644 after a careless `echo > file`) is a token anyone on the machine may
 * already have copied: the controller refuses its admin token in that state,
 * the agent and the CLI say so and go on (their tokens are the operator's).
 */
import fs from "node:fs";

/** The permission bits of `file` when group or others may read or write it; null when only its owner may (or it is missing). */
export function exposedMode(file: string): number | null {
  let mode: number;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch {
    return null;
  }
  return (mode & 0o077) !== 0 ? mode : null;
}

/** The operator's sentence for an exposed token file. */
export function exposedTokenFileWarning(file: string, mode: number): string {
  return `the token file ${file} is readable or writable by others (mode ${mode.toString(8).padStart(4, "0")}): ` +
    `run \`chmod 600 ${file}\`; the token may have been read, consider issuing a new one`;
}
