/** guest-exec: an operator-approved command line in the guest (see allowlist.ts for what "approved" means). */
import { StepErrorCodes } from "../../../shared/protocol/steps.js";
import { guestCommandRefusal } from "../allowlist.js";
import { StepError } from "../errors.js";
import { runGuestShell } from "../guest-shell.js";
import type { StepHandler } from "../types.js";
import { lookupVm, requireRunning } from "../vm.js";

export const guestExecAction: StepHandler<"guest-exec"> = {
  kind: "guest-exec",
  async run(action, ctx) {
    // Refused before libvirt is even asked: nothing about an unlisted command depends on the VM.
    const refusal = guestCommandRefusal(ctx.config, action.command);
    if (refusal !== null) throw new StepError(StepErrorCodes.NOT_ALLOWED, `VM ${action.vm}: ${refusal}`);
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    await requireRunning(conn, dom, "guest-exec");
    return runGuestShell(conn, dom, action.command, action.timeoutMs);
  },
};
