/**
 * The WebSocket handshake checks ws makes (RFC 6455 4.2.1), made here first so
 * a broken handshake is refused like everything else — a JSON body with an
 * NS_ERR code — before any host is looked up or marked as connecting.
 */
import type { IncomingMessage } from "node:http";
import type { HttpErrorCode } from "../../shared/error-codes.js";

/** Answered with the code's status (400, or 405 for NS_ERR_METHOD). */
export interface HandshakeRefusal {
  code: HttpErrorCode;
  message: string;
  headers?: Record<string, string>;
}

/** A base64 encoding of 16 bytes, as ws requires. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
const VERSIONS = new Set(["13", "8"]);

export function checkHandshake(req: IncomingMessage): HandshakeRefusal | null {
  if (req.method !== "GET") {
    return { code: "NS_ERR_METHOD", message: `a WebSocket upgrade is a GET, not ${req.method}`, headers: { Allow: "GET" } };
  }
  if (req.headers.upgrade?.toLowerCase() !== "websocket") {
    return { code: "NS_ERR_BAD_HANDSHAKE", message: "expected the header Upgrade: websocket" };
  }
  const key = req.headers["sec-websocket-key"];
  if (key === undefined || !KEY.test(key)) {
    return { code: "NS_ERR_BAD_HANDSHAKE", message: "missing or invalid Sec-WebSocket-Key (16 random bytes, base64)" };
  }
  const version = req.headers["sec-websocket-version"];
  if (version === undefined || !VERSIONS.has(version.trim())) {
    return {
      code: "NS_ERR_BAD_HANDSHAKE", message: "missing or unsupported Sec-WebSocket-Version: this server speaks 13",
      headers: { "Sec-WebSocket-Version": "13, 8" },
    };
  }
  return null;
}
