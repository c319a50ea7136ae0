/**
 * How probes run host commands and ask what only a child process can answer
 * safely: through the probe context's `commands`, chosen once where the
 * context is made (agent/daemon/run.ts: this host; agent/cli/check.ts: this
 * host, or a host tree with `--root`). A probe describes each command once —
 * how it runs here, where a host tree keeps its recorded answer, what to do
 * when it cannot be answered — and never asks which of the two it talks to.
 *
 *   live-commands.ts      this host: the real tools (run-tool.ts: no shell, a
 *                         timeout, the probe's signal, capped output), mount
 *                         checks in killable children (mount-responsiveness.ts)
 *   recorded-commands.ts  a host tree (test/fixtures/hosts/<case>/, a mounted
 *                         image): recorded output under <tree>/commands/, the
 *                         tree's own files for whether a path exists
 */
import type { Logger } from "../../shared/logging.js";
import type { MountAnswer, MountCheckOptions, MountCheckRequest } from "./mount-responsiveness.js";
import type { ToolResult } from "./run-tool.js";

export type { ToolResult } from "./run-tool.js";

export interface HostCommand {
  file: string;
  args: readonly string[];
  timeoutMs: number;
  maxBytes?: number;
  /** Set over the source's environment (run-tool.ts adds LC_ALL=C and /usr/sbin:/sbin to PATH). */
  env?: Readonly<Record<string, string>>;
  /** Its answer cannot change while the agent runs (`getconf CLK_TCK`): asked once per source. */
  once?: boolean;
  /**
   * Only root gets a true answer from it; the rest of the sentence "not running
   * as root, so ...", e.g. "blkid cannot read the devices". A source not running
   * as root refuses it rather than let the probe judge an empty answer.
   */
  needsRoot?: string;
  /** On this host, what to do when it cannot be run. */
  remedy?: string;
  /** How a host tree keeps its answer; without this, a tree has none and refuses it. */
  recorded?: {
    /** <tree>/commands/<name> holds its stdout. */
    name: string;
    /** The command line to record it with, when not this one (`blkid -o export`). */
    how?: string;
    /** What a tree without that file answers; without this, the command is refused (NS_ERR_PROBE_COMMAND). */
    missing?: ToolResult;
  };
}

export interface HostCommands {
  /**
   * The command's answer. A non-zero exit is an answer; a command that cannot
   * be answered (not started, timed out, aborted, not recorded) rejects with
   * NS_ERR_PROBE_COMMAND.
   */
  run(command: HostCommand, signal: AbortSignal): Promise<ToolResult>;
  /** Whether a host path exists, asked so that a hung mount on its way cannot block the agent. */
  exists(hostPath: string, signal: AbortSignal): Promise<boolean>;
  /** Whether mounts answer statfs and readdir (see mount-responsiveness.ts); never rejects for one mount. */
  checkMounts(requests: readonly MountCheckRequest[], options: MountCheckOptions, log?: Logger): Promise<Map<string, MountAnswer>>;
  /** Where the command's answer comes from, for a probe's detail: its command line, or its recording. */
  origin(command: HostCommand): string;
  /** What to do when the command cannot be answered: its remedy here, or how to record it. */
  remedy(command: HostCommand): string;
}

export function commandLine(command: Pick<HostCommand, "file" | "args">): string {
  return [command.file, ...command.args].join(" ");
}
