/**
 * Errors of the agent daemon. Each code is stable; the message says what the
 * operator can do. Libvirt's own errors stay in agent/libvirt/errors.ts.
 */
import { NightshiftError, type ErrorCode } from "../../shared/errors.js";

/** The daemon's codes; what each means and what the operator does: shared/error-codes.ts (docs/errors.md). */
export type DaemonErrorCode = Extract<ErrorCode,
  | "NS_ERR_AGENT_TOKEN" | "NS_ERR_AGENT_STATE_DIR" | "NS_ERR_SPOOL_IO" | "NS_ERR_SPOOL_OVERFLOW" | "NS_ERR_SPOOL_CORRUPT"
  | "NS_ERR_CONTROLLER_REJECTED" | "NS_ERR_CONTROLLER_UNREACHABLE" | "NS_ERR_CONTROLLER_DEAD" | "NS_ERR_CONTROLLER_PROTOCOL"
  | "NS_ERR_SYSTEMD_NOTIFY">;

export class DaemonError extends NightshiftError {
  declare readonly code: DaemonErrorCode;

  constructor(code: DaemonErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The controller answered the upgrade with an HTTP status instead of switching protocols. */
export class ControllerRejectedError extends DaemonError {
  constructor(readonly status: number, readonly errorCode: string | null, detail: string, url?: string) {
    super("NS_ERR_CONTROLLER_REJECTED", rejectionMessage(status, errorCode, detail, url));
  }
}

/** The agent endpoint's path on every controller. */
const AGENT_PATH = "/v1/agent";

function rejectionMessage(status: number, errorCode: string | null, detail: string, url?: string): string {
  const said = errorCode ? ` (${errorCode}: ${detail})` : detail ? ` (${detail})` : "";
  switch (status) {
    case 401:
      return `controller rejected the agent's token: HTTP 401${said}; check tokenFile, or re-enroll the host with \`nightshift hosts enroll\``;
    case 409:
      return `controller refused the connection: HTTP 409${said}; another agent for this host is connected (a second agent, or the previous session not yet timed out)`;
    case 429:
      return `controller refused the connection: HTTP 429${said}; this agent opened too many sessions lately (agents.maxSessions), it retries later`;
    case 404: {
      const fixed = url ? ` set controller to ${endpointOf(url)}` : ` the controller URL must end in ${AGENT_PATH}`;
      return `controller answered HTTP 404${said}: the agent endpoint is ${AGENT_PATH};${fixed}`;
    }
    default:
      return `controller refused the WebSocket upgrade: HTTP ${status}${said}`;
  }
}

/** The URL with the agent endpoint's path (and no query): what the operator should configure. */
function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${AGENT_PATH}`;
  } catch {
    return url;
  }
}
