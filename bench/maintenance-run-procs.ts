/**
 * The two processes bench/maintenance-run.ts measures: the real controller
 * (dist/controller/cli/main.js, temp data dir, free loopback port) and the
 * real agent (dist/agent/cli/main.js run, on qemu:///system, with a config
 * file listing the guest commands it may run), both at their default log
 * level with their logs kept for error messages. Also the admin API calls.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { memoryStatus } from "./controller-load-proc.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const CONTROLLER_MAIN = path.join(here, "..", "controller", "cli", "main.js");
const AGENT_MAIN = path.join(here, "..", "agent", "cli", "main.js");
const LOG_TAIL_CHARS = 32 * 1024;

/** The caller's environment without the variables that would configure the child. */
function cleanEnv(dropPrefix: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith(dropPrefix) && key !== "NOTIFY_SOCKET") env[key] = value;
  }
  return { ...env, ...extra };
}

export class NodeChild {
  private stderrTail = "";
  private stdoutText = "";
  readonly exited: Promise<void>;

  constructor(readonly name: string, private readonly child: ChildProcess) {
    child.stderr!.setEncoding("utf8").on("data", (c: string) => { this.stderrTail = (this.stderrTail + c).slice(-LOG_TAIL_CHARS); });
    child.stdout!.setEncoding("utf8").on("data", (c: string) => { this.stdoutText = (this.stdoutText + c).slice(-LOG_TAIL_CHARS); });
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get stdout(): string {
    return this.stdoutText;
  }

  /** Why it is no longer running, or null while it is. */
  get gone(): string | null {
    const { exitCode, signalCode } = this.child;
    return exitCode === null && signalCode === null ? null : `${this.name} exited (${signalCode ?? `status ${exitCode}`})`;
  }

  logs(): string {
    return this.stderrTail;
  }

  /** VmHWM, the peak RSS since the process started, in MB; NaN once it has exited. */
  peakRssMB(): number {
    try {
      return memoryStatus(this.pid).peakRssMB;
    } catch {
      return NaN;
    }
  }

  /** SIGTERM, SIGKILL after `graceMs`. Safe to call more than once. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.gone) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => { if (!this.gone) this.child.kill("SIGKILL"); }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface Controller {
  process: NodeChild;
  url: string;
  agentUrl: string;
  adminToken: string;
}

export async function startController(dataDir: string): Promise<Controller> {
  if (!fs.existsSync(CONTROLLER_MAIN)) throw new Error(`${CONTROLLER_MAIN} missing: run npm run build`);
  const child = new NodeChild("controller", spawn(process.execPath,
    [CONTROLLER_MAIN, "--data-dir", dataDir, "--listen", "127.0.0.1:0"],
    { env: cleanEnv("NIGHTSHIFT_CONTROLLER_", {}), stdio: ["ignore", "pipe", "pipe"] }));
  const deadline = Date.now() + 20_000;
  let url: string | undefined;
  while (!(url = /listening on (http:\/\/\S+)/.exec(child.stdout)?.[1])) {
    if (child.gone || Date.now() > deadline) {
      await child.stop();
      throw new Error(`controller did not start (${child.gone ?? "no listening line within 20 s"}):\n${child.logs()}`);
    }
    await sleep(20);
  }
  const adminToken = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
  return { process: child, url, agentUrl: `${url.replace(/^http/, "ws")}/v1/agent`, adminToken };
}

export interface AgentOptions {
  controllerUrl: string;
  host: string;
  tokenFile: string;
  stateDir: string;
  configFile: string;
}

export function startAgent(o: AgentOptions): NodeChild {
  if (!fs.existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} missing: run npm run build`);
  return new NodeChild("agent", spawn(process.execPath,
    [AGENT_MAIN, "run", "--controller", o.controllerUrl, "--token-file", o.tokenFile, "--uri", "qemu:///system",
      "--state-dir", o.stateDir, "--config", o.configFile],
    { env: cleanEnv("NIGHTSHIFT_AGENT_", { NIGHTSHIFT_AGENT_HOST: o.host }), stdio: ["ignore", "pipe", "pipe"] }));
}

/** The admin API; a non-2xx answer is an error carrying the body. */
export async function api<T>(controller: Controller, method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(controller.url + p, {
    method, headers: { Authorization: `Bearer ${controller.adminToken}`, "Content-Type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
