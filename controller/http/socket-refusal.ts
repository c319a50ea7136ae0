/**
 * Answers on a raw socket (an upgrade request that is not upgraded, a request
 * the HTTP parser refused): a complete HTTP response with the same JSON error
 * body as the API's, then the connection is closed.
 */
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { httpStatus, type HttpErrorCode } from "../../shared/error-codes.js";

/** Answers with the status `code` has in the registry (shared/error-codes.ts). */
export function refuseOnSocket(socket: Duplex, code: HttpErrorCode, message: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = httpStatus(code);
  const body = JSON.stringify({ error: { code, message } });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`,
    "Content-Type: application/json",
    `Content-Length: ${Buffer.byteLength(body)}`,
    "Connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  // end() sends FIN after the answer; destroy() once it is flushed, so a peer that never closes holds nothing.
  socket.once("finish", () => socket.destroy());
  socket.end(`${lines.join("\r\n")}\r\n\r\n${body}`);
}
