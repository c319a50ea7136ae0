/**
 * The two child processes of bench/controller-load.ts: the real controller
 * (dist/controller/cli/main.js on a temp data dir and a free loopback port)
 * and the simulated fleet (dist/bench/load-agents.js, stepped over IPC).
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AgentsMessage, DriverMessage } from "./controller-load-ipc.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const CONTROLLER_MAIN = path.join(here, "..", "controller", "cli", "main.js");
const AGENTS_MAIN = path.join(here, "load-agents.js");

export interface ControllerLogs {
  warnings: number;
  errors: number;
  /** The first lines at warn level or above, for the report. */
  sample: string[];
}

export class ControllerProcess {
  readonly logs: ControllerLogs = { warnings: 0, errors: 0, sample: [] };
  private exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess, readonly url: string, readonly adminToken: string) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once("exit", (code) => resolve(code));
    });
    let rest = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) this.log(line);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Why the controller is no longer running, or null while it is. */
  get gone(): string | null {
    const { exitCode, signalCode } = this.child;
    return exitCode === null && signalCode === null ? null : `the controller exited (${signalCode ?? `status ${exitCode}`})`;
  }

  private log(line: string): void {
    if (!line.trim()) return;
    let level = 50;
    try {
      level = (JSON.parse(line) as { level?: number }).level ?? 50;
    } catch {
      // Not pino JSON: a crash trace or the like, count it as an error.
    }
    if (level >= 50) this.logs.errors++;
    else if (level >= 40) this.logs.warnings++;
    else return;
    if (this.logs.sample.length < 10) this.logs.sample.push(line.slice(0, 400));
  }

  /** Starts the controller at warn level (info lines for 1,000 agents would be a benchmark of pino). */
  static async start(dataDir: string, cpuProfDir: string | null): Promise<ControllerProcess> {
    const nodeArgs = cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [];
    const child = spawn(process.execPath, [...nodeArgs, CONTROLLER_MAIN, "--data-dir", dataDir, "--listen", "127.0.0.1:0"], {
      env: { ...process.env, NIGHTSHIFT_CONTROLLER_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      let err = "";
      const timer = setTimeout(() => reject(new Error(`controller did not start within 20 s: ${err || out}`)), 20_000);
      child.stderr!.setEncoding("utf8").on("data", (c: string) => { err += c; });
      child.stdout!.setEncoding("utf8").on("data", (c: string) => {
        out += c;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`controller exited with ${code} before listening: ${err || out}`));
      });
    });
    child.stderr!.removeAllListeners("data");
    child.stdout!.removeAllListeners("data");
    child.stdout!.resume();
    const adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
    return new ControllerProcess(child, url, adminToken);
  }

  async api<T>(method: string, p: string, body?: unknown): Promise<T> {
    const res = await fetch(this.url + p, {
      method, headers: { Authorization: `Bearer ${this.adminToken}`, "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as T;
    if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  /** SIGTERM (a graceful stop writes the CPU profile), SIGKILL after 15 s. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

type Of<T extends AgentsMessage["type"]> = Extract<AgentsMessage, { type: T }>;

export class AgentsProcess {
  readonly failures: string[] = [];
  private readonly inbox: AgentsMessage[] = [];
  private wake: (() => void) | null = null;
  private exitCode: number | null = null;
  /** Called as window-start/window-end arrive, so the driver marks CPU at the window's edges. */
  onWindowEdge: ((edge: "window-start" | "window-end", at: number) => void) | null = null;

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: AgentsMessage) => {
      if (m.type === "failure") {
        this.failures.push(m.message);
        return;
      }
      if (m.type === "window-start" || m.type === "window-end") {
        try {
          this.onWindowEdge?.(m.type, m.at);
        } catch (err) {
          this.failures.push(`driver at ${m.type}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      this.inbox.push(m);
      this.wake?.();
    });
    child.on("exit", (code, signal) => {
      this.exitCode = code ?? -1;
      if (code !== 0) this.failures.push(`agents process exited with ${code ?? signal}`);
      this.wake?.();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  static start(): AgentsProcess {
    return new AgentsProcess(fork(AGENTS_MAIN, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  }

  send(message: DriverMessage): void {
    this.child.send(message);
  }

  /** Waits for a message; `gone` names a reason to stop waiting early (the controller died). */
  async next<T extends AgentsMessage["type"]>(type: T, timeoutMs: number, gone: () => string | null = () => null): Promise<Of<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Of<T>;
      if (this.exitCode !== null) throw new Error(`agents process exited while the driver waited for '${type}'`);
      const reason = gone();
      if (reason) {
        throw new Error(`${reason} while the driver waited for '${type}'` +
          (this.failures.length ? `; agents saw: ${this.failures.slice(0, 3).join(" | ")}` : ""));
      }
      if (Date.now() > deadline) {
        throw new Error(`no '${type}' from the agents process within ${timeoutMs / 1000} s` +
          (this.failures.length ? `; failures: ${this.failures.slice(0, 3).join(" | ")}` : ""));
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}
