/**
 * inspect: what the VM is now, for planning a run: state, memory, every disk
 * with whether an internal snapshot and a disk-only one can take it, passthrough devices,
 * existing snapshots, and whether the guest agent answers.
 */
import { parseDomainDisks } from "../../libvirt/domain-xml.js";
import { pingWithin } from "../agent-ping.js";
import { classifyDisk, publicDisk } from "../disk-classify.js";
import { parseHostdevs } from "../domain-devices.js";
import type { StepHandler } from "../types.js";
import { lookupVm } from "../vm.js";

/** A guest agent slower than this to answer a ping counts as absent. */
const GUEST_AGENT_PING_MS = 3_000;

export const inspectAction: StepHandler<"inspect"> = {
  kind: "inspect",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    const [state, persistent, info, xml, snapshots] = await Promise.all([
      conn.domainGetState(dom),
      conn.domainIsPersistent(dom),
      conn.domainGetInfo(dom),
      conn.domainGetXMLDesc(dom),
      conn.domainListAllSnapshots(dom),
    ]);
    const guestAgent = state.state === "running" && (await pingWithin(conn, dom, GUEST_AGENT_PING_MS)).ok;
    return {
      uuid: dom.uuid,
      state: state.state,
      stateReason: state.reason,
      persistent,
      memoryKiB: info.memoryKiB,
      disks: parseDomainDisks(xml).map(classifyDisk).map(publicDisk),
      passthrough: parseHostdevs(xml),
      snapshots: snapshots.map((s) => s.name),
      guestAgent,
    };
  },
};
