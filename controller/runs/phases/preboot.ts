/**
 * A reboot before any change, for a guest up longer than rebootIfOlderThan (the pre-check decides), so a guest that
 * cannot boot is found now, not blamed on the patch.
 */
import { verify } from "../verify.js";
import type { VmPhaseDefinition } from "./context.js";
import { rebootStep } from "./helpers.js";

export const preboot: VmPhaseDefinition = {
  name: "preboot",

  async run(ctx) {
    const rebooted = await rebootStep(ctx, "preboot");
    if (!rebooted.pass) {
      return { finish: "needs-attention", reason: `precautionary reboot before patching failed: ${rebooted.detail} (nothing was patched)` };
    }
    const after = await verify("preboot", ctx.spec, ctx.vm, ctx.runner, ctx.timeouts);
    if (!after.pass) {
      return { finish: "needs-attention", reason: `verify failed after the precautionary reboot, before any change: ${after.failed ?? "?"}` };
    }
    return { next: "snapshot" };
  },

  describe(spec) {
    if (!spec.rebootIfOlderThan) return { skipped: "no rebootIfOlderThan" };
    return {
      steps: [`precautionary reboot and verify if up longer than ${spec.rebootIfOlderThan}`],
      when: `the guest is up longer than ${spec.rebootIfOlderThan}`,
    };
  },
};
