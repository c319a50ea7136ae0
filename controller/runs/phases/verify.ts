/** The verify checks after the patch (and the reboot): all pass, the VM succeeded; any fails, it is rolled back. */
import { describeVerify, verify as verifyChecks } from "../verify.js";
import type { VmPhaseDefinition } from "./context.js";
import { firstLine } from "./helpers.js";

export const verify: VmPhaseDefinition = {
  name: "verify",

  async run(ctx) {
    const result = await verifyChecks("verify", ctx.spec, ctx.vm, ctx.runner, ctx.timeouts);
    if (result.pass) return { finish: "succeeded", reason: null };
    if (result.lost) return { finish: "needs-attention", reason: `agent lost during verify: ${result.failed ?? "?"}` };
    return { rollback: `verify failed: ${firstLine(result.failed ?? "?")}` };
  },

  describe(spec) {
    return { steps: [`verify: ${describeVerify(spec).join("; ")}`] };
  },
};
