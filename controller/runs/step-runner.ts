/**
 * Runs one agent step for one VM of a run and writes its evidence line:
 * the exact command, PASS/FAIL, output excerpt and duration. Step ids are
 * made of the run, the VM's position, the phase, the phase's attempt and a
 * counter, so no two steps of a VM share one.
 *
 * A step that must not run twice (the patch, a reboot; one per phase) goes
 * through `once`: its id is kept in the store before the request goes out and
 * marked sent as it goes, and a controller that restarted, however often,
 * takes the kept id and never makes a new one, so it asks the agent about the
 * execution that exists.
 */
import type { StepAction, StepKind, StepResultOf } from "../../shared/protocol/steps.js";
import type { EvidenceResult } from "../../shared/runs.js";
import type { RunStore } from "../store/runs.js";
import { AgentLostError, type AgentCalls, type CallOptions } from "../hub/agent-calls.js";
import { errorMessage } from "../../shared/errors.js";

export interface Verdict {
  pass: boolean;
  output: string;
  /** Overrides PASS/FAIL for informational lines (INFO, WARN). */
  result?: EvidenceResult;
}

export type StepOutcome<R> =
  | { pass: true; result: R }
  | { pass: false; result?: R; error?: Error; lost: boolean; detail: string };

export interface StepTarget {
  runId: string;
  position: number;
  hostId: number;
  host: string;
  vm: string;
}

export class StepRunner {
  private phase = "";
  private attempt = 0;
  private counter = 0;

  constructor(
    private readonly target: StepTarget,
    private readonly calls: AgentCalls,
    private readonly runs: RunStore,
  ) {}

  /** Step ids from here on belong to this phase attempt. */
  enter(phase: string, attempt: number): void {
    this.phase = phase;
    this.attempt = attempt;
    this.counter = 0;
  }

  private nextId(): string {
    return `${this.target.runId}:${this.target.position}:${this.phase}:${this.attempt}:${++this.counter}`;
  }

  /** The phase's step that must not run twice, when one was picked (in this process or before a restart). */
  keptStep(): { id: string; sent: boolean } | null {
    return this.runs.keptStep(this.target.runId, this.target.position);
  }

  /**
   * The phase's step that must not run twice. Kept and maybe sent before a restart: asked for with
   * `resume` only (`resumed: true`); the agent answers from its execution, or, if it does not know the
   * id, the step fails with StepOutcomeUnknownError. Kept but never sent: sent now under the kept id.
   * Otherwise a new id is kept first, then sent.
   */
  async once<K extends StepKind>(
    step: string, check: string, command: string,
    action: Extract<StepAction, { kind: K }>, options: { timeoutMs: number; resumeCommand?: string },
    judge: (result: StepResultOf<K>) => Verdict,
  ): Promise<StepOutcome<StepResultOf<K>> & { resumed: boolean }> {
    const { runId, position } = this.target;
    const kept = this.keptStep();
    if (kept?.sent) {
      const outcome = await this.run(step, check, options.resumeCommand ?? command, action,
        { timeoutMs: options.timeoutMs, repeatable: false, resumeOnly: true, id: kept.id }, judge);
      return { ...outcome, resumed: true };
    }
    const id = kept?.id ?? this.nextId();
    if (kept) this.note(step, check, "INFO", `step ${id} was picked before the controller restarted but never sent: sending it now`);
    else this.runs.keepStep(runId, position, id, Date.now());
    const outcome = await this.run(step, check, command, action, {
      timeoutMs: options.timeoutMs, repeatable: false, id,
      beforeFirstSend: () => this.runs.stepSent(runId, position, id, Date.now()),
    }, judge);
    return { ...outcome, resumed: false };
  }

  async run<K extends StepKind>(
    step: string, check: string, command: string,
    action: Extract<StepAction, { kind: K }>, options: CallOptions & { id?: string },
    judge: (result: StepResultOf<K>) => Verdict,
  ): Promise<StepOutcome<StepResultOf<K>>> {
    const id = options.id ?? this.nextId();
    const started = Date.now();
    try {
      const result = await this.calls.call<K>(this.target.hostId, this.target.host, id, action, options);
      const verdict = judge(result);
      this.record(step, check, command, verdict.result ?? (verdict.pass ? "PASS" : "FAIL"), verdict.output, started);
      return verdict.pass ? { pass: true, result } : { pass: false, result, lost: false, detail: verdict.output };
    } catch (err) {
      const error = err as Error;
      const code = (error as { code?: string }).code;
      const detail = `${errorMessage(error)}${code ? ` (${code})` : ""}`;
      this.record(step, check, command, "FAIL", detail, started);
      return { pass: false, error, lost: error instanceof AgentLostError, detail };
    }
  }

  /** A check the controller makes itself (HTTP), recorded like a step. */
  async local(step: string, check: string, command: string, fn: () => Promise<Verdict>): Promise<StepOutcome<null>> {
    const started = Date.now();
    let verdict: Verdict;
    try {
      verdict = await fn();
    } catch (err) {
      verdict = { pass: false, output: errorMessage(err) };
    }
    this.record(step, check, command, verdict.result ?? (verdict.pass ? "PASS" : "FAIL"), verdict.output, started);
    return verdict.pass ? { pass: true, result: null } : { pass: false, lost: false, detail: verdict.output };
  }

  /** An evidence line that is not a step (decisions, outcomes). */
  note(step: string, check: string, result: EvidenceResult, output: string, command = ""): void {
    this.record(step, check, command, result, output, Date.now());
  }

  private record(step: string, check: string, command: string, result: EvidenceResult, output: string, started: number): void {
    this.runs.addEvidence({
      runId: this.target.runId, time: started, vm: this.target.vm, host: this.target.host,
      step, check, command, result, output, durationMs: Date.now() - started,
    });
  }
}
