/**
 * Why a connection to the controller failed, in the operator's words, with
 * what to change. The CLI (http://, https://) and the agent (ws://, wss://)
 * reach the same server, and fail in the same ways: Node's own messages
 * ("wrong version number", "ECONNREFUSED") name the symptom, not the fix.
 */

const CONNECT_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused (is nightshift-controller running and listening there?)",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed (temporary DNS failure)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ECONNRESET: "connection reset by the server",
  ETIMEDOUT: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "the connection closed unexpectedly",
};

const CERT_ERROR = /^(CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|ERR_TLS_CERT_)/;

export interface FailureHints {
  /** The scheme to suggest when the server does not speak TLS ("http" for the CLI, "ws" for the agent). */
  plainScheme: "http" | "ws";
  /** How to trust a private CA on this side. */
  caHint: string;
}

/** One line for a failed connect: `code` and `detail` as Node gives them (err.code, err.message). */
export function describeConnectFailure(code: string | undefined, detail: string | undefined, hints: FailureHints): string {
  if (code && CONNECT_ERRORS[code]) {
    if (code === "ECONNRESET" && hints.plainScheme === "ws") {
      return `${CONNECT_ERRORS[code]}: if the controller uses TLS (tls.cert, tls.key), use wss://`;
    }
    return CONNECT_ERRORS[code];
  }
  if (code && CERT_ERROR.test(code)) {
    return `its TLS certificate was not accepted (${detail ?? code}); if it comes from a private CA, ${hints.caHint}`;
  }
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || /wrong version number/i.test(detail ?? "")) {
    return `TLS handshake failed: the server does not speak TLS there (use ${hints.plainScheme}://, ` +
      `or give the controller tls.cert and tls.key)`;
  }
  if (code?.startsWith("ERR_SSL_")) return `TLS handshake failed (${code})`;
  if (detail) return code ? `${detail} (${code})` : detail;
  return code ?? "unknown error";
}
