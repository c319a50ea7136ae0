/**
 * check-allowed: which of the run's commands and hooks this agent would
 * refuse, so a run is stopped at planning time and not halfway through a
 * window. Nothing runs. A hook counts as refused when it is not listed in
 * maintenance.hooks or when its file fails the safety checks the hook step
 * makes (hook-file.ts), or when the VM's name is not one a hook may be given
 * (hook-args.ts): either way the hook step would refuse it.
 */
import { guestCommandRefusal, hookListingRefusal } from "../allowlist.js";
import { VM_NAME_PATTERN } from "../hook-args.js";
import { hookFileRefusal } from "../hook-file.js";
import type { StepHandler } from "../types.js";

export const checkAllowedAction: StepHandler<"check-allowed"> = {
  kind: "check-allowed",
  async run(action, ctx) {
    // The reasons go back to the controller: the operator reads them in the run, not in this host's log.
    const refusals: { item: string; reason: string }[] = [];
    const deniedCommands: string[] = [];
    for (const command of action.guestCommands) {
      const refusal = guestCommandRefusal(ctx.config, command);
      if (refusal === null) continue;
      deniedCommands.push(command);
      refusals.push({ item: command, reason: refusal });
    }
    const deniedHooks: string[] = [];
    for (const hook of action.hooks) {
      const refusal = hookListingRefusal(ctx.config, hook) ?? (await hookFileRefusal(hook)) ??
        (VM_NAME_PATTERN.test(action.vm) ? null : `hook ${hook}: the VM name ${JSON.stringify(action.vm)} is not one a hook may be given`);
      if (refusal !== null) {
        ctx.log.info({ stepId: ctx.stepId, hook }, refusal);
        deniedHooks.push(hook);
        refusals.push({ item: hook, reason: refusal });
      }
    }
    return { deniedCommands, deniedHooks, refusals };
  },
};
