/**
 * The loop every maintenance procedure runs on. A procedure is a list of
 * phases (a ProcedureDefinition); this drives one subject (a VM of a run)
 * through them:
 *
 *   enter the phase (written to the store first, with its attempt) -> run it ->
 *   follow its result: the next phase, the rollback phase (its reason kept in
 *   the store), or the end (the outcome recorded once).
 *
 * A controller that died mid-phase starts the loop again in the phase the
 * store has, and says so in the evidence; a procedure found `done` returns its
 * outcome. An error no phase expected ends the subject `needs-attention`.
 *
 * The loop knows phases only through the definition it is given, and the store
 * only through the ProcedureRecord: the VM procedure is one definition
 * (vm-phases.ts) and one record (vm-procedure.ts) over this loop.
 *
 * A phase's `describe(spec)` is what the dry run shows for it, and it also
 * decides whether the phase is entered at all: a phase it says is skipped for
 * the spec is passed over for the phase listed after it, so the dry run and
 * the run cannot disagree on which phases a spec has.
 */
import { errorMessage } from "../../shared/errors.js";
import type { RunSpec, VmOutcome } from "../../shared/runs.js";

/** Where a phase sends its subject. */
export type PhaseResult<P extends string> =
  | { next: P }
  | { finish: VmOutcome; reason: string | null }
  | { rollback: string };

/** What the loop hands a phase it enters besides the procedure's context. */
export interface PhaseEntry {
  /** Why the subject is rolled back: the reason of the `{ rollback }` result, or the one kept in the store across a restart. */
  rollbackReason: string;
}

/** What the dry run shows for a phase, for one spec. */
export type PhaseDescription =
  /** The steps the phase takes; `when`: it is entered only if this holds at run time (the spec alone cannot tell). */
  | { steps: string[]; when?: string }
  /** The phase is not entered for this spec, and why. */
  | { skipped: string };

export interface Phase<P extends string, C> {
  readonly name: P;
  run(ctx: C, entry: PhaseEntry): Promise<PhaseResult<P>>;
  describe(spec: RunSpec): PhaseDescription;
}

export interface ProcedureDefinition<P extends string, C> {
  /** For messages ("the VM procedure"). */
  readonly name: string;
  /** In the order they are entered, which is the order the dry run lists them. */
  readonly phases: readonly Phase<P, C>[];
  /** The phase a subject that never started enters first. */
  readonly start: P;
  /** The phase a `{ rollback }` result goes to. */
  readonly rollback: P;
  /** What the dry run shows after the phases: what the end of the procedure does. */
  describeEnd?(spec: RunSpec): string[];
}

/** Checks a definition once, where it is made: names unique, the start and rollback phases among them. */
export function defineProcedure<P extends string, C>(definition: ProcedureDefinition<P, C>): ProcedureDefinition<P, C> {
  const names = definition.phases.map((p) => p.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) throw new Error(`the ${definition.name} lists phase ${twice[0]} twice`);
  for (const p of [definition.start, definition.rollback]) {
    if (!names.includes(p)) throw new Error(`the ${definition.name} does not list its phase ${p}`);
  }
  return Object.freeze({ ...definition, phases: Object.freeze([...definition.phases]) });
}

/** What the loop persists through: for the VM procedure, the VM's row of run_vms and its evidence. */
export interface ProcedureRecord<P extends string> {
  /** Who goes through the procedure, as the evidence names it. */
  readonly subject: string;
  /** Where the store had the subject when the loop started: "pending" (never started), a phase, or "done". */
  readonly phase: P | "pending" | "done";
  /** The reason the store has: a rollback's, when the loop starts in the rollback phase. */
  readonly reason: string | null;
  readonly outcome: VmOutcome | null;
  /** Writes that the subject enters this phase, before any of it runs. */
  enter(phase: P | "done"): void;
  /** Keeps a rollback's reason, so a controller restarted mid-rollback still has it. */
  keepReason(reason: string): void;
  /** The evidence line saying the loop picks the subject up where a controller that stopped left it. */
  noteResume(output: string): void;
  /** Records the outcome unless one is recorded already; returns the one recorded. */
  finish(outcome: VmOutcome, reason: string | null): VmOutcome;
  /** An error no phase expected, for the log. */
  failed(err: unknown): void;
}

/** The phases a run of `spec` may enter, in order (skipped ones left out), with what the dry run shows for each. */
export function describeProcedure<P extends string, C>(definition: ProcedureDefinition<P, C>, spec: RunSpec):
  { phase: P; steps: string[]; when?: string }[] {
  return definition.phases.flatMap((p) => {
    const d = p.describe(spec);
    return "skipped" in d ? [] : [{ phase: p.name, ...d }];
  });
}

/** The dry run's steps for `spec`: each phase's, then the end's. */
export function procedureSteps<P extends string, C>(definition: ProcedureDefinition<P, C>, spec: RunSpec): string[] {
  return [...describeProcedure(definition, spec).flatMap((d) => d.steps), ...(definition.describeEnd?.(spec) ?? [])];
}

/**
 * Drives one subject through the procedure from where its record is, to its outcome. An error no phase
 * expected is logged through the record and the subject ends needs-attention.
 */
export async function runProcedure<P extends string, C>(
  definition: ProcedureDefinition<P, C>, record: ProcedureRecord<P>, ctx: C, spec: RunSpec,
): Promise<VmOutcome> {
  const resumed = record.phase === "pending" ? null : record.phase;
  if (resumed) {
    record.noteResume(`the controller restarted while ${record.subject} was in phase ${resumed}; re-examining it before going on`);
  }
  try {
    return await loop(definition, record, ctx, spec, resumed ?? definition.start);
  } catch (err) {
    record.failed(err);
    return record.finish("needs-attention", `internal error in the controller: ${errorMessage(err)}`);
  }
}

async function loop<P extends string, C>(
  definition: ProcedureDefinition<P, C>, record: ProcedureRecord<P>, ctx: C, spec: RunSpec, start: P | "done",
): Promise<VmOutcome> {
  let rollbackReason = record.reason ?? "a rollback was in progress when the controller restarted";
  let phase = start;
  for (;;) {
    record.enter(phase);
    if (phase === "done") return record.outcome ?? record.finish("needs-attention", "found done without an outcome");
    const entry: PhaseEntry = { rollbackReason };
    const result = await phaseNamed(definition, phase).run(ctx, entry);
    if ("finish" in result) return record.finish(result.finish, result.reason);
    if ("rollback" in result) {
      rollbackReason = result.rollback;
      record.keepReason(rollbackReason);
      phase = definition.rollback;
      continue;
    }
    phase = applicable(definition, result.next, spec);
  }
}

function phaseNamed<P extends string, C>(definition: ProcedureDefinition<P, C>, name: P): Phase<P, C> {
  const phase = definition.phases.find((p) => p.name === name);
  if (!phase) throw new Error(`the ${definition.name} has no phase ${name}`);
  return phase;
}

/** `name`, or when the spec skips it the first phase listed after it that the spec does not skip (passing over never lands on the rollback). */
function applicable<P extends string, C>(definition: ProcedureDefinition<P, C>, name: P, spec: RunSpec): P {
  const phases = definition.phases;
  const at = phases.indexOf(phaseNamed(definition, name));
  for (let i = at; i < phases.length && (i === at || phases[i]!.name !== definition.rollback); i++) {
    if (!("skipped" in phases[i]!.describe(spec))) return phases[i]!.name;
  }
  throw new Error(`the ${definition.name} has no phase to go on with after ${name}, which this run skips`);
}
