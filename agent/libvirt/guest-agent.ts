/**
 * Helpers over the QEMU guest agent (qemu-ga), reached through libvirt's
 * qemuAgentCommand. Command names and reply shapes are those of qemu-ga's
 * QAPI schema (qga/qapi-schema.json).
 */
import type { LibvirtConnection } from "./connection.js";
import type { DomainRef } from "./remote-types.js";
import { GuestAgentError, GuestExecTimeoutError, LibvirtProtocolError } from "./errors.js";
import { setTimeout as sleep } from "node:timers/promises";

export interface GuestExecRequest {
  path: string;
  args?: string[];
  env?: string[];
  /** Written to the process's stdin. */
  input?: string;
  /** Wall-clock limit for the whole command, polling included. Default 60 s. */
  timeoutMs?: number;
}

export interface GuestExecResult {
  pid: number;
  exitCode: number | null;
  signal: number | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
}

export interface GuestUser {
  user: string;
  domain?: string;
  loginTime: Date;
}

export interface GuestOsInfo {
  id?: string;
  name?: string;
  prettyName?: string;
  version?: string;
  versionId?: string;
  kernelRelease?: string;
  kernelVersion?: string;
  machine?: string;
}

export interface GuestNetworkInterface {
  name: string;
  hardwareAddress?: string;
  addresses: { type: "ipv4" | "ipv6"; address: string; prefix: number }[];
}

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  "out-data"?: string;
  "err-data"?: string;
  "out-truncated"?: boolean;
  "err-truncated"?: boolean;
}

export class GuestAgent {
  constructor(
    private readonly conn: LibvirtConnection,
    private readonly domain: DomainRef,
    /** How long libvirt waits for each single agent reply. */
    private readonly replyTimeoutSeconds = 10,
  ) {}

  /** Runs one agent command and returns its `return` member. */
  async command<T = unknown>(execute: string, args?: Record<string, unknown>): Promise<T> {
    const request = JSON.stringify(args === undefined ? { execute } : { execute, arguments: args });
    const text = await this.conn.qemuAgentCommand(this.domain, request, this.replyTimeoutSeconds);
    if (text === null) throw new LibvirtProtocolError(`guest agent ${execute}: empty reply`);
    let reply: { return?: T; error?: { class?: string; desc?: string } };
    try {
      reply = JSON.parse(text) as typeof reply;
    } catch {
      throw new LibvirtProtocolError(`guest agent ${execute}: reply is not JSON: ${text.slice(0, 200)}`);
    }
    if (reply.error) throw new GuestAgentError(execute, reply.error.class ?? "GenericError", reply.error.desc ?? "no description");
    if (!("return" in reply)) throw new LibvirtProtocolError(`guest agent ${execute}: reply has no return member`);
    return reply.return as T;
  }

  /** Resolves when the agent answers; rejects (agent unresponsive, domain not running, ...) otherwise. */
  async ping(): Promise<void> {
    await this.command("guest-ping");
  }

  /** Starts a process in the guest, waits for it and returns its captured output. */
  async exec(request: GuestExecRequest): Promise<GuestExecResult> {
    const timeoutMs = request.timeoutMs ?? 60_000;
    const started = Date.now();
    const args: Record<string, unknown> = { path: request.path, "capture-output": true };
    if (request.args) args.arg = request.args;
    if (request.env) args.env = request.env;
    if (request.input !== undefined) args["input-data"] = Buffer.from(request.input).toString("base64");
    const { pid } = await this.command<{ pid: number }>("guest-exec", args);
    // Short commands finish in milliseconds; back off for long ones so a
    // 10-minute patch run costs a few hundred polls, not thousands.
    let delay = 20;
    for (;;) {
      const status = await this.command<ExecStatus>("guest-exec-status", { pid });
      if (status.exited) {
        return {
          pid,
          exitCode: status.exitcode ?? null,
          signal: status.signal ?? null,
          stdout: decodeBase64(status["out-data"]),
          stderr: decodeBase64(status["err-data"]),
          stdoutTruncated: status["out-truncated"] ?? false,
          stderrTruncated: status["err-truncated"] ?? false,
          durationMs: Date.now() - started,
        };
      }
      const left = timeoutMs - (Date.now() - started);
      if (left <= 0) throw new GuestExecTimeoutError(pid, timeoutMs, request.path);
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, 1_000);
    }
  }

  async getUsers(): Promise<GuestUser[]> {
    const users = await this.command<{ user: string; domain?: string; "login-time": number }[]>("guest-get-users");
    return users.map((u) => ({
      user: u.user,
      ...(u.domain !== undefined ? { domain: u.domain } : {}),
      loginTime: new Date(u["login-time"] * 1000),
    }));
  }

  async getOsInfo(): Promise<GuestOsInfo> {
    const info = await this.command<Record<string, string>>("guest-get-osinfo");
    const out: GuestOsInfo = {};
    const fields: [keyof GuestOsInfo, string][] = [
      ["id", "id"], ["name", "name"], ["prettyName", "pretty-name"], ["version", "version"], ["versionId", "version-id"],
      ["kernelRelease", "kernel-release"], ["kernelVersion", "kernel-version"], ["machine", "machine"],
    ];
    for (const [ours, theirs] of fields) if (info[theirs] !== undefined) out[ours] = info[theirs];
    return out;
  }

  async getNetworkInterfaces(): Promise<GuestNetworkInterface[]> {
    const ifaces = await this.command<{
      name: string;
      "hardware-address"?: string;
      "ip-addresses"?: { "ip-address-type": "ipv4" | "ipv6"; "ip-address": string; prefix: number }[];
    }[]>("guest-network-get-interfaces");
    return ifaces.map((i) => ({
      name: i.name,
      ...(i["hardware-address"] !== undefined ? { hardwareAddress: i["hardware-address"] } : {}),
      addresses: (i["ip-addresses"] ?? []).map((a) => ({ type: a["ip-address-type"], address: a["ip-address"], prefix: a.prefix })),
    }));
  }
}

function decodeBase64(data: string | undefined): string {
  return data ? Buffer.from(data, "base64").toString("utf8") : "";
}
