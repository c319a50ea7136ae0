/**
 * The one way probes run host commands (blkid, getent, systemctl,
 * journalctl, getconf): no shell, a deadline, the probe's abort signal, capped
 * output. A non-zero exit is a result; a spawn failure, timeout or abort
 * rejects with NS_ERR_PROBE_COMMAND. A child stuck in the kernel is SIGKILLed
 * and abandoned rather than waited for.
 */
import { spawn } from "node:child_process";
import { NightshiftError } from "../../shared/errors.js";

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; rejects with NS_ERR_PROBE_COMMAND on spawn failure, timeout or abort. */
export interface RunToolOptions {
  signal: AbortSignal;
  timeoutMs: number;
  maxBytes?: number;
  /** The environment (tests put stand-in binaries first on PATH); /usr/sbin and /sbin are appended to PATH. */
  env?: NodeJS.ProcessEnv;
}

export function runTool(file: string, args: string[], options: RunToolOptions): Promise<ToolResult> {
  const maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  const what = [file, ...args].join(" ");
  return new Promise((resolve, reject) => {
    if (options.signal.aborted) {
      reject(new NightshiftError("NS_ERR_PROBE_COMMAND", `${what}: not started, the probe was aborted`));
      return;
    }
    // blkid lives in /usr/sbin, which a non-root PATH on Debian lacks.
    const base = options.env ?? process.env;
    const env = { ...base, LC_ALL: "C", PATH: `${base.PATH ?? "/usr/bin:/bin"}:/usr/sbin:/sbin` };
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener("abort", onAbort);
      fn();
    };
    const abandon = (reason: string) => finish(() => {
      // A process in uninterruptible sleep outlives SIGKILL: stop waiting for it.
      child.kill("SIGKILL");
      child.unref();
      child.stdout.destroy();
      child.stderr.destroy();
      reject(new NightshiftError("NS_ERR_PROBE_COMMAND", `${what}: ${reason}`));
    });
    const onAbort = () => abandon(`stopped: ${options.signal.reason instanceof Error ? options.signal.reason.message : "aborted"}`);
    const timer = setTimeout(() => abandon(`no answer within ${options.timeoutMs} ms`), options.timeoutMs);
    options.signal.addEventListener("abort", onAbort, { once: true });
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) abandon(`more than ${maxBytes} bytes of output`);
      else into.push(chunk);
    };
    child.stdout.on("data", collect(out));
    child.stderr.on("data", collect(err));
    child.on("error", (e) => finish(() => reject(new NightshiftError("NS_ERR_PROBE_COMMAND", `${what}: ${e.message}`, { cause: e }))));
    child.on("close", (code, signal) => finish(() => resolve({
      code: code ?? 128 + (signal ? 9 : 0),
      stdout: Buffer.concat(out).toString("utf8"),
      stderr: Buffer.concat(err).toString("utf8"),
    })));
  });
}
