/**
 * reboot: a clean reboot through the guest agent (the guest's own `reboot`,
 * services stopped in order), confirmed by libvirt's reboot event and then by
 * the guest agent answering from the new boot.
 *
 * The event subscription is made before the reboot is asked for: a fast guest
 * resets within milliseconds, and an event raised before we listen is gone.
 */
import { StepErrorCodes } from "../../../shared/protocol/steps.js";
import type { EventStream } from "../../libvirt/event-stream.js";
import type { DomainEvent } from "../../libvirt/events.js";
import { DomainRebootFlags } from "../../libvirt/protocol.js";
import { waitForGuestAgent } from "../agent-ping.js";
import { StepError } from "../errors.js";
import type { StepHandler } from "../types.js";
import { lookupVm, requireRunning } from "../vm.js";

type Outcome = { rebooted: true } | { rebooted: false; why: string } | "timeout";

/** Waits for the reboot event, or for the VM stopping instead, or for the deadline. */
async function rebootEvent(events: EventStream<DomainEvent>, deadline: number): Promise<Outcome> {
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return "timeout";
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      events.next(),
      new Promise<"timeout">((resolve) => { timer = setTimeout(() => resolve("timeout"), left); }),
    ]);
    clearTimeout(timer);
    if (next === "timeout") return "timeout";
    if (next.done) return { rebooted: false, why: `the libvirt event stream ended (${events.reason?.message ?? "closed"})` };
    const event = next.value;
    if (event.kind === "reboot") return { rebooted: true };
    // With on_reboot=destroy a guest reboot stops the VM; a crash stops it too.
    if (event.kind === "lifecycle" && (event.event === "stopped" || event.event === "crashed")) {
      return { rebooted: false, why: `the VM ${event.event} (${event.detail}) instead of rebooting; check <on_reboot> in its domain XML` };
    }
  }
}

export const rebootAction: StepHandler<"reboot"> = {
  kind: "reboot",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    await requireRunning(conn, dom, "reboot");
    const subscription = await conn.domainEvents(["reboot", "lifecycle"], dom);
    try {
      const started = performance.now();
      const deadline = started + action.timeoutMs;
      await conn.domainReboot(dom, DomainRebootFlags.GUEST_AGENT);
      const outcome = await rebootEvent(subscription.events, deadline);
      if (outcome === "timeout") {
        throw new StepError(StepErrorCodes.TIMEOUT, `VM ${action.vm}: no reboot within ${action.timeoutMs} ms after the guest agent was ` +
          "asked to reboot (libvirt raised no reboot event); the guest may hang while shutting down: look at its console");
      }
      if (!outcome.rebooted) throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm}: ${outcome.why}`);
      const resetAt = performance.now();
      ctx.log.debug({ stepId: ctx.stepId, vm: action.vm, resetAfterMs: Math.round(resetAt - started) }, "reboot event received");
      await waitForGuestAgent(conn, dom, {
        timeoutMs: Math.max(1, deadline - resetAt),
        what: `after the reboot (reset ${Math.round(resetAt - started)} ms after asking) `,
      });
      return { rebootedInMs: performance.now() - started };
    } finally {
      await subscription.close().catch(() => {});
    }
  },
};
