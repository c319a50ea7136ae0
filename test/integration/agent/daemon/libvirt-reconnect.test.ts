/**
 * The agent's libvirt connection dropped by libvirtd itself (virt-admin
 * client-disconnect of the agent's client only, so the shared daemon and other
 * tests are untouched): the agent reconnects, subscribes again and sends a
 * fresh inventory, while the controller session carries on.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { testDriverDomainXml } from "../../../helpers/libvirt.js";
import { ProtocolPeer } from "../../../helpers/protocol-peer.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";
import { testDriverFixture } from "./test-driver-fixture.js";

const TOKEN = "test-token-libvirt";
const { prefix, cleanups, conn } = testDriverFixture("relv");

/** libvirtd's client ids of the process `pid`. */
function clientsOf(pid: number): string[] {
  const list = execFileSync("virt-admin", ["srv-clients-list", "libvirtd"], { encoding: "utf8" });
  const ids = list.split("\n").map((l) => /^\s*(\d+)\s/.exec(l)?.[1]).filter((id): id is string => id !== undefined);
  return ids.filter((id) => {
    try {
      return new RegExp(`unix_process_id: ${pid}$`, "m").test(execFileSync("virt-admin", ["client-info", "libvirtd", id], { encoding: "utf8" }));
    } catch {
      return false; // gone between list and info
    }
  });
}

describe("libvirt connection lost", () => {
  it("reconnects, re-subscribes and sends a fresh inventory without dropping the controller session", async () => {
    const peer = await ProtocolPeer.start({ token: TOKEN, heartbeatSeconds: 1 });
    cleanups.push(() => peer.close());
    const dirs = tempAgentDir(TOKEN);
    cleanups.push(() => dirs.cleanup());
    const agent = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir });
    cleanups.push(async () => { await agent.stop(); });
    await peer.waitFor(() => peer.inventories.length > 0, "the first inventory");

    const clients = clientsOf(agent.pid);
    expect(clients).toHaveLength(1);
    const cutAt = Date.now();
    execFileSync("virt-admin", ["client-disconnect", "libvirtd", clients[0]!]);

    await agent.waitForLog((l) => l.msg.startsWith("lost the connection to libvirtd"), "the lost connection");
    const back = await agent.waitForLog((l) => l.msg === "connected to libvirtd and subscribed to domain events" && l.reconnected === true,
      "the reconnect");
    await peer.waitFor(() => peer.inventories.length >= 2, "the inventory after the reconnect", 5_000);
    console.log(`libvirt client cut: reconnected after ${(back.time as number) - cutAt} ms, new inventory at the peer after ${peer.inventories[1]!.at - cutAt} ms`);
    expect(peer.inventories[1]!.connection).toBe(1);
    expect(peer.closes).toEqual([]);

    // Subscribed again: a new domain's events still arrive.
    const name = `${prefix}after`;
    await conn().domainDefineXML(testDriverDomainXml(name));
    await peer.waitFor(() => peer.uniqueEvents.some((e) => e.domain === name && e.event === "defined"), "the defined event", 2_000);
  });
});
