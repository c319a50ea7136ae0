/**
 * A deliberately small HTTP layer: a route table matched by method and path
 * pattern, JSON in and out, errors answered with the status their code has
 * in the registry (api-error.ts). The API has a dozen routes;
 * this is all it needs.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError, errorAnswer, INTERNAL_ERROR } from "./api-error.js";
import { decodePathSegment, parseRequestTarget } from "./request-target.js";

export { ApiError };

export interface RequestContext {
  req: IncomingMessage;
  url: URL;
  params: Record<string, string>;
  body: unknown;
}

export type Handler = (ctx: RequestContext) => unknown | Promise<unknown>;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
  /** Routes without auth: health and metrics. */
  public: boolean;
}

export interface RouteOptions {
  public?: boolean;
}

const MAX_BODY_BYTES = 64 * 1024;

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler, options: RouteOptions = {}): this {
    const keys: string[] = [];
    const pattern = new RegExp("^" + path.replace(/:([a-zA-Z]+)/g, (_, key: string) => {
      keys.push(key);
      return "([^/]+)";
    }) + "$");
    this.routes.push({ method, pattern, keys, handler, public: options.public ?? false });
    return this;
  }

  /** Handles a request; `authorize` runs for every non-public route and throws ApiError to refuse. */
  async handle(req: IncomingMessage, res: ServerResponse, authorize: (req: IncomingMessage) => void): Promise<void> {
    try {
      const url = parseRequestTarget(req.url);
      const candidates = this.routes.filter((r) => r.pattern.test(url.pathname));
      if (candidates.length === 0) throw new ApiError("NS_ERR_NOT_FOUND", `no such endpoint: ${url.pathname}`);
      const route = candidates.find((r) => r.method === req.method);
      if (!route) {
        res.setHeader("Allow", candidates.map((r) => r.method).join(", "));
        throw new ApiError("NS_ERR_METHOD", `${req.method} is not allowed on ${url.pathname}`);
      }
      if (!route.public) authorize(req);
      const match = route.pattern.exec(url.pathname)!;
      const params = Object.fromEntries(route.keys.map((k, i) => [k, decodePathSegment(match[i + 1]!)]));
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readJson(req);
      const result = await route.handler({ req, url, params, body });
      if (result instanceof RawResponse) {
        res.writeHead(result.status, { "Content-Type": result.contentType });
        res.end(result.body);
      } else if (result instanceof JsonWithHeaders) {
        sendJson(res, 200, result.body, result.headers);
      } else {
        const status = result instanceof Created ? 201 : 200;
        sendJson(res, status, result instanceof Created ? result.body : result);
      }
    } catch (err) {
      const answer = errorAnswer(err);
      const { status, code, message } = answer ?? INTERNAL_ERROR;
      sendJson(res, status, { error: { code, message } });
      if (!answer) throw err;
    }
  }
}

/** A non-JSON answer (metrics, health). */
export class RawResponse {
  constructor(readonly status: number, readonly contentType: string, readonly body: string) {}
}

/** A JSON answer with status 200 and headers of its own (a listing's paging: Link, X-Total-Count). */
export class JsonWithHeaders {
  constructor(readonly body: unknown, readonly headers: Readonly<Record<string, string>>) {}
}

/** A JSON answer with status 201. */
export class Created {
  constructor(readonly body: unknown) {}
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent) return;
  const body = JSON.stringify(value);
  res.writeHead(status, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError("NS_ERR_TOO_LARGE", `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new ApiError("NS_ERR_BAD_JSON", "request body is not valid JSON");
  }
}
