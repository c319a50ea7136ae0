/**
 * The reboot after the patch: `always`, or `if-required` when the guest says so (/run/reboot-required). Like the
 * patch, the reboot itself must not run twice (helpers.ts rebootStep). A failed reboot is rolled back.
 */
import type { VmPhaseDefinition } from "./context.js";
import { rebootStep } from "./helpers.js";

export const reboot: VmPhaseDefinition = {
  name: "reboot",

  async run(ctx) {
    const { spec, runner, vm, quick } = ctx;
    // A reboot already picked (before a restart) was decided on: it is resumed, not asked about again.
    if (spec.reboot === "if-required" && !runner.keptStep()) {
      let required = false;
      const asked = await runner.run("reboot", "required", `reboot-required ${vm}`, { kind: "reboot-required", vm }, quick, (r) => {
        required = r.required;
        return { pass: true, result: "INFO", output: `${r.required ? "reboot required" : "no reboot required"} (${r.detail})` };
      });
      if (!asked.pass) {
        return asked.lost ? { finish: "needs-attention", reason: `agent lost after the patch: ${asked.detail}` }
          : { rollback: `could not tell whether the patched guest needs a reboot: ${asked.detail}` };
      }
      if (!required) return { next: "verify" };
    }
    const rebooted = await rebootStep(ctx, "reboot");
    if (!rebooted.pass) {
      return rebooted.lost ? { finish: "needs-attention", reason: `agent lost during the reboot after the patch: ${rebooted.detail}` }
        : { rollback: `reboot after the patch failed: ${rebooted.detail}` };
    }
    return { next: "verify" };
  },

  describe(spec) {
    if (spec.reboot === "never") return { skipped: "reboot: never" };
    return { steps: [`reboot: ${spec.reboot}, then wait for the guest agent`] };
  },
};
