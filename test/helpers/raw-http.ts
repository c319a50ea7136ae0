/**
 * Raw bytes to an HTTP server and its raw answer back: for requests no
 * well-behaved client would send (unparsable targets, broken handshakes,
 * invalid request lines), which fetch and ws refuse to produce.
 */
import net from "node:net";

export interface RawAnswer {
  /** The status of the first response line; null when the server closed without answering. */
  status: number | null;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  /** Everything received, for failure messages. */
  raw: string;
}

export interface RawRequestOptions {
  /** Give up (and report what came) after this long. Default 3 s. */
  timeoutMs?: number;
  /** Half-close our side right after writing (the server sees FIN). Default false. */
  endAfterWrite?: boolean;
}

/**
 * Sends `request` as is to the server at `url` (only host and port are used)
 * and collects the answer until the server closes, a complete response with
 * Content-Length (or a 101's headers) has arrived, or the timeout.
 */
export function rawRequest(url: string, request: string | Buffer, options: RawRequestOptions = {}): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswer(Buffer.concat(chunks).toString("latin1")));
    };
    const timer = setTimeout(finish, options.timeoutMs ?? 3_000);
    socket.on("connect", () => {
      if (options.endAfterWrite) socket.end(request);
      else socket.write(request);
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (isComplete(Buffer.concat(chunks).toString("latin1"))) finish();
    });
    socket.on("error", finish);
    socket.on("close", finish);
  });
}

/** An interim answer (100 Continue, 103 Early Hints) before the real one: skipped. */
const INTERIM = /^HTTP\/1\.[01] 1(0[02-9]|[1-9]\d) [^\r]*\r\n(?:[^\r]+\r\n)*\r\n/;

function withoutInterim(raw: string): string {
  let rest = raw;
  for (let m = INTERIM.exec(rest); m; m = INTERIM.exec(rest)) rest = rest.slice(m[0].length);
  return rest;
}

function isComplete(whole: string): boolean {
  const raw = withoutInterim(whole);
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return false;
  // 101 Switching Protocols has no body: what follows is WebSocket frames.
  if (raw.startsWith("HTTP/1.1 101 ")) return true;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(raw.slice(0, end + 2))?.[1];
  return length !== undefined && Buffer.byteLength(raw.slice(end + 4), "latin1") >= Number(length);
}

function parseAnswer(whole: string): RawAnswer {
  const raw = withoutInterim(whole);
  const end = raw.indexOf("\r\n\r\n");
  const head = end < 0 ? raw : raw.slice(0, end);
  const [statusLine = "", ...lines] = head.split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = end < 0 ? "" : Buffer.from(raw.slice(end + 4), "latin1").toString("utf8");
  return { status: status ? Number(status) : null, headers, body, raw: whole };
}

/** The request line and headers of a WebSocket upgrade; `overrides` replace or drop (null) single headers. */
export function upgradeRequest(path: string, overrides: Record<string, string | null> = {}, method = "GET"): string {
  const headers: Record<string, string | null> = {
    Host: "localhost",
    Connection: "Upgrade",
    Upgrade: "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    ...overrides,
  };
  const lines = Object.entries(headers).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
}
