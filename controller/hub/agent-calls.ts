/**
 * Request/response over the agent WebSocket: `step` out, one `step-result`
 * back, matched by the step id.
 *
 * Steps outlive connections. A step whose agent disconnects keeps waiting;
 * when the agent reconnects the request is sent again with `resume: true`, so
 * the agent answers from the execution it already has instead of doing the
 * work twice. An agent that restarted does not know the id: a step that is
 * safe to repeat (`repeatable`) is then simply sent again, any other fails with
 * StepOutcomeUnknownError and the caller decides (a patch is rolled back).
 * A host that stays away longer than `agentLostTimeoutMs` fails the step with
 * AgentLostError: the caller must treat the VM as in an unknown state. A
 * connected agent that does not answer within the step's time limit fails it
 * with StepNoAnswerError (NS_ERR_STEP_NO_ANSWER), which is not the agent's own
 * NS_ERR_STEP_TIMEOUT (an operation on the agent outlived its limit).
 */
import { NightshiftError } from "../../shared/errors.js";
import { isErrorCode, type ErrorCode } from "../../shared/error-codes.js";
import type { Logger } from "../../shared/logging.js";
import type { StepResultMessage } from "../../shared/protocol/messages.js";
import { StepErrorCodes, StepResultSchemas, type StepAction, type StepKind, type StepResultOf } from "../../shared/protocol/steps.js";
import type { Unversioned } from "../../shared/protocol/codec.js";
import type { ControllerMessage } from "../../shared/protocol/messages.js";

/** The agent ran the step and it failed; `code` is the agent's (NS_ERR_STEP_*). */
export class StepFailedError extends NightshiftError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
  }

  /** The agent's answer as it came over the wire: a code this controller does not know becomes NS_ERR_STEP_FAILED, named in the message. */
  static fromAgent(error: { code: string; message: string }): StepFailedError {
    if (isErrorCode(error.code)) return new StepFailedError(error.code, error.message);
    return new StepFailedError("NS_ERR_STEP_FAILED", `${error.message} (the agent answered ${error.code}, a code this controller does not know)`);
  }
}

/** The agent could not be reached for long enough that what happened to the VM is unknown. */
export class AgentLostError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_AGENT_LOST", message);
  }
}

/** The agent was connected but sent no result within the step's time limit. */
export class StepNoAnswerError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_STEP_NO_ANSWER", message);
  }
}

/** A non-repeatable step was interrupted and its agent no longer knows it: it may or may not have run. */
export class StepOutcomeUnknownError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_STEP_OUTCOME_UNKNOWN", message);
  }
}

export interface StepChannel {
  send(message: Unversioned<ControllerMessage>): void;
}

export interface CallOptions {
  /** How long the step may take once the agent has it. */
  timeoutMs: number;
  /** Safe to run again if the agent lost track of it (reads, idempotent operations). */
  repeatable: boolean;
  /** Ask only about an earlier execution of this id (after a controller restart); never start it. */
  resumeOnly?: boolean;
  /**
   * Called just before the request first goes out (never for resumeOnly), so the caller can record that
   * the agent may have it; if it throws, the step fails with that error and nothing is sent.
   */
  beforeFirstSend?: () => void;
}

interface PendingStep {
  id: string;
  hostId: number;
  hostName: string;
  action: StepAction;
  options: CallOptions;
  /** True once a request went out; a re-send after a reconnect then asks with resume. */
  sent: boolean;
  resolve(result: unknown): void;
  reject(err: Error): void;
  stepTimer: NodeJS.Timeout | null;
  lostTimer: NodeJS.Timeout | null;
}

export interface AgentCallsOptions {
  /** How long a step waits for its host's agent to (re)connect. */
  agentLostTimeoutMs: number;
  log: Logger;
}

export class AgentCalls {
  private readonly pending = new Map<string, PendingStep>();
  private readonly channels = new Map<number, StepChannel>();

  constructor(private readonly options: AgentCallsOptions) {}

  /** Called when a host's agent has been welcomed; outstanding steps for it are (re)sent. */
  sessionStarted(hostId: number, channel: StepChannel): void {
    this.channels.set(hostId, channel);
    for (const step of this.pending.values()) {
      if (step.hostId !== hostId) continue;
      if (step.lostTimer) clearTimeout(step.lostTimer);
      step.lostTimer = null;
      this.send(step, channel);
    }
  }

  sessionEnded(hostId: number, channel: StepChannel): void {
    if (this.channels.get(hostId) !== channel) return;
    this.channels.delete(hostId);
    for (const step of this.pending.values()) {
      if (step.hostId === hostId) this.startLostTimer(step);
    }
  }

  isConnected(hostId: number): boolean {
    return this.channels.has(hostId);
  }

  call<K extends StepKind>(hostId: number, hostName: string, id: string, action: Extract<StepAction, { kind: K }>,
    options: CallOptions): Promise<StepResultOf<K>> {
    if (this.pending.has(id)) return Promise.reject(new Error(`step ${id} is already outstanding`));
    return new Promise<StepResultOf<K>>((resolve, reject) => {
      const step: PendingStep = {
        id, hostId, hostName, action, options, sent: options.resumeOnly ?? false,
        resolve: resolve as (r: unknown) => void, reject, stepTimer: null, lostTimer: null,
      };
      this.pending.set(id, step);
      const channel = this.channels.get(hostId);
      if (channel) this.send(step, channel);
      else this.startLostTimer(step);
    });
  }

  /** A `step-result` from a host's agent. */
  result(hostId: number, message: StepResultMessage): void {
    const step = this.pending.get(message.id);
    if (!step || step.hostId !== hostId) {
      this.options.log.debug({ id: message.id, hostId }, "step result for no outstanding step (answered already or timed out)");
      return;
    }
    const { outcome } = message;
    if (!outcome.ok) {
      if (outcome.error.code === StepErrorCodes.UNKNOWN && step.sent) {
        if (step.options.repeatable && !step.options.resumeOnly) {
          // The agent restarted and lost it; a read or idempotent step just runs again.
          step.sent = false;
          const channel = this.channels.get(hostId);
          if (channel) this.send(step, channel);
          return;
        }
        this.settle(step, new StepOutcomeUnknownError(`the agent on ${step.hostName} no longer knows step ${step.id} ` +
          `(${describe(step.action)}): it restarted while the step ran, so whether it completed is unknown`));
        return;
      }
      this.settle(step, StepFailedError.fromAgent(outcome.error));
      return;
    }
    const parsed = StepResultSchemas[step.action.kind].safeParse(outcome.result);
    if (!parsed.success) {
      this.settle(step, new StepFailedError("NS_ERR_STEP_RESULT", `the agent on ${step.hostName} answered ${describe(step.action)} ` +
        `with a result this controller cannot read: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`));
      return;
    }
    this.settle(step, undefined, parsed.data);
  }

  /**
   * Drops every outstanding step without settling it (controller shutdown):
   * nothing is recorded about them, and the next start re-examines their VMs.
   */
  abandonAll(): void {
    for (const step of this.pending.values()) {
      if (step.stepTimer) clearTimeout(step.stepTimer);
      if (step.lostTimer) clearTimeout(step.lostTimer);
    }
    this.pending.clear();
  }

  private send(step: PendingStep, channel: StepChannel): void {
    if (!step.sent && step.options.beforeFirstSend) {
      try {
        step.options.beforeFirstSend();
      } catch (err) {
        this.settle(step, err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
    channel.send({ type: "step", id: step.id, resume: step.sent, action: step.action });
    step.sent = true;
    if (step.stepTimer) clearTimeout(step.stepTimer);
    step.stepTimer = setTimeout(() => {
      this.settle(step, new StepNoAnswerError(`${describe(step.action)} on ${step.hostName} did not answer within ` +
        `${Math.round(step.options.timeoutMs / 1000)} s`));
    }, step.options.timeoutMs);
  }

  private startLostTimer(step: PendingStep): void {
    if (step.stepTimer) clearTimeout(step.stepTimer);
    step.stepTimer = null;
    if (step.lostTimer) return;
    const seconds = Math.round(this.options.agentLostTimeoutMs / 1000);
    step.lostTimer = setTimeout(() => {
      this.settle(step, new AgentLostError(`the agent on ${step.hostName} was not connected for ${seconds} s during ` +
        `${describe(step.action)}: what happened to ${step.action.vm} is unknown`));
    }, this.options.agentLostTimeoutMs);
  }

  private settle(step: PendingStep, err: Error | undefined, result?: unknown): void {
    if (this.pending.get(step.id) !== step) return;
    this.pending.delete(step.id);
    if (step.stepTimer) clearTimeout(step.stepTimer);
    if (step.lostTimer) clearTimeout(step.lostTimer);
    if (err) step.reject(err);
    else step.resolve(result);
  }
}

export function describe(action: StepAction): string {
  return `${action.kind} ${action.vm}`;
}
