/**
 * Runs one agent step for one VM of a run and writes its evidence line:
 * the exact command, PASS/FAIL, output excerpt and duration. Step ids are
 * derived from the run, the VM's position, the phase, the phase's attempt and
 * a counter, so the same step asked again after a restart has the same id.
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

  /** The id the n-th step of an earlier attempt of a phase had (to resume it). */
  stepId(phase: string, attempt: number, n: number): string {
    return `${this.target.runId}:${this.target.position}:${phase}:${attempt}:${n}`;
  }

  async run<K extends StepKind>(
    step: string, check: string, command: string,
    action: Extract<StepAction, { kind: K }>, options: CallOptions & { resumeId?: string },
    judge: (result: StepResultOf<K>) => Verdict,
  ): Promise<StepOutcome<StepResultOf<K>>> {
    const id = options.resumeId ?? this.stepId(this.phase, this.attempt, ++this.counter);
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
