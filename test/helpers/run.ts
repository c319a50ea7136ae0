/** Runs the built binaries as real processes, the way an operator would. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const AGENT_BIN = path.join(REPO_ROOT, "dist/agent/cli/main.js");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runNode(script: string, args: string[], options: { user?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const [cmd, argv] = options.user
    ? ["runuser", ["-u", options.user, "--", process.execPath, script, ...args]]
    : [process.execPath, [script, ...args]];
  return new Promise((resolve) => {
    execFile(cmd, argv, { env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function spawnNode(script: string, args: string[]): ChildProcess {
  return spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}
