/**
 * `/bin/sh -c COMMAND` in a guest through qemu-ga, with the result in the
 * protocol's exec shape (each stream capped at 64 KiB, its beginning kept). A
 * non-zero exit is a result, not an error: the controller decides what an exit
 * code means. A command still running at its timeout is NS_ERR_STEP_TIMEOUT.
 *
 * The output is cut inside the guest, not here: qemu-ga hands a finished
 * command's whole output (up to 16 MiB per stream) base64-encoded in one
 * reply, and libvirt refuses a guest agent reply above 10 MiB ("No complete
 * agent response found in 10485760 bytes") and marks the VM's agent broken
 * after it. A patch that printed 20 MB would fail, and be rolled back, for
 * its output alone. See CAPPED_SHELL for how.
 */
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import type { StepResultOf } from "../../shared/protocol/steps.js";
import type { LibvirtConnection } from "../libvirt/connection.js";
import { GuestExecTimeoutError } from "../libvirt/errors.js";
import { GuestAgent } from "../libvirt/guest-agent.js";
import type { DomainRef } from "../libvirt/remote-types.js";
import { StepError } from "./errors.js";
import { MAX_STREAM_BYTES, capText } from "./output-cap.js";

export type ExecOutput = StepResultOf<"guest-exec">;

/**
 * A POSIX sh script that runs `/bin/sh -c "$2"` with its stdout and stderr
 * each through `head -c "$1"`, and exits with the command's exit status.
 *
 * - Each cap reads on with `cat >/dev/null` after head is done, so the
 *   command never sees a closed pipe (SIGPIPE would kill a patch halfway).
 * - sh has no pipefail: the command's status goes out on fd 7, which is the
 *   command substitution's pipe; the command itself gets none of the extra
 *   descriptors (3-5, 7), so a daemon it starts cannot hold them open.
 * - Only head and cat are needed (coreutils and busybox alike); head reading
 *   ahead does not matter, since what follows it is thrown away.
 * - A command killed by signal N is reported as exit 128+N, as shells do.
 */
export const CAPPED_SHELL = [
  'n=$1',
  'cap() { head -c "$n"; cat >/dev/null; }',
  'exec 3>&1 4>&2',
  'r=$( { { { /bin/sh -c "$2" 3>&- 4>&- 5>&- 7>&-; echo $? >&7; } 2>&1 1>&5 | cap >&4 5>&- 7>&-; } 5>&1 | cap >&3 7>&-; } 7>&1 )',
  'case $r in ""|*[!0-9]*) echo "nightshift: no exit status from the command" >&2; exit 125;; esac',
  'exit "$r"',
].join("\n");

/** argv of CAPPED_SHELL for `command`: one byte more than the agent keeps, so it can tell a cut stream from a whole one. */
export function cappedShellArgs(command: string, maxBytes = MAX_STREAM_BYTES): string[] {
  return ["-c", CAPPED_SHELL, "nightshift-exec", String(maxBytes + 1), command];
}

export async function runGuestShell(conn: LibvirtConnection, dom: DomainRef, command: string, timeoutMs: number): Promise<ExecOutput> {
  const agent = new GuestAgent(conn, dom);
  try {
    const result = await agent.exec({ path: "/bin/sh", args: cappedShellArgs(command), timeoutMs });
    const stdout = capText(result.stdout);
    const stderr = capText(result.stderr);
    return {
      exitCode: result.exitCode,
      signal: result.signal,
      stdout: stdout.text,
      stderr: stderr.text,
      truncated: stdout.truncated || stderr.truncated || result.stdoutTruncated || result.stderrTruncated,
      durationMs: result.durationMs,
    };
  } catch (err) {
    if (err instanceof GuestExecTimeoutError) {
      // qemu-ga hands out output only once the process has exited, so there is none to report yet.
      throw new StepError(StepErrorCodes.TIMEOUT, `VM ${dom.name}: guest command \`${command}\` did not finish within ${timeoutMs} ms ` +
        `(guest pid ${err.pid}, may still be running in the guest; no output is available before it exits)`, { cause: err });
    }
    throw err;
  }
}
