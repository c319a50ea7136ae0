/**
 * `nightshift-agent run` as a real process from dist/, with its JSON log
 * lines collected so tests can wait for what it says.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AGENT_BIN } from "../../../helpers/run.js";

export interface LogLine {
  level: number;
  msg: string;
  code?: string;
  [key: string]: unknown;
}

export interface AgentProcessOptions {
  controller: string;
  tokenFile: string;
  stateDir: string;
  uri?: string;
  /** Extra NIGHTSHIFT_AGENT_* (or other) variables; small intervals for tests. */
  env?: Record<string, string>;
  args?: string[];
  /** A command line to run the agent under (e.g. a sandbox: test/helpers/unit-sandbox.ts); its pid is the agent's once it execs. */
  wrap?: string[];
}

/** Test defaults: fast heartbeats and reconnects. */
export const FAST_ENV: Record<string, string> = {
  NIGHTSHIFT_AGENT_HEARTBEAT: "1s",
  NIGHTSHIFT_AGENT_RECONNECT_INITIAL_DELAY: "100ms",
  NIGHTSHIFT_AGENT_RECONNECT_MAX_DELAY: "1s",
  NIGHTSHIFT_AGENT_LOG_LEVEL: "debug",
};

export class AgentProcess {
  readonly logs: LogLine[] = [];
  /** Non-JSON stderr text (should stay empty). */
  readonly otherOutput: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(options: AgentProcessOptions) {
    const args = [AGENT_BIN, "run", "--controller", options.controller, "--token-file", options.tokenFile,
      "--uri", options.uri ?? "test:///default", "--state-dir", options.stateDir, ...(options.args ?? [])];
    const env = { ...process.env, ...FAST_ENV, ...options.env };
    delete env.NOTIFY_SOCKET;
    if (options.env?.NOTIFY_SOCKET) env.NOTIFY_SOCKET = options.env.NOTIFY_SOCKET;
    const [command, ...argv] = [...(options.wrap ?? []), process.execPath, ...args];
    this.child = spawn(command!, argv, { stdio: ["ignore", "pipe", "pipe"], env });
    let buffer = "";
    this.child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.otherOutput.push(line);
        }
      }
    });
    this.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => this.otherOutput.push(`stdout: ${chunk}`));
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Waits for a log line matching `predicate` (already logged ones count). */
  async waitForLog(predicate: (line: LogLine) => boolean, what: string, timeoutMs = 10_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(predicate);
      if (found) return found;
      if (!this.running) throw new Error(`agent exited (${JSON.stringify(this.exitInfo)}) before logging ${what}; logs:\n${this.dump()}`);
      if (Date.now() > deadline) throw new Error(`agent did not log ${what} within ${timeoutMs} ms; logs:\n${this.dump()}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Waits until libvirt is subscribed: events raised after this reach the agent. */
  waitForLibvirt(): Promise<LogLine> {
    return this.waitForLog((l) => l.msg === "connected to libvirtd and subscribed to domain events", "libvirt subscription");
  }

  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
  async stop(graceMs = 5_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exitInfo!;
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  dump(): string {
    return [...this.logs.map((l) => JSON.stringify(l)), ...this.otherOutput].join("\n");
  }
}

/** A temporary directory with a token file and a state directory, removed by `cleanup()`. */
export function tempAgentDir(token: string): { dir: string; tokenFile: string; stateDir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-agent-"));
  const tokenFile = path.join(dir, "agent.token");
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  return { dir, tokenFile, stateDir: path.join(dir, "state"), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
