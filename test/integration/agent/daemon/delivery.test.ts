/**
 * No event lost: events raised while the controller is away, or unacked when
 * the agent is killed, reach the controller later under the same ids; a full
 * spool drops the oldest and says so with events-lost.
 */
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LibvirtConnection, type DomainEventSubscription } from "../../../../agent/libvirt/connection.js";
import type { DomainEvent } from "../../../../agent/libvirt/events.js";
import { DomainUndefineFlags } from "../../../../agent/libvirt/protocol.js";
import { removeDomainsWithPrefix, testDriverDomainXml, testPrefix } from "../../../helpers/libvirt.js";
import { ProtocolPeer } from "../../../helpers/protocol-peer.js";
import { AGENT_BIN } from "../../../helpers/run.js";
import type { DomainEventMessage } from "../../../../shared/protocol/messages.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";

const TOKEN = "test-token-delivery";
const prefix = testPrefix("spool");
let conn: LibvirtConnection;
let sub: DomainEventSubscription;
/** Every lifecycle event libvirt raised while this file ran, as our own subscription saw them. */
const received: DomainEvent[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  expect(fs.existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
  conn = await LibvirtConnection.open({ uri: "test:///default" });
  sub = await conn.domainEvents(["lifecycle"]);
  void (async () => { for await (const event of sub.events) received.push(event); })();
});

async function waitForEvent(predicate: (e: DomainEvent) => boolean, from = 0): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!received.slice(from).some(predicate)) {
    if (Date.now() > deadline) throw new Error("libvirt event not seen within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await removeDomainsWithPrefix(conn, prefix);
  await sub.close();
  await conn.connectClose();
});

async function setup(env: Record<string, string> = {}) {
  const peer = await ProtocolPeer.start({ token: TOKEN, heartbeatSeconds: 1 });
  cleanups.push(() => peer.close());
  const dirs = tempAgentDir(TOKEN);
  cleanups.push(() => dirs.cleanup());
  const agents: AgentProcess[] = [];
  const startAgent = () => {
    const agent = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, env });
    agents.push(agent);
    return agent;
  };
  cleanups.push(async () => { for (const a of agents) await a.stop(); });
  return { peer, dirs, startAgent };
}

const summary = (events: DomainEventMessage[]) => events.map((e) => `${e.event}/${e.detail}`);

/** Define, start, destroy: three lifecycle events, waited for on our own subscription. */
async function lifecycle(name: string): Promise<void> {
  const dom = await conn.domainDefineXML(testDriverDomainXml(name));
  await conn.domainCreate(dom);
  await conn.domainDestroy(dom);
  await waitForEvent((e) => e.domain.name === name && e.kind === "lifecycle" && e.event === "stopped");
}

describe("redelivery", () => {
  it("re-sends unacked events after the controller was away: same ids, each stored once, in order", async () => {
    const { peer, startAgent } = await setup();
    const agent = startAgent();
    await peer.waitFor(() => peer.inventories.length > 0, "the first inventory");
    const name = `${prefix}away`;
    const ours = () => peer.uniqueEvents.filter((e) => e.domain === name);

    // Delivered but never acked: must come again, under the same id.
    peer.withholdAcks = true;
    const dom = await conn.domainDefineXML(testDriverDomainXml(name));
    await peer.waitFor(() => ours().length === 1, "the defined event");
    const definedId = ours()[0]!.id;

    await peer.goAway();
    await conn.domainCreate(dom);
    await conn.domainDestroy(dom);
    await waitForEvent((e) => e.domain.name === name && e.kind === "lifecycle" && e.event === "stopped");
    await agent.waitForLog((l) => l.code === "NS_ERR_CONTROLLER_UNREACHABLE" && /unreachable/.test(l.msg), "a failed reconnect");

    peer.withholdAcks = false;
    const backAt = Date.now();
    await peer.comeBack();
    await peer.waitFor(() => ours().length === 3, "all three events", 5_000);
    const helloAfter = peer.hellos[1]!.at - backAt;
    const eventsAfter = peer.eventDeliveries.filter((d) => d.message.domain === name).at(-1)!.at - backAt;
    console.log(`controller back: hello after ${helloAfter} ms, all spooled events after ${eventsAfter} ms (max reconnect delay 1000 ms)`);

    expect(summary(ours())).toEqual(["defined/added", "started/booted", "stopped/destroyed"]);
    const deliveries = peer.eventDeliveries.filter((d) => d.message.domain === name);
    // At least once on the wire: the unacked define came twice, identical, on two connections.
    const defined = deliveries.filter((d) => d.message.id === definedId);
    expect(defined.map((d) => d.connection)).toEqual([1, 2]);
    expect(defined[1]!.message).toEqual(defined[0]!.message);
    expect(deliveries).toHaveLength(4);
    // In order on the second connection too.
    expect(summary(deliveries.filter((d) => d.connection === 2).map((d) => d.message)))
      .toEqual(["defined/added", "started/booted", "stopped/destroyed"]);
    expect(peer.invalidFrames).toEqual([]);
  });

  it("re-sends unacked events after the agent was SIGKILLed and restarted, and nothing once acked", async () => {
    const { peer, startAgent } = await setup();
    const first = startAgent();
    await peer.waitFor(() => peer.inventories.length > 0, "the first inventory");
    const name = `${prefix}kill`;
    const ours = () => peer.uniqueEvents.filter((e) => e.domain === name);

    peer.withholdAcks = true;
    await lifecycle(name);
    await peer.waitFor(() => ours().length === 3, "three events, unacked");
    const ids = ours().map((e) => e.id);
    first.kill("SIGKILL");
    expect((await first.exited).signal).toBe("SIGKILL");

    peer.withholdAcks = false;
    const second = startAgent();
    await peer.waitFor(() => peer.eventDeliveries.filter((d) => d.connection === 2 && d.message.domain === name).length === 3,
      "the three events again", 10_000);
    const again = peer.eventDeliveries.filter((d) => d.connection === 2 && d.message.domain === name).map((d) => d.message);
    expect(again.map((e) => e.id)).toEqual(ids);
    expect(summary(again)).toEqual(["defined/added", "started/booted", "stopped/destroyed"]);
    expect(second.logs.some((l) => l.msg.startsWith("spool holds unacked entries"))).toBe(true);

    // Acked now: a graceful restart re-sends nothing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await second.stop()).code).toBe(0);
    startAgent();
    await peer.waitFor(() => peer.inventories.filter((i) => i.connection === 3).length > 0, "the third session's inventory");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(peer.eventDeliveries.filter((d) => d.connection === 3 && d.message.domain === name)).toEqual([]);
  });
});

describe("spool overflow", () => {
  it("drops the oldest events beyond spool.maxEvents and reports them with events-lost", async () => {
    const maxEvents = 3;
    const { peer, startAgent } = await setup({ NIGHTSHIFT_AGENT_SPOOL_MAX_EVENTS: String(maxEvents) });
    await peer.goAway();
    const agent = startAgent();
    await agent.waitForLibvirt();
    // From here on the agent sees what our own subscription sees.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const from = received.length;
    const name = `${prefix}full`;
    const before = new Date();
    const dom = await conn.domainDefineXML(testDriverDomainXml(name));
    for (let i = 0; i < 2; i++) {
      await conn.domainCreate(dom);
      await conn.domainDestroy(dom);
    }
    await conn.domainUndefine(dom, DomainUndefineFlags.SNAPSHOTS_METADATA);
    await waitForEvent((e) => e.domain.name === name && e.kind === "lifecycle" && e.event === "undefined", from);
    const seen = received.slice(from);
    await agent.waitForLog((l) => l.code === "NS_ERR_SPOOL_OVERFLOW" && l.droppedTotal === seen.length - maxEvents, "the overflow");
    // The agent's clock stamps events as it receives them, a little after we do: bound it once it has them all.
    const after = new Date();

    await peer.comeBack();
    await peer.waitFor(() => peer.lost.length > 0 && peer.uniqueEvents.length >= maxEvents, "the loss report and the kept events", 5_000);
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(seen.filter((e) => e.domain.name === name)).toHaveLength(6);
    const lost = peer.lost[0]!.message;
    expect(peer.lost).toHaveLength(1);
    expect(lost.count).toBe(seen.length - maxEvents);
    expect(lost.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(lost.firstLostAt)).toBeGreaterThanOrEqual(before.getTime());
    expect(Date.parse(lost.lastLostAt)).toBeGreaterThanOrEqual(Date.parse(lost.firstLostAt));
    expect(Date.parse(lost.lastLostAt)).toBeLessThanOrEqual(after.getTime());
    // The newest maxEvents survived, in order.
    const kept = seen.slice(-maxEvents).map((e) => `${e.domain.name} ${e.kind === "lifecycle" ? `${e.event}/${e.detail}` : e.kind}`);
    expect(peer.uniqueEvents.map((e) => `${e.domain} ${e.event}/${e.detail}`)).toEqual(kept);
    expect(peer.uniqueEvents.at(-1)).toMatchObject({ domain: name, event: "undefined" });
  });
});
