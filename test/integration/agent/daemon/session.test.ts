/**
 * `nightshift-agent run` as a real process against the real libvirtd (test
 * driver) and a protocol peer on a real port: the session itself — hello,
 * inventory, live events, heartbeats, refusals, shutdown.
 */
import fs from "node:fs";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { testDriverDomainXml } from "../../../helpers/libvirt.js";
import { ProtocolPeer } from "../../../helpers/protocol-peer.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";
import { testDriverFixture } from "./test-driver-fixture.js";

const TOKEN = "test-token-session";
const { prefix, cleanups, conn } = testDriverFixture("agent");

async function setup(options: { agentToken?: string; env?: Record<string, string>;
  heartbeatSeconds?: number; inventoryIntervalSeconds?: number } = {}) {
  const peer = await ProtocolPeer.start({ token: TOKEN, heartbeatSeconds: options.heartbeatSeconds ?? 1,
    inventoryIntervalSeconds: options.inventoryIntervalSeconds ?? 300 });
  cleanups.push(() => peer.close());
  const dirs = tempAgentDir(options.agentToken ?? TOKEN);
  cleanups.push(() => dirs.cleanup());
  const agent = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, env: options.env ?? {} });
  cleanups.push(async () => { await agent.stop(); });
  return { peer, agent, dirs };
}

describe("session", () => {
  it("says hello with host, hostname, agent and libvirt versions, then sends a full inventory", async () => {
    const name = `${prefix}inv`;
    await conn().domainDefineXML(testDriverDomainXml(name, { memoryMiB: 192 }));
    const { peer } = await setup();
    await peer.waitFor(() => peer.inventories.length > 0, "the first inventory");

    const hello = peer.hellos[0]!.message;
    const version = await conn().connectGetLibVersion();
    expect(hello).toEqual({
      v: 1, type: "hello",
      host: os.hostname(),
      hostname: await conn().connectGetHostname(),
      agentVersion: (JSON.parse(fs.readFileSync("package.json", "utf8")) as { version: string }).version,
      libvirtVersion: version.text,
      libvirtUri: "test:///default",
    });
    expect(peer.messages[0]!.message.type).toBe("hello");
    expect(peer.invalidFrames).toEqual([]);

    const inventory = peer.inventories[0]!.message;
    expect(Date.now() - Date.parse(inventory.collectedAt)).toBeLessThan(10_000);
    const ours = inventory.domains.find((d) => d.name === name);
    expect(ours).toMatchObject({ name, state: "shutoff", id: null, persistent: true, memoryKiB: 192 * 1024, vcpus: 1 });
    expect(ours!.disks).toEqual([expect.objectContaining({ target: "vda", source: `/var/lib/nightshift-test/${name}.img`, driverType: "qcow2" })]);
    // The test driver's own domain is always there: the inventory is the whole host, not just ours.
    expect(inventory.domains.some((d) => d.name === "test")).toBe(true);
  });

  it("sends a started and a destroyed domain's events within 2 s, each with a unique id, in order", async () => {
    const name = `${prefix}live`;
    const { peer, agent } = await setup();
    await agent.waitForLibvirt();
    await peer.waitFor(() => peer.inventories.length > 0, "the first inventory");
    const ours = () => peer.uniqueEvents.filter((e) => e.domain === name);

    let t0 = Date.now();
    const dom = await conn().domainDefineXML(testDriverDomainXml(name));
    await peer.waitFor(() => ours().length >= 1, "the defined event", 2_000);
    const definedMs = Date.now() - t0;

    t0 = Date.now();
    await conn().domainCreate(dom);
    await peer.waitFor(() => ours().length >= 2, "the started event", 2_000);
    const startedMs = Date.now() - t0;

    t0 = Date.now();
    await conn().domainDestroy(dom);
    await peer.waitFor(() => ours().length >= 3, "the stopped event", 2_000);
    const stoppedMs = Date.now() - t0;
    console.log(`libvirt call -> event at the peer: defined ${definedMs} ms, started ${startedMs} ms, stopped ${stoppedMs} ms`);

    const events = ours();
    const inAgent = peer.eventDeliveries.filter((d) => d.message.domain === name).map((d) => d.at - Date.parse(d.message.time));
    console.log(`agent received the event -> peer has it: ${inAgent.join(", ")} ms (spool append with fdatasync included)`);
    expect(events.map((e) => [e.kind, e.event, e.detail])).toEqual([
      ["lifecycle", "defined", "added"],
      ["lifecycle", "started", "booted"],
      ["lifecycle", "stopped", "destroyed"],
    ]);
    expect(events.every((e) => e.uuid === dom.uuid)).toBe(true);
    const ids = peer.eventDeliveries.map((d) => d.message.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => /^[0-9a-f-]{36}$/.test(id))).toBe(true);
  });

  it("answers SIGTERM by closing with 1001 and exiting 0", async () => {
    const { peer, agent } = await setup();
    await peer.waitFor(() => peer.inventories.length > 0, "the first inventory");
    const t0 = Date.now();
    const exit = await agent.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(3_000);
    await peer.waitFor(() => peer.closes.length > 0, "the close");
    expect(peer.closes[0]!.code).toBe(1001);
    expect(agent.logs.some((l) => l.msg === "agent stopped")).toBe(true);
    expect(agent.otherOutput).toEqual([]);
  });

  it("sends inventories again on the welcome's interval", async () => {
    // 1 s: the shortest interval an agent takes from a welcome (WELCOME_LIMITS).
    const { peer } = await setup({ inventoryIntervalSeconds: 1 });
    await peer.waitFor(() => peer.inventories.length >= 4, "four inventories", 8_000);
    const gaps = peer.inventories.slice(1, 4).map((r, i) => r.at - peer.inventories[i]!.at);
    // 1 s +-20%, plus scheduling slack.
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(780);
      expect(gap).toBeLessThan(1_500);
    }
  });
});

describe("heartbeat", () => {
  it("terminates a peer that stopped answering pings within about two periods, then reconnects", async () => {
    const { peer, agent } = await setup({ heartbeatSeconds: 1 });
    await peer.waitFor(() => peer.inventories.length > 0, "the first inventory");
    peer.answerPings = false;
    const silentAt = Date.now();
    await peer.waitFor(() => peer.closes.length > 0, "the agent to drop the connection", 5_000);
    const droppedAfter = peer.closes[0]!.at - silentAt;
    peer.answerPings = true;
    await peer.waitFor(() => peer.hellos.length >= 2, "a new hello", 5_000);
    const reconnectedAfter = peer.hellos[1]!.at - peer.closes[0]!.at;
    console.log(`dead peer terminated after ${droppedAfter} ms (heartbeat 1 s), new hello ${reconnectedAfter} ms later`);
    // The last pong can be up to one period old when the peer falls silent: 2-3 periods.
    expect(droppedAfter).toBeGreaterThan(1_000);
    expect(droppedAfter).toBeLessThan(3_300);
    // terminate(), not a close handshake: the peer sees an abnormal closure.
    expect(peer.closes[0]!.code).toBe(1006);
    expect(agent.logs.some((l) => l.code === "NS_ERR_CONTROLLER_DEAD")).toBe(true);
    expect(reconnectedAfter).toBeLessThan(1_500);
  });
});

describe("refusals", () => {
  it("logs a clear 401 error and keeps retrying at the maximum delay without crashing", async () => {
    const { peer, agent } = await setup({ agentToken: "wrong-token" });
    await agent.waitForLog((l) => l.code === "NS_ERR_CONTROLLER_REJECTED", "the rejection");
    const first = peer.upgrades[0]!.at;
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const attempts = peer.upgrades.filter((u) => u.at >= first && u.at <= first + 4_000);
    const gaps = attempts.slice(1).map((u, i) => u.at - attempts[i]!.at);
    console.log(`401: ${attempts.length} attempts in 4 s, gaps ${gaps.join(", ")} ms (max delay 1000 ms)`);
    expect(attempts.every((u) => u.status === 401)).toBe(true);
    // Initial delay 100 ms would allow ~40 attempts in 4 s; after a 401 each wait is 500..1000 ms.
    expect(attempts.length).toBeGreaterThanOrEqual(4);
    expect(attempts.length).toBeLessThanOrEqual(9);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(480);
    expect(agent.running).toBe(true);
    const line = agent.logs.find((l) => l.code === "NS_ERR_CONTROLLER_REJECTED")!;
    expect(line.msg).toMatch(/HTTP 401/);
    expect(line.msg).toMatch(/invalid or missing bearer token/);
    expect(line.level).toBe(50);
    expect(peer.hellos).toHaveLength(0);
  });

  it("backs off on 409 while another agent holds the host, and gets in once it left", async () => {
    const { peer, agent, dirs } = await setup();
    await peer.waitFor(() => peer.inventories.length > 0, "the first inventory");
    const second = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: `${dirs.stateDir}-2` });
    cleanups.push(async () => { await second.stop(); });
    const line = await second.waitForLog((l) => l.code === "NS_ERR_CONTROLLER_REJECTED", "the 409");
    expect(line.msg).toMatch(/HTTP 409.*another agent for this host is connected/);
    await agent.stop();
    await peer.waitFor(() => peer.hellos.length >= 2, "the second agent's hello", 5_000);
  });
});
