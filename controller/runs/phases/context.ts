/**
 * What every phase of the VM procedure works with: the run's spec, the store,
 * the step runner of this VM (which writes each step's evidence line), and
 * the VM's row of run_vms.
 */
import type { RunSpec, VmPhase } from "../../../shared/runs.js";
import type { Store } from "../../store/index.js";
import type { RunVmRow } from "../../store/runs.js";
import type { StepRunner } from "../step-runner.js";
import type { RunTimeouts } from "../timeouts.js";
import type { Phase, PhaseResult } from "../procedure.js";

/** The phases a VM goes through; "pending" and "done" are where it is before and after them. */
export type VmStepPhase = Exclude<VmPhase, "pending" | "done">;

export type VmPhaseResult = PhaseResult<VmStepPhase>;

export type VmPhaseDefinition = Phase<VmStepPhase, VmPhaseContext>;

export interface VmPhaseContext {
  readonly store: Store;
  readonly spec: RunSpec;
  readonly timeouts: RunTimeouts;
  readonly runName: string;
  readonly runner: StepRunner;
  readonly vm: string;
  /** The VM's row as this procedure knows it: the snapshot phase records the VM's snapshot here, and the end reads it. */
  row: RunVmRow;
  /** Options of a read or check: the quick timeout, safe to repeat. */
  readonly quick: { timeoutMs: number; repeatable: true };
}
