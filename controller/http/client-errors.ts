/**
 * Requests Node's HTTP parser refuses before any handler sees them (invalid
 * request line, headers too large, too slow): answered like every other
 * refusal, with a JSON body carrying an NS_ERR code, instead of Node's bare
 * "400 Bad Request".
 */
import type { Duplex } from "node:stream";
import type { Logger } from "../../shared/logging.js";
import { refuseOnSocket } from "./socket-refusal.js";

interface ParserError extends Error {
  code?: string;
}

export function answerClientError(err: ParserError, socket: Duplex, log: Logger): void {
  // A reset peer cannot read an answer; a socket that already carries a response must not get a second one in its middle.
  const inResponse = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (err.code === "ECONNRESET" || !socket.writable || inResponse) {
    socket.destroy();
    return;
  }
  log.debug({ code: err.code }, `refused a request the HTTP parser could not read: ${err.message}`);
  if (err.code === "HPE_HEADER_OVERFLOW") {
    refuseOnSocket(socket, "NS_ERR_HEADERS_TOO_LARGE", "request line and headers over the server's limit (16 KiB)");
  } else if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    refuseOnSocket(socket, "NS_ERR_REQUEST_TIMEOUT", "the request did not arrive in time");
  } else {
    refuseOnSocket(socket, "NS_ERR_BAD_HTTP", `not a valid HTTP/1.1 request (${err.code ?? "parse error"})`);
  }
}
