/** guest-ping (one ping, timed) and wait-guest-agent (after a start, reboot or revert: ping until it answers). */
import { StepErrorCodes } from "../../../shared/protocol/steps.js";
import { GuestAgent } from "../../libvirt/guest-agent.js";
import { waitForGuestAgent } from "../agent-ping.js";
import type { StepHandler } from "../types.js";
import { lookupVm, requireRunning } from "../vm.js";
import { StepError } from "../errors.js";

export const guestPingAction: StepHandler<"guest-ping"> = {
  kind: "guest-ping",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    await requireRunning(conn, dom, "guest-ping");
    const started = performance.now();
    await new GuestAgent(conn, dom).ping();
    return { durationMs: performance.now() - started };
  },
};

export const waitGuestAgentAction: StepHandler<"wait-guest-agent"> = {
  kind: "wait-guest-agent",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    // A VM that is off will not grow a guest agent however long we wait.
    const { state, reason } = await conn.domainGetState(dom);
    if (state === "shutoff" || state === "crashed") {
      throw new StepError(StepErrorCodes.GUEST_AGENT, `VM ${action.vm} is ${state} (${reason}): its guest agent cannot answer; start it first`);
    }
    const waitedMs = await waitForGuestAgent(conn, dom, { timeoutMs: action.timeoutMs });
    return { waitedMs };
  },
};
