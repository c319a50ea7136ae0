/**
 * `/bin/sh -c COMMAND` in a guest through qemu-ga, with the result in the
 * protocol's exec shape (each stream capped at 64 KiB). A non-zero exit is a
 * result, not an error: the controller decides what an exit code means. A
 * command still running at its timeout is NS_ERR_STEP_TIMEOUT.
 */
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import type { StepResultOf } from "../../shared/protocol/steps.js";
import type { LibvirtConnection } from "../libvirt/connection.js";
import { GuestExecTimeoutError } from "../libvirt/errors.js";
import { GuestAgent } from "../libvirt/guest-agent.js";
import type { DomainRef } from "../libvirt/remote-types.js";
import { StepError } from "./errors.js";
import { capText } from "./output-cap.js";

export type ExecOutput = StepResultOf<"guest-exec">;

export async function runGuestShell(conn: LibvirtConnection, dom: DomainRef, command: string, timeoutMs: number): Promise<ExecOutput> {
  const agent = new GuestAgent(conn, dom);
  try {
    const result = await agent.exec({ path: "/bin/sh", args: ["-c", command], timeoutMs });
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
