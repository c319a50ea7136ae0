/**
 * Runs an operator's hook script on the hypervisor. Unlike the probes' runTool
 * (which fails a command with too much output and kills only the child), a
 * hook is a shell script that starts its own children (ssh, curl, ...), and
 * its output is evidence: the hook runs in its own process group, the whole
 * group is stopped at the timeout (SIGTERM, SIGKILL 2 s later), and output
 * past 64 KiB per stream is cut, not fatal.
 *
 * The environment is a fixed, small one: the agent's own (which may hold
 * secrets or test overrides) is not handed to scripts.
 */
import { spawn } from "node:child_process";
import os from "node:os";
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import { StepError } from "./errors.js";
import type { ExecOutput } from "./guest-shell.js";
import { CappedBuffer } from "./output-cap.js";

export interface HookRequest {
  path: string;
  vm: string;
  runId: string;
  timeoutMs: number;
}

const KILL_GRACE_MS = 2_000;
/** After the hook exited (or was killed), how long a grandchild may keep its stdout open before we stop reading. */
const DRAIN_MS = 2_000;

export function hookEnvironment(request: HookRequest): NodeJS.ProcessEnv {
  return {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/",
    LANG: "C.UTF-8",
    NIGHTSHIFT_VM: request.vm,
    NIGHTSHIFT_RUN_ID: request.runId,
  };
}

export function runHook(request: HookRequest): Promise<ExecOutput> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const stdout = new CappedBuffer();
    const stderr = new CappedBuffer();
    const child = spawn(request.path, [request.vm], {
      stdio: ["ignore", "pipe", "pipe"], env: hookEnvironment(request), cwd: "/", detached: true,
    });
    let timedOut = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

    const killGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is already gone.
      }
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      child.stdout.destroy();
      child.stderr.destroy();
      const durationMs = performance.now() - started;
      const output: ExecOutput = {
        exitCode: exit?.code ?? null,
        signal: exit?.signal ? os.constants.signals[exit.signal] : null,
        stdout: stdout.text(),
        stderr: stderr.text(),
        truncated: stdout.truncated || stderr.truncated,
        durationMs,
      };
      if (timedOut) {
        const tail = (s: string) => JSON.stringify(s.slice(-2_000));
        reject(new StepError(StepErrorCodes.TIMEOUT, `hook ${request.path} for VM ${request.vm} did not finish within ` +
          `${request.timeoutMs} ms; its process group was killed. Output so far: stdout ${tail(output.stdout)}, stderr ${tail(output.stderr)}`));
      } else {
        resolve(output);
      }
    };

    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (err) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      reject(new StepError(StepErrorCodes.FAILED, `hook ${request.path} for VM ${request.vm} could not be started: ${err.message}`, { cause: err }));
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      // 'close' waits for stdout/stderr to end, which a background grandchild can hold open forever.
      timers.push(setTimeout(finish, DRAIN_MS));
    });
    child.on("close", finish);
    timers.push(setTimeout(() => {
      timedOut = true;
      killGroup("SIGTERM");
      timers.push(setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS));
      // Should the group outlive SIGKILL (a child in uninterruptible sleep), answer anyway.
      timers.push(setTimeout(finish, KILL_GRACE_MS + DRAIN_MS));
    }, request.timeoutMs));
  });
}
