/**
 * Whether this agent process can write where a disk-only snapshot needs it to:
 * the directory each overlay is created in (libvirt creates it, but the agent
 * removes it when the snapshot is reverted, merged or discarded) and the image
 * each overlay is merged into by `qemu-img commit` when the VM is off.
 *
 * libvirtd and QEMU write outside the agent's sandbox, so a snapshot can be
 * taken where the agent itself cannot write: under systemd's
 * ProtectSystem=strict every path not in ReadWritePaths= is read-only for the
 * agent (access(2) answers EROFS). A revert found that out only after it had
 * destroyed the VM. So every disk-only operation asks first, and refuses with
 * NS_ERR_STEP_DISK_NOT_WRITABLE before it changes anything.
 */
import { constants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import { StepError } from "./errors.js";

/** What must be writable, and why. */
export interface WriteNeed {
  path: string;
  /** For the message: "the directory of disk vda's overlay". */
  what: string;
  directory: boolean;
}

/** The needs of a disk-only snapshot of these image files: each one's directory (overlay) and the image itself (merge). */
export function diskOnlyNeeds(disks: { target: string; source: string }[]): WriteNeed[] {
  return disks.flatMap((d) => [
    { path: path.dirname(d.source), what: `the directory of disk ${d.target}'s overlay (created there, removed on rollback or delete)`, directory: true },
    { path: d.source, what: `disk ${d.target}'s image (an overlay is merged into it when the VM is off)`, directory: false },
  ]);
}

async function problem(need: WriteNeed): Promise<string | null> {
  try {
    await fs.access(need.path, need.directory ? constants.W_OK | constants.X_OK : constants.W_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    const why = code === "EROFS" ? "read-only file system for this process" : code === "EACCES" || code === "EPERM" ? "permission denied"
      : code === "ENOENT" ? "does not exist" : (err as Error).message;
    return `${need.path}, ${need.what}: ${why} (${code})`;
  }
}

/**
 * Throws NS_ERR_STEP_DISK_NOT_WRITABLE naming every path this process cannot
 * write, and the drop-in that lets the agent's unit write its directories.
 * `action` says what was not done ("no disk-only snapshot was taken").
 */
export async function requireWritable(vm: string, needs: WriteNeed[], action: string): Promise<void> {
  const problems = (await Promise.all(needs.map(problem))).filter((p): p is string => p !== null);
  if (problems.length === 0) return;
  const dirs = [...new Set(needs.map((n) => (n.directory ? n.path : path.dirname(n.path))))];
  throw new StepError(StepErrorCodes.DISK_NOT_WRITABLE, `VM ${vm}: the agent cannot write ${problems.join("; ")}; ${action}. ` +
    "Under systemd the agent's unit (ProtectSystem=strict) makes every path read-only that its ReadWritePaths= does not list: " +
    `add the directory with a drop-in, \`systemctl edit nightshift-agent\` with "[Service]" and "ReadWritePaths=${dirs.join(" ")}", ` +
    "then `systemctl restart nightshift-agent`");
}
