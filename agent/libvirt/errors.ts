/**
 * Errors of the libvirt client. A LibvirtError is what the daemon answered
 * (libvirt's own code, domain and message); the others are about reaching the
 * daemon at all, and say what the operator can do about it.
 */
import { NightshiftError } from "../../shared/errors.js";
import { XdrReader } from "./xdr.js";
import { ErrorCode, ErrorDomain } from "./protocol.js";

export interface LibvirtErrorDetails {
  code: number;
  domain: number;
  message: string;
  level: number;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
}

export class LibvirtError extends NightshiftError {
  readonly libvirtCode: number;
  readonly libvirtDomain: number;
  readonly level: number;
  readonly details: LibvirtErrorDetails;

  constructor(details: LibvirtErrorDetails, procedure?: string) {
    const codeName = ErrorCode[details.code] ?? `code ${details.code}`;
    const where = procedure ? ` (${procedure})` : "";
    super("NS_ERR_LIBVIRT", `libvirt: ${details.message} [${codeName}]${where}`);
    this.libvirtCode = details.code;
    this.libvirtDomain = details.domain;
    this.level = details.level;
    this.details = details;
  }

  get codeName(): string {
    return ErrorCode[this.libvirtCode] ?? String(this.libvirtCode);
  }

  get domainName(): string {
    return ErrorDomain[this.libvirtDomain] ?? String(this.libvirtDomain);
  }
}

/** The connection to the daemon ended while calls were pending, or a call was made after it ended. */
export class ConnectionInterruptedError extends NightshiftError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super("NS_ERR_LIBVIRT_INTERRUPTED", `libvirt connection interrupted: ${reason}`, options);
  }
}

/** The daemon could not be reached or refused us before any API call. */
export class LibvirtConnectError extends NightshiftError {
  readonly socketPath: string;

  constructor(code: "NS_ERR_LIBVIRT_SOCKET_MISSING" | "NS_ERR_LIBVIRT_ACCESS_DENIED" | "NS_ERR_LIBVIRT_UNREACHABLE",
    socketPath: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.socketPath = socketPath;
  }
}

/** The daemon sent something this client cannot make sense of. */
export class LibvirtProtocolError extends NightshiftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NS_ERR_LIBVIRT_PROTOCOL", `libvirt protocol error: ${message}`, options);
  }
}

/** A guest-agent command answered, but with an error from inside the guest. */
export class GuestAgentError extends NightshiftError {
  readonly agentErrorClass: string;

  constructor(command: string, agentErrorClass: string, description: string) {
    super("NS_ERR_GUEST_AGENT", `guest agent ${command} failed: ${description} [${agentErrorClass}]`);
    this.agentErrorClass = agentErrorClass;
  }
}

/** guest-exec ran longer than its timeout; the guest process may still run. */
export class GuestExecTimeoutError extends NightshiftError {
  readonly pid: number;

  constructor(pid: number, timeoutMs: number, path: string) {
    super("NS_ERR_GUEST_EXEC_TIMEOUT", `guest command ${path} (pid ${pid}) did not finish within ${timeoutMs} ms`);
    this.pid = pid;
  }
}

export function decodeLibvirtErrorBody(body: Buffer): LibvirtErrorDetails {
  const r = new XdrReader(body);
  const code = r.int();
  const domain = r.int();
  const message = r.optional((x) => x.string()) ?? "unknown error";
  const level = r.int();
  // `dom` is unused by the daemon but still on the wire.
  r.optional((x) => {
    x.string();
    x.fixedOpaque(16);
    x.int();
  });
  const str1 = r.optional((x) => x.string());
  const str2 = r.optional((x) => x.string());
  const str3 = r.optional((x) => x.string());
  const int1 = r.int();
  const int2 = r.int();
  // `net`, also unused.
  r.optional((x) => {
    x.string();
    x.fixedOpaque(16);
  });
  return { code, domain, message, level, str1, str2, str3, int1, int2 };
}

export function isLibvirtError(err: unknown, code?: ErrorCode): err is LibvirtError {
  return err instanceof LibvirtError && (code === undefined || err.libvirtCode === code);
}

export function isNotFound(err: unknown): boolean {
  return (
    err instanceof LibvirtError &&
    (err.libvirtCode === ErrorCode.VIR_ERR_NO_DOMAIN || err.libvirtCode === ErrorCode.VIR_ERR_NO_DOMAIN_SNAPSHOT)
  );
}

export function isAgentUnresponsive(err: unknown): boolean {
  return err instanceof LibvirtError && err.libvirtCode === ErrorCode.VIR_ERR_AGENT_UNRESPONSIVE;
}
