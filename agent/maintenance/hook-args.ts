/**
 * What a hook may be handed. A hook is the operator's script, run as root,
 * and it gets the step's VM name as argv[1] and in NIGHTSHIFT_VM, and the run
 * id in NIGHTSHIFT_RUN_ID. Both come from the controller, so both are held to
 * a shape no script can misread, whatever it does with them (`ssh "$1"`,
 * `eval`, an unquoted `$NIGHTSHIFT_RUN_ID`, a path built from them):
 *
 * - VM name: VM_NAME_PATTERN, letters, digits, '.', '_' and '-', 1 to 200
 *   characters, beginning with a letter, digit or '_'. So never an option
 *   ('-oProxyCommand=...'), never '.' or '..', no '/', no white space, no
 *   control characters, no shell metacharacters, no ':' (scp and rsync read
 *   `host:path`). A VM named otherwise cannot be patched by a hook.
 * - run id: the controller's own format, shared/ids.ts RUN_ID_PATTERN.
 *
 * The VM must also be defined on this host (the hook step looks it up in
 * libvirt): a hook is never run for a name that is not a VM here.
 */
import { RUN_ID_PATTERN } from "../../shared/ids.js";
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import { StepError } from "./errors.js";

export const VM_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/** Throws NS_ERR_STEP_BAD_VM_NAME or NS_ERR_STEP_BAD_RUN_ID unless both may be handed to a hook. */
export function checkHookArgs(vm: string, runId: string, hookPath: string): void {
  if (!VM_NAME_PATTERN.test(vm)) {
    throw new StepError(StepErrorCodes.BAD_VM_NAME, `hook ${hookPath} was not run: the VM name ${JSON.stringify(vm)} is not one a ` +
      "hook may be given (letters, digits, '.', '_' and '-', at most 200 characters, not beginning with '.' or '-')");
  }
  if (!RUN_ID_PATTERN.test(runId)) {
    throw new StepError(StepErrorCodes.BAD_RUN_ID, `hook ${hookPath} for VM ${vm} was not run: ${JSON.stringify(runId)} is not a ` +
      "nightshift run id (like 20261123-020501-3fa9)");
  }
}
