/**
 * What a stolen or rogue controller can make the agent do, against
 * `nightshift-agent run` as a real process (libvirt's test driver) and a
 * protocol peer on a real port that says whatever the test wants: welcome
 * values out of any sane range, frames built to cost a parser dearly, and ten
 * thousand steps at once. The agent keeps its own bounds: inventories per
 * second, its heartbeat, its memory (VmRSS from /proc) and its CPU stay where
 * an honest controller would keep them.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { cpuSeconds, memoryStatus } from "../../../../bench/controller-load-proc.js";
import { encodeMessage } from "../../../../shared/protocol/codec.js";
import { hostileJson } from "../../../helpers/hostile-json.js";
import { ProtocolPeer } from "../../../helpers/protocol-peer.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";
import { testDriverFixture } from "./test-driver-fixture.js";

const TOKEN = "test-token-rogue";
const MIB = 2 ** 20;
const { cleanups } = testDriverFixture("rogue");

async function setup(options: { heartbeatSeconds?: number; inventoryIntervalSeconds?: number; env?: Record<string, string> } = {}) {
  const peer = await ProtocolPeer.start({ token: TOKEN, heartbeatSeconds: options.heartbeatSeconds ?? 1,
    inventoryIntervalSeconds: options.inventoryIntervalSeconds ?? 300 });
  cleanups.push(() => peer.close());
  const dirs = tempAgentDir(TOKEN);
  cleanups.push(() => dirs.cleanup());
  const agent = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir,
    env: { NIGHTSHIFT_AGENT_LOG_LEVEL: "info", ...options.env } });
  cleanups.push(async () => { await agent.stop(); });
  await peer.waitFor(() => peer.inventories.length > 0, "the first inventory", 10_000);
  return { peer, agent };
}

/** The agent's CPU seconds per second over `ms`. */
async function cpuRate(pid: number, ms: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(ms);
  return (cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000);
}

const boundsWarning = (agent: AgentProcess) => agent.logs.find((l) => l.code === "NS_ERR_CONTROLLER_WELCOME_BOUNDS");

describe("welcome values the agent does not take as they are", () => {
  it.each([
    [1e-9, 4],
    [1e12, 0],
  ])("an inventory interval of %s s: at most %i more inventories in 3 s, and a warning naming the bound used", async (asked, most) => {
    const { peer, agent } = await setup({ inventoryIntervalSeconds: asked });
    const first = peer.inventories.length;
    const t0 = Date.now();
    await sleep(3_000);
    const sent = peer.inventories.length - first;
    const perSecond = sent / ((Date.now() - t0) / 1000);
    console.log(`welcome inventoryIntervalSeconds ${asked}: ${sent} inventories in 3 s (${perSecond.toFixed(1)}/s)`);
    expect(sent).toBeLessThanOrEqual(most);
    expect(boundsWarning(agent)).toMatchObject({ field: "inventoryIntervalSeconds", asked, used: asked < 1 ? 1 : 86_400 });
    expect(agent.otherOutput).toEqual([]);
  });

  it("a heartbeat of 1e12 s: no timer overflow spinning the CPU; pings every 60 s at most, so a dead controller is found", async () => {
    const { agent } = await setup({ heartbeatSeconds: 1e12 });
    const rate = await cpuRate(agent.pid, 3_000);
    const connected = agent.logs.find((l) => l.msg === "connected to the controller");
    console.log(`welcome heartbeatSeconds 1e12: agent CPU ${rate.toFixed(3)} s/s, heartbeat used ${String(connected?.heartbeatSeconds)} s`);
    expect(agent.otherOutput.join("\n")).not.toMatch(/TimeoutOverflowWarning/);
    expect(rate).toBeLessThan(0.1);
    expect(connected?.heartbeatSeconds).toBe(60);
    expect(boundsWarning(agent)).toMatchObject({ field: "heartbeatSeconds", asked: 1e12, used: 60 });
  });

  it("a heartbeat of 1e-9 s: the agent keeps its connection instead of calling the controller dead at once, over and over", async () => {
    const { peer, agent } = await setup({ heartbeatSeconds: 1e-9 });
    await sleep(3_000);
    console.log(`welcome heartbeatSeconds 1e-9: ${peer.hellos.length} hello(s), ${peer.closes.length} close(s) in 3 s`);
    expect(peer.hellos.length).toBe(1);
    expect(peer.closes).toEqual([]);
    expect(boundsWarning(agent)).toMatchObject({ field: "heartbeatSeconds", asked: 1e-9, used: 1 });
  });
});

describe("frames built to cost the agent's parser dearly", () => {
  it("ten 3.9 MiB deeply nested frames are refused unparsed: the agent's RSS stays where it was", async () => {
    const { peer, agent } = await setup();
    await sleep(500);
    const before = memoryStatus(agent.pid);
    const frame = hostileJson("array", 3.9 * MIB);
    for (let i = 0; i < 10; i++) await peer.sendText(frame);
    const refused = () => agent.logs.filter((l) => l.msg.startsWith("controller sent an unusable frame") && l.kind === "too-deep").length;
    await peer.waitFor(() => refused() >= 10 || !agent.running, "ten refusals", 60_000);
    const after = memoryStatus(agent.pid);
    const figures = `agent RSS ${before.rssMB.toFixed(0)} -> ${after.rssMB.toFixed(0)} MB (peak ${after.peakRssMB.toFixed(0)}, before ${before.peakRssMB.toFixed(0)})`;
    console.log(`ten 3.9 MiB nested frames: ${figures}`);
    expect(refused(), figures).toBe(10);
    // What remains is the frames themselves (39 MiB received, as buffers and strings) until a major GC; parsed, it was +670 MB.
    expect(after.peakRssMB - before.rssMB, figures).toBeLessThan(150);
  }, 90_000);

  it("a step frame too deep to parse is not parsed for its id either; a readable but invalid one is answered", async () => {
    const { peer, agent } = await setup();
    await peer.sendText(`{"v":1,"type":"step","id":"deep-1","resume":false,"action":${hostileJson("array", 1 * MIB)}}`);
    await peer.sendText(encodeMessage({ type: "step", id: "bad-1", resume: false, action: { kind: "no-such-kind", vm: "x" } } as never));
    await peer.waitFor(() => peer.stepResults.length >= 1, "the answer to bad-1");
    await sleep(300);
    expect(peer.stepResults.map((r) => r.message.id)).toEqual(["bad-1"]);
    expect(peer.stepResults[0]!.message.outcome).toMatchObject({ ok: false, error: { code: "NS_ERR_STEP_FAILED" } });
    expect(agent.logs.some((l) => l.kind === "too-deep")).toBe(true);
  });

  it("two million entries in containers each under the width limit are refused unparsed (too-many-entries)", async () => {
    const { peer, agent } = await setup();
    const before = memoryStatus(agent.pid);
    const frame = hostileJson("many-wide", 3.8 * MIB).replace('"type":"inventory","collectedAt":"1970-01-01T00:00:00.000Z","domains"', '"type":"ack","ids"');
    for (let i = 0; i < 10; i++) await peer.sendText(frame);
    const refused = () => agent.logs.filter((l) => l.kind === "too-many-entries").length;
    await peer.waitFor(() => refused() >= 10, "ten refusals", 30_000);
    const after = memoryStatus(agent.pid);
    console.log(`ten 3.8 MiB many-wide frames: agent RSS ${before.rssMB.toFixed(0)} -> ${after.rssMB.toFixed(0)} MB (peak ${after.peakRssMB.toFixed(0)})`);
    expect(after.peakRssMB - before.rssMB).toBeLessThan(150);
  }, 60_000);
});

describe("steps beyond what an honest controller sends", () => {
  it("10,000 wait-guest-agent steps at once: those beyond the running and queued caps are refused at once with NS_ERR_STEP_BUSY; CPU and RSS bounded", async () => {
    const { peer, agent } = await setup();
    await sleep(500);
    const before = memoryStatus(agent.pid);
    const t0 = Date.now();
    for (let i = 0; i < 10_000; i++) {
      // The test driver's own VM "test" runs and has no guest agent: each step pings it until its timeout.
      await peer.sendText(encodeMessage({ type: "step", id: `flood-${i}`, resume: false, action: { kind: "wait-guest-agent", vm: "test", timeoutMs: 120_000 } }));
    }
    await sleep(2_000);
    const rate = await cpuRate(agent.pid, 5_000);
    const after = memoryStatus(agent.pid);
    const busy = peer.stepResults.filter((r) => !r.message.outcome.ok && r.message.outcome.error.code === "NS_ERR_STEP_BUSY");
    const figures = `sent in ${Date.now() - t0 - 7_000} ms; agent CPU ${rate.toFixed(2)} s/s over 5 s, RSS ${before.rssMB.toFixed(0)} -> ` +
      `${after.rssMB.toFixed(0)} MB (peak ${after.peakRssMB.toFixed(0)}); ${busy.length} refused busy, ${peer.stepResults.length} answered`;
    console.log(`10,000 wait-guest-agent steps: ${figures}`);
    expect(busy.length, figures).toBe(10_000 - 1_000 - 4_100);
    expect(busy[0]!.message.outcome).toMatchObject({ error: { message: expect.stringMatching(/maintenance\.maxRunningSteps.*maintenance\.maxQueuedSteps/) } });
    expect(rate, figures).toBeLessThan(0.3);
    expect(after.peakRssMB - before.rssMB, figures).toBeLessThan(150);
    expect(agent.running).toBe(true);
  }, 120_000);
});
