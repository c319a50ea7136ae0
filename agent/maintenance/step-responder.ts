/**
 * Between the controller link and the executor: each `step` is handed to the
 * executor and its `step-result` sent on whichever controller session is open
 * when the step finishes, which after a reconnect is not the one that asked.
 * With none open the result is dropped here but kept by the executor: the
 * controller asks again with resume:true and gets it.
 */
import type { Logger } from "../../shared/logging.js";
import type { StepRequest } from "../../shared/protocol/messages.js";
import { StepErrorCodes } from "../../shared/protocol/steps.js";
import type { ControllerSession } from "../daemon/controller-link.js";
import type { StepExecutor, StepOutcome } from "./step-executor.js";

export class StepResponder {
  private session: ControllerSession | null = null;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly executor: StepExecutor, private readonly logger: Logger) {}

  sessionStarted(session: ControllerSession): void {
    this.session = session;
  }

  sessionEnded(): void {
    this.session = null;
  }

  /** Never throws; the answer is sent when the step finishes. */
  onStep(request: StepRequest): void {
    const done = this.executor.handle(request)
      .then((outcome) => this.send(request.id, outcome))
      .catch((err: unknown) => {
        this.logger.error({ stepId: request.id, code: StepErrorCodes.FAILED, err }, "could not answer a step");
      })
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  /** A step frame the agent could not read: answered at once, and not remembered (nothing ran). */
  onInvalidStep(id: string, detail: string): void {
    this.send(id, { ok: false, error: { code: StepErrorCodes.FAILED,
      message: `this agent cannot read step ${id}: ${detail.slice(0, 4000)} (is the controller newer than this agent?); nothing was run` } });
  }

  /** Resolves when every step answer in flight was sent or dropped (for shutdown and tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private send(id: string, outcome: StepOutcome): void {
    const session = this.session;
    if (session?.send({ type: "step-result", id, outcome })) return;
    this.logger.warn({ stepId: id, ok: outcome.ok }, "a step finished while no controller session was open; " +
      "its outcome is kept for when the controller asks again");
  }
}
