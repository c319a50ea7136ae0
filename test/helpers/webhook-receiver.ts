/** A real HTTP server on 127.0.0.1 that collects the JSON bodies POSTed to it (webhook tests). */
import http from "node:http";
import type { AddressInfo } from "node:net";

export class WebhookReceiver {
  readonly received: Record<string, unknown>[] = [];
  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<WebhookReceiver> {
    const server = http.createServer();
    const receiver = new WebhookReceiver(server);
    server.on("request", (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => { body += c.toString(); }).on("end", () => {
        receiver.received.push(JSON.parse(body) as Record<string, unknown>);
        res.end("ok");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  of(event: string): Record<string, unknown>[] {
    return this.received.filter((n) => n.event === event);
  }

  clear(): void {
    this.received.length = 0;
  }

  /** Waits until `check` holds for what was received. */
  async until(check: (received: Record<string, unknown>[]) => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this.received)) {
      if (Date.now() > deadline) throw new Error(`webhooks not as expected within ${timeoutMs} ms: ${JSON.stringify(this.received).slice(0, 3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
