/**
 * Maintenance memberships as the agent reports them: `nightshift-agent run` as a
 * real process against the real libvirtd (test driver) and a protocol peer.
 * A VM's <maintenance> element in nightshift's <metadata> namespace, as
 * libvirt stores and gives it back, arrives on the VM's inventory entry; the
 * settings' `probes.haGroups` for the VM join its HA groups; the agent config's
 * `maintenance.group`, `.roles` and `.slotLength` arrive
 * in hello. Both are validated by the peer against the protocol schemas.
 */
import { describe, expect, it } from "vitest";
import { NIGHTSHIFT_VM_NS } from "../../../../agent/probes/domain-metadata.js";
import { testDriverDomainXml } from "../../../helpers/libvirt.js";
import { ProtocolPeer } from "../../../helpers/protocol-peer.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";
import { testDriverFixture } from "./test-driver-fixture.js";

const TOKEN = "test-token-membership";
const { prefix, cleanups, conn } = testDriverFixture("member");

async function agentWith(env: Record<string, string>) {
  const peer = await ProtocolPeer.start({ token: TOKEN, heartbeatSeconds: 1, inventoryIntervalSeconds: 300 });
  cleanups.push(() => peer.close());
  const dirs = tempAgentDir(TOKEN);
  cleanups.push(() => dirs.cleanup());
  const agent = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, env });
  cleanups.push(async () => { await agent.stop(); });
  await peer.waitFor(() => peer.inventories.length > 0, "the first inventory");
  expect(peer.invalidFrames).toEqual([]);
  return peer;
}

/** A test-driver domain with nightshift's <metadata> (`inner` inside <vm>). */
function withMetadata(name: string, inner: string): string {
  return testDriverDomainXml(name).replace("</name>", `</name><metadata><ns:vm xmlns:ns="${NIGHTSHIFT_VM_NS}">${inner}</ns:vm></metadata>`);
}

describe("maintenance memberships reported by the agent", () => {
  it("a VM's <maintenance> metadata is on its inventory entry, with its HA groups and the settings'; others have none", async () => {
    const member = `${prefix}web`;
    const plain = `${prefix}plain`;
    const noGroup = `${prefix}nogroup`;
    await conn().domainDefineXML(withMetadata(member, '<ns:critical>true</ns:critical><ns:ha-group>acme-web</ns:ha-group>'
      + '<ns:maintenance group="acme" tested="yes" minutes="45"><ns:role>production</ns:role><ns:role>web</ns:role></ns:maintenance>'));
    await conn().domainDefineXML(withMetadata(plain, "<ns:ha-group>acme-web</ns:ha-group>"));
    await conn().domainDefineXML(withMetadata(noGroup, '<ns:maintenance tested="yes"/>'));
    // libvirt keeps the element as given (it reformats, the namespace stays).
    expect(await conn().domainGetXMLDesc(await conn().domainLookupByName(member))).toContain(NIGHTSHIFT_VM_NS);

    // The settings' HA groups for a VM count as they do for the probes.
    const peer = await agentWith({ NIGHTSHIFT_AGENT_PROBES_HA_GROUPS: JSON.stringify({ "acme-db": [member, "db9"] }) });
    const domains = peer.inventories[0]!.message.domains;
    expect(domains.find((d) => d.name === member)!.maintenance).toEqual({
      group: "acme", roles: ["production", "web"], tested: true, haGroups: ["acme-db", "acme-web"], estimatedMinutes: 45,
    });
    for (const name of [plain, noGroup, "test"]) expect(domains.find((d) => d.name === name), name).not.toHaveProperty("maintenance");
    // Without maintenance.group in its config, the host itself is in no group.
    expect(peer.hellos[0]!.message).not.toHaveProperty("maintenance");
  });

  it("the config's maintenance.group, .roles and .slotLength are sent in hello", async () => {
    const peer = await agentWith({
      NIGHTSHIFT_AGENT_MAINTENANCE_GROUP: "ops",
      NIGHTSHIFT_AGENT_MAINTENANCE_ROLES: "hypervisor, storage",
      NIGHTSHIFT_AGENT_MAINTENANCE_SLOT_LENGTH: "1h",
    });
    expect(peer.hellos[0]!.message.maintenance).toEqual({ group: "ops", roles: ["hypervisor", "storage"], estimatedMinutes: 60 });
  });
});
