/**
 * The process's open-file limit, read from /proc/self/limits: every
 * connection holds a descriptor, and a controller that runs out of them
 * cannot open its database, accept an agent or answer the API. Node raises
 * the soft limit to the hard one at start, so the soft limit read here is the
 * one in force.
 */
import fs from "node:fs";

/** The soft "Max open files" limit, or null when it cannot be read (not Linux) or is unlimited. */
export function openFileLimit(limitsFile = "/proc/self/limits"): number | null {
  let text: string;
  try {
    text = fs.readFileSync(limitsFile, "utf8");
  } catch {
    return null;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  if (soft === undefined || soft === "unlimited") return null;
  const n = Number(soft);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/**
 * Descriptors kept free of connections: the database and its WAL, the data
 * directory's lock, stdio, outgoing webhooks, sendmail's pipes, /proc reads
 * of the metrics.
 */
export const RESERVED_FDS = 128;

/** The global connection cap: the configured one, else the fd limit less the reserve (at least 16). */
export function connectionCap(configured: number | undefined, fdLimit: number | null): number {
  if (configured !== undefined) return configured;
  if (fdLimit === null) return 65_536;
  return Math.max(16, fdLimit - RESERVED_FDS);
}
