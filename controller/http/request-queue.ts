/**
 * Requests pipelined on one connection are answered one after another, the
 * next only once the previous answer is written and the socket's buffer has
 * drained. HTTP/1.1 answers in order anyway; what this adds is that a client
 * that sends thousands of requests and reads none of the answers makes the
 * controller hold one answer for it, not thousands (and not go on computing
 * them after it hung up).
 *
 * At most `maxQueued` requests wait per connection. The one over it, and the
 * ones waiting, are answered 429 NS_ERR_TOO_MANY_PIPELINED (the last with
 * `Connection: close`); what the connection sends after that is not served,
 * and it is closed once those answers are written, or after a grace period
 * when its client does not read them.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { httpStatus } from "../../shared/error-codes.js";

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface RequestQueueOptions {
  maxQueued: number;
  /** How long a refused connection may keep its unread answers. */
  refusedGraceMs: number;
  onRefused(): void;
}

interface Waiting {
  req: IncomingMessage;
  res: ServerResponse;
}

interface SocketQueue {
  busy: boolean;
  waiting: Waiting[];
  refused: boolean;
  closed: boolean;
}

export class RequestQueue {
  private readonly queues = new WeakMap<Duplex, SocketQueue>();

  constructor(private readonly handle: RequestHandler, private readonly opts: RequestQueueOptions) {}

  push(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    let queue = this.queues.get(socket);
    if (!queue) {
      const created: SocketQueue = { busy: false, waiting: [], refused: false, closed: false };
      queue = created;
      this.queues.set(socket, created);
      socket.once("close", () => {
        created.closed = true;
        created.waiting.length = 0;
      });
    }
    if (queue.refused || queue.closed) return;
    if (!queue.busy) {
      this.run(socket, queue, req, res);
      return;
    }
    if (queue.waiting.length < this.opts.maxQueued) {
      queue.waiting.push({ req, res });
      return;
    }
    this.refuse(socket, queue, res);
  }

  private run(socket: Duplex, queue: SocketQueue, req: IncomingMessage, res: ServerResponse): void {
    queue.busy = true;
    let done = false;
    const next = () => {
      if (done) return;
      done = true;
      // Only once what was written left the process: a client that does not read holds one answer, no more.
      if (socket.writableNeedDrain && !socket.destroyed) socket.once("drain", () => this.advance(socket, queue));
      else this.advance(socket, queue);
    };
    res.once("finish", next);
    res.once("close", next);
    void this.handle(req, res);
  }

  private advance(socket: Duplex, queue: SocketQueue): void {
    queue.busy = false;
    if (queue.closed || queue.refused) return;
    const following = queue.waiting.shift();
    if (following) this.run(socket, queue, following.req, following.res);
  }

  private refuse(socket: Duplex, queue: SocketQueue, overflowing: ServerResponse): void {
    queue.refused = true;
    this.opts.onRefused();
    const refused = [...queue.waiting.map((w) => w.res), overflowing];
    queue.waiting.length = 0;
    const body = JSON.stringify({
      error: {
        code: "NS_ERR_TOO_MANY_PIPELINED",
        message: `more than ${this.opts.maxQueued} requests waiting for their answers on one connection (http.maxPipelinedRequests): ` +
          "read the answers before sending more, or open another connection",
      },
    });
    refused.forEach((res, i) => {
      const last = i === refused.length - 1;
      res.writeHead(httpStatus("NS_ERR_TOO_MANY_PIPELINED"), { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), ...(last ? { Connection: "close" } : {}) });
      res.end(body);
    });
    // Stop reading, and keep it stopped (each request read resumes its socket): the requests still coming are not
    // served. Node closes the connection after the last answer.
    socket.pause();
    socket.on("resume", () => socket.pause());
    const grace = setTimeout(() => socket.destroy(), this.opts.refusedGraceMs);
    grace.unref();
    socket.once("close", () => clearTimeout(grace));
  }
}
