/**
 * The commands of a host tree (see commands.ts): a fixture under
 * test/fixtures/hosts/<case>/ or a mounted image, examined with
 * `nightshift-agent check --root DIR`. Nothing is run:
 *
 * - a command's answer is its recorded stdout, <tree>/commands/<name> (exit
 *   status 0); a command without a recording answers as it says it does
 *   (HostCommand.recorded.missing), or is refused
 * - whether a path exists is the tree's own answer (nothing in it can hang)
 * - mount checks are the JSON object in <tree>/commands/mount-responsiveness:
 *   mount point -> "up", "hung", "empty" or "error: <message>"; a mount it does
 *   not list is up and not empty
 */
import fs from "node:fs/promises";
import { NightshiftError, errorMessage } from "../../shared/errors.js";
import { commandLine, type HostCommand, type HostCommands } from "./commands.js";
import type { HostRoot } from "./host-root.js";
import type { MountAnswer } from "./mount-responsiveness.js";

export const MOUNT_ANSWERS_RECORDING = "mount-responsiveness";

function recordedAnswer(value: unknown): MountAnswer {
  if (value === "hung") return { state: "hung", reason: "timeout", pid: null, since: new Date(0), detail: "recorded as hung" };
  if (value === "empty") return { state: "up", empty: true, elapsedMs: 0 };
  if (typeof value === "string" && value.startsWith("error:")) return { state: "error", error: value.slice(6).trim(), elapsedMs: 0 };
  return { state: "up", empty: false, elapsedMs: 0 };
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

export function recordedCommands(tree: HostRoot): HostCommands {
  const recording = (name: string) => tree.path(`/commands/${name}`);

  return {
    async run(command: HostCommand, signal: AbortSignal) {
      signal.throwIfAborted();
      if (!command.recorded) {
        throw new NightshiftError("NS_ERR_PROBE_COMMAND", `${commandLine(command)}: a host tree records no answer for it`);
      }
      const file = recording(command.recorded.name);
      let text: string | null;
      try {
        text = await readOptional(file);
      } catch (err) {
        throw new NightshiftError("NS_ERR_PROBE_COMMAND", `no recorded ${command.file} output at ${file}: ${errorMessage(err)}`, { cause: err });
      }
      if (text !== null) return { code: 0, stdout: text, stderr: "" };
      if (command.recorded.missing) return command.recorded.missing;
      throw new NightshiftError("NS_ERR_PROBE_COMMAND", `no recorded ${command.file} output at ${file}`);
    },
    async exists(hostPath) {
      try {
        await fs.stat(tree.path(hostPath));
        return true;
      } catch {
        return false;
      }
    },
    async checkMounts(requests) {
      const text = await readOptional(recording(MOUNT_ANSWERS_RECORDING));
      const answers = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      return new Map(requests.map((r) => [r.mountPoint, recordedAnswer(answers[r.mountPoint])]));
    },
    origin: (command) => (command.recorded ? recording(command.recorded.name) : commandLine(command)),
    remedy: (command) => (command.recorded
      ? `record \`${command.recorded.how ?? commandLine(command)}\` into ${recording(command.recorded.name)}`
      : `examine the host itself: \`${commandLine(command)}\` has no recording in a host tree`),
  };
}
