/**
 * hook: the operator's script on this hypervisor, with the VM's name as its
 * argument (and NIGHTSHIFT_VM, NIGHTSHIFT_RUN_ID in its environment). Only
 * paths listed in maintenance.hooks run, only if the file is safe to run as
 * the agent (hook-file.ts), and only for a VM defined on this host, with a VM
 * name and run id of a strict shape (hook-args.ts). A non-zero exit is a
 * result for the controller to judge, like a guest command's.
 */
import { StepErrorCodes } from "../../../shared/protocol/steps.js";
import { hookListingRefusal } from "../allowlist.js";
import { StepError } from "../errors.js";
import { checkHookArgs } from "../hook-args.js";
import { hookFileRefusal } from "../hook-file.js";
import { runHook } from "../hook-runner.js";
import type { StepHandler } from "../types.js";
import { lookupVm } from "../vm.js";

export const hookAction: StepHandler<"hook"> = {
  kind: "hook",
  async run(action, ctx) {
    checkHookArgs(action.vm, action.runId, action.path);
    const refusal = hookListingRefusal(ctx.config, action.path) ?? (await hookFileRefusal(action.path));
    if (refusal !== null) throw new StepError(StepErrorCodes.NOT_ALLOWED, `VM ${action.vm}: ${refusal}`);
    // The name libvirt knows, not the controller's string (the same, once the lookup found it).
    const dom = await lookupVm(ctx.libvirt(), action.vm);
    return runHook({ path: action.path, vm: dom.name, runId: action.runId, timeoutMs: action.timeoutMs });
  },
};
