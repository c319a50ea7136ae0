/** Finding the VM a step is about, with the error the operator needs when it is not there. */
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import type { LibvirtConnection } from "../libvirt/connection.js";
import { isLibvirtError } from "../libvirt/errors.js";
import { ErrorCode } from "../libvirt/protocol.js";
import type { DomainRef } from "../libvirt/remote-types.js";
import { StepError } from "./errors.js";

export async function lookupVm(conn: LibvirtConnection, vm: string): Promise<DomainRef> {
  try {
    return await conn.domainLookupByName(vm);
  } catch (err) {
    if (isLibvirtError(err, ErrorCode.VIR_ERR_NO_DOMAIN)) {
      throw new StepError(StepErrorCodes.NO_VM, `VM ${vm} is not defined on this host (libvirt ${conn.uri}): ` +
        "check the name, or whether it was migrated or undefined since the run was planned", { cause: err });
    }
    throw err;
  }
}

/** Throws NS_ERR_STEP_GUEST_AGENT unless the VM is running: the guest agent only answers in a running guest. */
export async function requireRunning(conn: LibvirtConnection, dom: DomainRef, what: string): Promise<void> {
  const { state, reason } = await conn.domainGetState(dom);
  if (state !== "running") {
    throw new StepError(StepErrorCodes.GUEST_AGENT, `VM ${dom.name} is ${state} (${reason}), so ${what} cannot reach its guest agent; ` +
      "start it first");
  }
}
