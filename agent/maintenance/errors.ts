/**
 * The errors a step ends with. Each carries one of the protocol's
 * StepErrorCodes, because the controller's run engine acts on the code (a
 * timeout is retried or rolled back, a refusal is shown to the operator); the
 * message is for the operator and names the VM, the command or the config key.
 */
import { NightshiftError, errorMessage } from "../../shared/errors.js";
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import {
  ConnectionInterruptedError, GuestAgentError, GuestExecTimeoutError, LibvirtConnectError, LibvirtError, isAgentUnresponsive,
  isLibvirtError,
} from "../libvirt/errors.js";
import { ErrorCode } from "../libvirt/protocol.js";

export type StepErrorCode = (typeof StepErrorCodes)[keyof typeof StepErrorCodes];

/** The protocol caps error messages at 8192 characters; longer ones would make the whole frame invalid. */
export const MAX_ERROR_MESSAGE = 8192;

export class StepError extends NightshiftError {
  declare readonly code: StepErrorCode;

  constructor(code: StepErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Turns whatever a step threw into a StepError. Actions throw StepErrors for
 * the cases they know; this maps the rest (libvirt and guest-agent errors that
 * can surface from any call) and says which VM it was about.
 */
export function toStepError(err: unknown, vm: string): StepError {
  if (err instanceof StepError) return err;
  if (err instanceof GuestExecTimeoutError) {
    return new StepError(StepErrorCodes.TIMEOUT, `VM ${vm}: ${err.message}; it may still be running in the guest`, { cause: err });
  }
  if (err instanceof GuestAgentError) {
    return new StepError(StepErrorCodes.GUEST_AGENT, `VM ${vm}: ${err.message}`, { cause: err });
  }
  if (isLibvirtError(err, ErrorCode.VIR_ERR_NO_DOMAIN)) {
    return new StepError(StepErrorCodes.NO_VM, `VM ${vm} is not defined on this host: ${errorMessage(err)}`, { cause: err });
  }
  if (isAgentUnresponsive(err)) {
    return new StepError(StepErrorCodes.GUEST_AGENT, `the guest agent of VM ${vm} did not answer: ${errorMessage(err)}; ` +
      "check that qemu-guest-agent runs in the guest and that the domain has the org.qemu.guest_agent.0 channel", { cause: err });
  }
  if (err instanceof LibvirtError && err.libvirtCode === ErrorCode.VIR_ERR_OPERATION_INVALID && /not running/.test(err.message)) {
    return new StepError(StepErrorCodes.GUEST_AGENT, `VM ${vm} is not running, so its guest agent cannot answer: ${err.message}`, { cause: err });
  }
  if (err instanceof ConnectionInterruptedError || err instanceof LibvirtConnectError) {
    return new StepError(StepErrorCodes.LIBVIRT, `VM ${vm}: ${err.message}; the agent reconnects by itself, ask again (resume) later`,
      { cause: err });
  }
  if (err instanceof LibvirtError) {
    return new StepError(StepErrorCodes.LIBVIRT, `VM ${vm}: ${err.message}`, { cause: err });
  }
  return new StepError(StepErrorCodes.FAILED, `VM ${vm}: ${errorMessage(err)}`, { cause: err });
}

/** The protocol's error payload, message cut to what the frame allows. */
export function errorPayload(err: StepError): { code: string; message: string } {
  const cut = " ... [truncated]";
  const message = err.message.length > MAX_ERROR_MESSAGE ? err.message.slice(0, MAX_ERROR_MESSAGE - cut.length) + cut : err.message;
  return { code: err.code, message };
}
