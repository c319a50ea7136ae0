/**
 * Inventories past the protocol's per-VM limits, from the real agent on the
 * real libvirtd (test driver) to a real controller process: a VM with more
 * disks than one inventory entry carries is sent truncated with a marker, a
 * VM the controller cannot take (a name libvirt's test driver accepts but the
 * protocol does not) is refused on its own, and every other VM of the host is
 * stored and kept up to date.
 */
import { describe, expect, it } from "vitest";
import { diskTarget, testDriverDomainXml } from "../../../helpers/libvirt.js";
import { startController } from "../../../helpers/controller.js";
import { controllerApi } from "../../../helpers/controller-api.js";
import { MAX_DISKS_PER_DOMAIN } from "../../../../shared/protocol/messages.js";
import type { EventRecord, FindingRecord, VmRecord } from "../../../../shared/api.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";
import { testDriverFixture } from "./test-driver-fixture.js";

const { prefix, cleanups, conn } = testDriverFixture("inv");

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("inventory limits, agent to controller", () => {
  it("a VM with 300 disks arrives with 256 and disksTruncated 44; a VM with an over-long name is refused alone; the host's other VMs are stored and updated", async () => {
    const wide = `${prefix}wide`;
    const web = `${prefix}web`;
    // The test driver takes any name length (the qemu driver stops at 247 bytes: its <name>.xml.new file name).
    const long = `${prefix}${"n".repeat(260)}`;
    const disks = Array.from({ length: 300 }, (_, i) => `/var/lib/nightshift-test/${wide}-${diskTarget(i)}.qcow2`);
    // Defined here and removed as soon as the test ends: the test driver's domains are shared by every connection.
    cleanups.push(async () => {
      for (const name of [wide, web, long]) {
        const dom = await conn().domainLookupByName(name).catch(() => null);
        if (dom) await conn().domainUndefine(dom, 0);
      }
    });
    await conn().domainDefineXML(testDriverDomainXml(wide, { disks }));
    await conn().domainDefineXML(testDriverDomainXml(web, { memoryMiB: 128 }));
    await conn().domainDefineXML(testDriverDomainXml(long));
    expect((await conn().domainGetXMLDesc(await conn().domainLookupByName(wide))).match(/<disk /g)).toHaveLength(300);

    const controller = await startController({ config: { agents: { inventoryInterval: "1s", heartbeat: "1s" } } });
    cleanups.push(() => controller.stop());
    const { ok } = controllerApi(() => controller);
    const host = `${prefix}hv`;
    const { token } = await ok<{ token: string }>("POST", "/v1/hosts", { name: host }, 201);
    const dirs = tempAgentDir(token);
    cleanups.push(() => dirs.cleanup());
    const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir,
      env: { NIGHTSHIFT_AGENT_HOST: host } });
    cleanups.push(async () => { await agent.stop(); });

    const vms = () => ok<VmRecord[]>("GET", `/v1/vms?host=${host}`);
    const first = await until("the host's VMs", vms, (list) => list.some((v) => v.name === web)).catch((err: Error) => {
      throw new Error(`${err.message}\n--- controller log ---\n${controller.logs().slice(-4000)}`);
    });
    const stored = first.find((v) => v.name === wide)!;
    expect(stored.disks).toHaveLength(MAX_DISKS_PER_DOMAIN);
    expect(stored.disksTruncated).toBe(300 - MAX_DISKS_PER_DOMAIN);
    expect(stored.disks[0]).toMatchObject({ target: "vda", source: disks[0] });
    expect(first.find((v) => v.name === web)).toMatchObject({ memoryKiB: 128 * 1024 });
    expect(first.map((v) => v.name)).not.toContain(long);
    expect(first.map((v) => v.name)).toContain("test");

    // The refusal is visible: a finding naming the VM, the agent told with a coded error, a metric.
    const findings = await ok<FindingRecord[]>("GET", `/v1/findings?host=${host}`);
    expect(findings).toEqual([expect.objectContaining({ code: "NS_INVENTORY_VM_REFUSED", subject: long, source: "controller" })]);
    expect(findings[0]!.message).toMatch(/name: Too big/);
    await agent.waitForLog((l) => l.controllerCode === "NS_ERR_PROTOCOL_ITEM", "the controller's item refusal");
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    expect(metrics).toMatch(/^nightshift_agent_items_refused_total\{kind="domain"\} [1-9]/m);

    // Later inventories keep the host current: the web VM's new memory size arrives.
    const { uuid } = await conn().domainLookupByName(web);
    await conn().domainDefineXML(testDriverDomainXml(web, { memoryMiB: 256 }).replace("</name>", `</name><uuid>${uuid}</uuid>`));
    await until("the web VM's new memory", vms, (list) => list.find((v) => v.name === web)?.memoryKiB === 256 * 1024);

    // Once the over-long VM is gone, its finding resolves.
    await conn().domainUndefine(await conn().domainLookupByName(long), 0);
    await until("the refusal's finding to resolve", () => ok<FindingRecord[]>("GET", `/v1/findings?host=${host}`), (list) => list.length === 0);
    // Its "undefined" event names it too: refused on its own, kept in the history as it arrived, and acked.
    const refused = await until("the refused event", () => ok<EventRecord[]>("GET", `/v1/events?host=${host}`),
      (list) => list.some((e) => e.event === "event-refused"));
    const entry = refused.find((e) => e.event === "event-refused")!;
    expect(entry).toMatchObject({ kind: "host", vm: long });
    expect(JSON.parse((entry.data as { event: string }).event)).toMatchObject({ domain: long, kind: "lifecycle", event: "undefined" });
  }, 60_000);
});
