/** The commands of this host (see commands.ts): the real tools, each in a child process under its timeout and the probe's signal. */
import { NightshiftError } from "../../shared/errors.js";
import { commandLine, type HostCommand, type HostCommands } from "./commands.js";
import { defaultMountChecker, type MountChecker } from "./mount-responsiveness.js";
import { runTool, type ToolResult } from "./run-tool.js";

/** `test -e` answers at once unless a hung mount is on the path. */
const EXISTS_TIMEOUT_MS = 2_000;

export interface LiveCommandsOptions {
  /** The commands' environment (tests put stand-in binaries first on PATH); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default: the process's one checker, whose state (children stuck in the kernel) must outlive a probe run. */
  mountChecker?: MountChecker;
}

export function liveCommands(options: LiveCommandsOptions = {}): HostCommands {
  const env = options.env ?? process.env;
  const checker = options.mountChecker ?? defaultMountChecker;
  const answered = new Map<string, Promise<ToolResult>>();

  const spawnTool = (command: HostCommand, signal: AbortSignal): Promise<ToolResult> => runTool(command.file, [...command.args], {
    signal, timeoutMs: command.timeoutMs, env: command.env ? { ...env, ...command.env } : env,
    ...(command.maxBytes === undefined ? {} : { maxBytes: command.maxBytes }),
  });

  return {
    run(command, signal) {
      if (command.needsRoot !== undefined && process.getuid?.() !== 0) {
        return Promise.reject(new NightshiftError("NS_ERR_PROBE_COMMAND", `not running as root, so ${command.needsRoot}`));
      }
      if (!command.once) return spawnTool(command, signal);
      const key = commandLine(command);
      let answer = answered.get(key);
      if (!answer) {
        answer = spawnTool(command, signal);
        answered.set(key, answer);
        // Not an answer to keep: the next probe run asks again.
        answer.catch(() => answered.delete(key));
      }
      return answer;
    },
    async exists(hostPath, signal) {
      // A stat here could pin a libuv thread on a hung mount: a child process asks instead.
      const result = await runTool("test", ["-e", hostPath], { signal, timeoutMs: EXISTS_TIMEOUT_MS, env });
      return result.code === 0;
    },
    checkMounts: (requests, checkOptions, log) => checker.check(requests, checkOptions, log),
    origin: (command) => commandLine(command),
    remedy: (command) => command.remedy ?? `make \`${commandLine(command)}\` work on this host`,
  };
}
