/**
 * An enrolled host sending frames built to cost the parser dearly, against a
 * real controller process: big frames before hello are refused unread (close
 * 1009), deep nesting and huge arrays are refused before JSON.parse builds
 * them, and meanwhile the controller's memory and its API stay where they were.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { startController, type TestController } from "../../helpers/controller.js";
import { controllerApi } from "../../helpers/controller-api.js";
import { sampleDomain, TestAgent } from "../../helpers/ws-agent.js";
import { hostileJson } from "../../helpers/hostile-json.js";
import { memoryStatus } from "../../../bench/controller-load-proc.js";

const MIB = 2 ** 20;

let controller: TestController;
const tokens: Record<string, string> = {};
const { ok } = controllerApi(() => controller);

beforeAll(async () => {
  // Each frame refused before hello costs a reconnect of the same host: more per minute than agents.maxSessions lets a real agent.
  controller = await startController({ config: { agents: { maxSessions: 100_000 } }, env: { NIGHTSHIFT_LOG_LEVEL: "error" } });
  for (const name of ["hv-attacker", "hv-good"]) tokens[name] = (await ok<{ token: string }>("POST", "/v1/hosts", { name }, 201)).token;
});

afterAll(async () => {
  await controller?.stop();
});

/** GET /v1/hosts one after another while `busy` runs; the latencies in ms. */
async function apiLatencyDuring(busy: Promise<unknown>): Promise<number[]> {
  let done = false;
  void busy.finally(() => { done = true; });
  const samples: number[] = [];
  while (!done) {
    const t0 = performance.now();
    await ok("GET", "/v1/hosts");
    samples.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 10));
  }
  await busy;
  return samples;
}

const p95 = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length * 0.95)] ?? 0;

describe("hostile frames", () => {
  it("a frame over 16 KiB before hello is refused unread with NS_ERR_PROTOCOL_TOO_LARGE and close 1009", async () => {
    const attacker = await TestAgent.connect(controller.url, tokens["hv-attacker"]!);
    attacker.send("x".repeat(17 * 1024));
    const err = await attacker.next("error");
    expect(err.code).toBe("NS_ERR_PROTOCOL_TOO_LARGE");
    expect(err.message).toMatch(/before hello/);
    const [code] = (await once(attacker.ws, "close")) as [number];
    expect(code).toBe(1009);
    // Its host may connect again and say hello.
    const again = await TestAgent.connect(controller.url, tokens["hv-attacker"]!);
    again.hello("hv-attacker");
    await again.next("welcome");
    await again.close();
  });

  it("after hello, deep nesting and huge arrays are refused with NS_ERR_PROTOCOL_TOO_DEEP / _TOO_MANY_ITEMS and the connection goes on", async () => {
    const agent = await TestAgent.connect(controller.url, tokens["hv-attacker"]!);
    agent.hello("hv-attacker");
    await agent.next("welcome");
    agent.send(hostileJson("array", 200_000));
    expect((await agent.next("error")).code).toBe("NS_ERR_PROTOCOL_TOO_DEEP");
    agent.send(`{"v":1,"type":"events","events":${hostileJson("object", 1_000)}}`);
    expect((await agent.next("error")).code).toBe("NS_ERR_PROTOCOL_TOO_DEEP");
    agent.send(hostileJson("wide", 1 * MIB));
    const wide = await agent.next("error");
    expect(wide.code).toBe("NS_ERR_PROTOCOL_TOO_MANY_ITEMS");
    // Nesting inside strings is text, not structure.
    const web = sampleDomain("[[[[{{{{");
    agent.send({ v: 1, type: "inventory", collectedAt: new Date().toISOString(), domains: [web] });
    const id = randomUUID();
    agent.send({ v: 1, type: "events", events: [{ id, time: new Date().toISOString(), domain: web.name, uuid: web.uuid, kind: "lifecycle", event: "stopped", detail: "destroyed" }] });
    expect((await agent.next("ack")).ids).toEqual([id]);
    expect(agent.ws.readyState).toBe(WebSocket.OPEN);
    await agent.close();
  });

  it("ten 3.8 MiB nested frames before hello: RSS and API latency stay bounded, a good agent is served throughout", async () => {
    const good = await TestAgent.connect(controller.url, tokens["hv-good"]!);
    good.hello("hv-good");
    await good.next("welcome");
    const before = memoryStatus(controller.process.pid!);
    const frame = hostileJson("array", 3.8 * MIB);

    const attack = (async () => {
      let sent = 0;
      while (sent < 10) {
        const attacker = await TestAgent.connect(controller.url, tokens["hv-attacker"]!).catch(() => null);
        if (!attacker) {
          // The previous connection is still being let go (409).
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const closed = once(attacker.ws, "close");
        while (sent < 10 && attacker.ws.readyState === WebSocket.OPEN) {
          attacker.send(frame);
          sent++;
          await Promise.race([attacker.next("error", 30_000), closed]);
        }
        attacker.ws.close();
        await closed;
      }
    })();
    const latencies = await apiLatencyDuring(attack);

    const after = memoryStatus(controller.process.pid!);
    const id = randomUUID();
    good.send({ v: 1, type: "events", events: [{ id, time: new Date().toISOString(), domain: "web1", uuid: randomUUID(), kind: "lifecycle", event: "started", detail: "booted" }] });
    expect((await good.next("ack")).ids).toEqual([id]);
    await good.close();
    const figures = `RSS ${before.rssMB.toFixed(0)} -> ${after.rssMB.toFixed(0)} MB (peak ${after.peakRssMB.toFixed(0)}), ` +
      `GET /v1/hosts p95 ${p95(latencies).toFixed(0)} ms over ${latencies.length} requests`;
    // Loose bounds (a busy 2-core machine); unbounded, this was +650 MB and a p95 of seconds.
    expect(after.peakRssMB - before.rssMB, figures).toBeLessThan(150);
    expect(p95(latencies), figures).toBeLessThan(500);
    expect(controller.process.exitCode).toBeNull();
  }, 120_000);

  it("ten 3.8 MiB frames of ~100 arrays of 19,999 numbers each (every one under the per-container limit) are refused unparsed " +
    "with NS_ERR_PROTOCOL_TOO_MANY_ENTRIES; RSS and API latency stay bounded", async () => {
    const frame = hostileJson("many-wide", 3.8 * MIB);
    const entries = (frame.match(/,/g) ?? []).length;
    const good = await TestAgent.connect(controller.url, tokens["hv-good"]!);
    good.hello("hv-good");
    await good.next("welcome");
    const attacker = await TestAgent.connect(controller.url, tokens["hv-attacker"]!);
    attacker.hello("hv-attacker");
    await attacker.next("welcome");
    const before = memoryStatus(controller.process.pid!);
    const codes: string[] = [];
    const attack = (async () => {
      for (let i = 0; i < 10; i++) {
        attacker.send(frame);
        codes.push((await attacker.next("error", 30_000)).code);
      }
    })();
    const latencies = await apiLatencyDuring(attack);
    const after = memoryStatus(controller.process.pid!);
    await attacker.close();
    const id = randomUUID();
    good.send({ v: 1, type: "events", events: [{ id, time: new Date().toISOString(), domain: "web1", uuid: randomUUID(), kind: "lifecycle", event: "started", detail: "booted" }] });
    expect((await good.next("ack")).ids).toEqual([id]);
    await good.close();
    const figures = `${(frame.length / MIB).toFixed(2)} MiB frames of ~${entries} entries: RSS ${before.rssMB.toFixed(0)} -> ` +
      `${after.rssMB.toFixed(0)} MB (peak ${after.peakRssMB.toFixed(0)}), GET /v1/hosts p95 ${p95(latencies).toFixed(0)} ms over ${latencies.length} requests`;
    console.log(figures);
    expect(codes, figures).toEqual(Array(10).fill("NS_ERR_PROTOCOL_TOO_MANY_ENTRIES"));
    expect(after.rssMB - before.rssMB, figures).toBeLessThan(60);
    expect(p95(latencies), figures).toBeLessThan(100);
  }, 120_000);
});
