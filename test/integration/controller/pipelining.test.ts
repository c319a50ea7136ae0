/**
 * Pipelined requests whose answers the client never reads, against a real
 * controller process: GET /metrics (public, ~14 KB each) 10,000 times on
 * each of 5 connections. The controller answers them one at a time, each
 * only once the one before it left the process, refuses what is queued past
 * http.maxPipelinedRequests with 429 NS_ERR_TOO_MANY_PIPELINED and closes the
 * connection; so its RSS stays bounded, other clients keep their answers,
 * and what it held is given back when the connections close.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import net from "node:net";
import { startController, type TestController } from "../../helpers/controller.js";
import { collectGarbage, INSPECT_OPTIONS } from "../../helpers/inspector-gc.js";
import { memoryStatus } from "../../../bench/controller-load-proc.js";

const CONNECTIONS = 5;
const REQUESTS_EACH = 10_000;
const MAX_PIPELINED = 32;

let controller: TestController;

beforeAll(async () => {
  controller = await startController({ env: { NODE_OPTIONS: INSPECT_OPTIONS, NIGHTSHIFT_LOG_LEVEL: "warn" } });
});

afterAll(async () => {
  await controller?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pid = () => controller.process.pid!;

async function gauge(name: string): Promise<number> {
  const text = await (await fetch(`${controller.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
}

/** Writes `count` requests in one go and collects what comes back until the server closes (or `ms`). */
function pipeline(request: string, count: number, ms = 5_000): Promise<{ raw: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(controller.port, "127.0.0.1");
    let raw = "";
    const timer = setTimeout(() => { socket.destroy(); resolve({ raw, closedByServer: false }); }, ms);
    socket.setEncoding("latin1").on("data", (chunk: string) => { raw += chunk; });
    socket.on("end", () => { clearTimeout(timer); socket.destroy(); resolve({ raw, closedByServer: true }); });
    socket.on("error", () => {});
    socket.write(request.repeat(count));
  });
}

// Not anchored to a line: a Content-Length body is followed directly by the next status line.
const statuses = (raw: string) => [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe("pipelined requests", () => {
  it("a few pipelined requests are all answered, in order", async () => {
    const { raw } = await pipeline("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 5, 1_000);
    expect(statuses(raw)).toEqual([200, 404, 200, 404, 200, 404, 200, 404, 200, 404]);
  });

  it(`more than ${MAX_PIPELINED} waiting: 429 NS_ERR_TOO_MANY_PIPELINED, then the connection is closed`, async () => {
    const { raw, closedByServer } = await pipeline("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 100);
    const got = statuses(raw);
    expect(closedByServer, raw.slice(-500)).toBe(true);
    const answered = got.filter((s) => s === 200).length;
    expect(got, raw.slice(0, 500)).toEqual([...Array<number>(answered).fill(200), ...Array<number>(got.length - answered).fill(429)]);
    expect(got.length).toBeLessThanOrEqual(MAX_PIPELINED + 2);
    expect(raw).toContain('"code":"NS_ERR_TOO_MANY_PIPELINED"');
    expect(raw).toMatch(/Connection: close\r\n/i);
  });

  it(`${CONNECTIONS} × ${REQUESTS_EACH.toLocaleString("en")} pipelined GET /metrics never read: RSS bounded, others answered, memory given back`, async () => {
    await fetch(`${controller.url}/metrics`).then((r) => r.text());
    await collectGarbage(controller.logs());
    const before = memoryStatus(pid()).rssMB;
    const sockets: net.Socket[] = [];
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = net.connect(controller.port, "127.0.0.1");
      socket.pause(); // never read
      socket.on("error", () => {});
      socket.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(REQUESTS_EACH));
      sockets.push(socket);
    }
    let peak = before;
    let slowest = 0;
    for (let t = 0; t < 16; t++) {
      await sleep(250);
      peak = Math.max(peak, memoryStatus(pid()).rssMB);
      const t0 = performance.now();
      const res = await fetch(`${controller.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
      expect(res.status).toBe(200);
      slowest = Math.max(slowest, performance.now() - t0);
    }
    // The attackers' connections were closed by the controller (refused, then the grace period): left are
    // the prober's keep-alive connection and this scrape's.
    expect(await gauge("nightshift_http_connections")).toBeLessThanOrEqual(2);
    for (const socket of sockets) socket.destroy();
    await sleep(500);
    await collectGarbage(controller.logs());
    const after = memoryStatus(pid()).rssMB;
    console.log(`RSS before ${before.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, after close and GC ${after.toFixed(0)} MB; ` +
      `slowest /healthz meanwhile ${slowest.toFixed(0)} ms`);
    expect(peak - before, `peak ${peak.toFixed(0)} MB from ${before.toFixed(0)} MB`).toBeLessThan(120);
    expect(after - before, `after ${after.toFixed(0)} MB from ${before.toFixed(0)} MB`).toBeLessThan(30);
    expect(slowest).toBeLessThan(1_000);
    expect(controller.process.exitCode).toBeNull();
  });
});
