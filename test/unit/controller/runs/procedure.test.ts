/**
 * The phase loop (controller/runs/procedure.ts) with a made-up procedure over an in-memory record: which phases are
 * entered and persisted, where results lead, what a resumed loop does, and the dry run's view of the same list.
 */
import { describe, expect, it } from "vitest";
import { RunSpecSchema, VM_PHASES, type RunSpec, type VmOutcome } from "../../../../shared/runs.js";
import {
  defineProcedure, describeProcedure, procedureSteps, runProcedure,
  type Phase, type PhaseResult, type ProcedureDefinition, type ProcedureRecord,
} from "../../../../controller/runs/procedure.js";
import { VM_PROCEDURE } from "../../../../controller/runs/vm-phases.js";

type Name = "first" | "optional" | "second" | "undo";

/** What each phase does when entered: its script, given the reason it was entered with. */
interface Ctx {
  script: Partial<Record<Name, (rollbackReason: string) => PhaseResult<Name>>>;
  ran: string[];
}

const phase = (name: Name, describe: Phase<Name, Ctx>["describe"] = () => ({ steps: [`${name} step`] })): Phase<Name, Ctx> => ({
  name,
  run: async (ctx, entry) => {
    ctx.ran.push(name);
    const step = ctx.script[name];
    if (!step) throw new Error(`phase ${name} has no script`);
    return step(entry.rollbackReason);
  },
  describe,
});

/** Entered only for a run that reboots (the flag a real phase would read); the rollback is entered only on failure. */
const FAKE: ProcedureDefinition<Name, Ctx> = defineProcedure<Name, Ctx>({
  name: "test procedure",
  phases: [
    phase("first"),
    phase("optional", (spec) => spec.reboot === "never" ? { skipped: "reboot: never" } : { steps: ["optional step"] }),
    phase("second"),
    phase("undo", () => ({ steps: ["undo step"], when: "second fails" })),
  ],
  start: "first",
  rollback: "undo",
  describeEnd: (spec) => [`keep ${spec.keepSnapshots}`],
});

const spec = (extra: Record<string, unknown> = {}): RunSpec => RunSpecSchema.parse({ vms: ["vm1"], patch: { exec: "x" }, ...extra });

class FakeRecord implements ProcedureRecord<Name> {
  readonly subject = "vm1";
  readonly log: string[] = [];
  finished: { outcome: VmOutcome; reason: string | null } | null = null;
  errors: unknown[] = [];

  constructor(readonly phase: Name | "pending" | "done" = "pending", readonly reason: string | null = null,
    readonly outcome: VmOutcome | null = null) {}

  enter(phase: Name | "done"): void { this.log.push(`enter ${phase}`); }
  keepReason(reason: string): void { this.log.push(`reason ${reason}`); }
  noteResume(output: string): void { this.log.push(`note ${output}`); }
  failed(err: unknown): void { this.errors.push(err); }
  finish(outcome: VmOutcome, reason: string | null): VmOutcome {
    this.log.push(`finish ${outcome}${reason === null ? "" : ` (${reason})`}`);
    this.finished ??= { outcome, reason };
    return this.finished.outcome;
  }
}

async function drive(record: FakeRecord, script: Ctx["script"], s: RunSpec = spec(), definition = FAKE) {
  const ctx: Ctx = { script, ran: [] };
  const outcome = await runProcedure(definition, record, ctx, s);
  return { outcome, ran: ctx.ran, log: record.log };
}

describe("the phase loop", () => {
  it("a fresh subject enters the start phase, follows { next } and ends at { finish }; each phase is persisted before it runs", async () => {
    const record = new FakeRecord();
    const result = await drive(record, { first: () => ({ next: "second" }), second: () => ({ finish: "succeeded", reason: null }) });
    expect(result).toEqual({ outcome: "succeeded", ran: ["first", "second"], log: ["enter first", "enter second", "finish succeeded"] });
  });

  it("{ finish } in the first phase ends there: nothing after it is entered", async () => {
    const result = await drive(new FakeRecord(), { first: () => ({ finish: "skipped", reason: "pre-check failed" }) });
    expect(result).toEqual({ outcome: "skipped", ran: ["first"], log: ["enter first", "finish skipped (pre-check failed)"] });
  });

  it("{ rollback } keeps its reason in the store, then enters the rollback phase with it", async () => {
    const result = await drive(new FakeRecord(), {
      first: () => ({ next: "second" }),
      second: () => ({ rollback: "verify failed" }),
      undo: (reason) => ({ finish: "rolled-back", reason }),
    });
    expect(result).toEqual({
      outcome: "rolled-back", ran: ["first", "second", "undo"],
      log: ["enter first", "enter second", "reason verify failed", "enter undo", "finish rolled-back (verify failed)"],
    });
  });

  it("a phase the spec skips is passed over for the next listed one, and is never entered", async () => {
    const script: Ctx["script"] = {
      first: () => ({ next: "optional" }), optional: () => ({ next: "second" }), second: () => ({ finish: "succeeded", reason: null }),
    };
    expect((await drive(new FakeRecord(), script, spec({ reboot: "never" }))).ran).toEqual(["first", "second"]);
    expect((await drive(new FakeRecord(), script, spec({ reboot: "always" }))).ran).toEqual(["first", "optional", "second"]);
  });

  it("passing over never lands on the rollback phase: the subject needs attention", async () => {
    const definition = defineProcedure<Name, Ctx>({ ...FAKE, phases: FAKE.phases.filter((p) => p.name !== "second") });
    const record = new FakeRecord();
    const result = await drive(record, { first: () => ({ next: "optional" }) }, spec({ reboot: "never" }), definition);
    expect(result.ran).toEqual(["first"]);
    expect(record.finished).toEqual({ outcome: "needs-attention",
      reason: "internal error in the controller: the test procedure has no phase to go on with after optional, which this run skips" });
  });

  it("resumed in a phase: notes the restart, enters that phase again (a new attempt) and goes on from it", async () => {
    const result = await drive(new FakeRecord("second"), { second: () => ({ finish: "succeeded", reason: null }) });
    expect(result).toEqual({
      outcome: "succeeded", ran: ["second"],
      log: ["note the controller restarted while vm1 was in phase second; re-examining it before going on", "enter second", "finish succeeded"],
    });
  });

  it("resumed in the rollback phase: rolls back with the reason the store kept, or says a rollback was under way", async () => {
    const undo = { undo: (reason: string) => ({ finish: "rolled-back", reason }) as const };
    const kept = await drive(new FakeRecord("undo", "patch failed: exit 1"), undo);
    expect(kept.log.slice(1)).toEqual(["enter undo", "finish rolled-back (patch failed: exit 1)"]);
    const lost = await drive(new FakeRecord("undo", null), undo);
    expect(lost.log.slice(1)).toEqual(["enter undo", "finish rolled-back (a rollback was in progress when the controller restarted)"]);
  });

  it("found done: returns the outcome it has without finishing again; done without an outcome needs attention", async () => {
    expect(await drive(new FakeRecord("done", null, "succeeded"), {})).toEqual({
      outcome: "succeeded", ran: [],
      log: ["note the controller restarted while vm1 was in phase done; re-examining it before going on", "enter done"],
    });
    const empty = await drive(new FakeRecord("done"), {});
    expect(empty.outcome).toBe("needs-attention");
    expect(empty.log.at(-1)).toBe("finish needs-attention (found done without an outcome)");
  });

  it("an error no phase expected: logged, and the subject needs attention", async () => {
    const record = new FakeRecord();
    const result = await drive(record, { first: () => { throw new Error("boom"); } });
    expect(result.outcome).toBe("needs-attention");
    expect(record.finished).toEqual({ outcome: "needs-attention", reason: "internal error in the controller: boom" });
    expect(record.errors).toEqual([new Error("boom")]);
  });

  it("a phase the definition does not list (a result naming one, or a store written by another version) needs attention", async () => {
    const record = new FakeRecord();
    await drive(record, { first: () => ({ next: "elsewhere" as Name }) });
    expect(record.finished?.reason).toBe("internal error in the controller: the test procedure has no phase elsewhere");
    const resumed = new FakeRecord("gone" as Name);
    await drive(resumed, {});
    expect(resumed.finished?.reason).toBe("internal error in the controller: the test procedure has no phase gone");
  });
});

describe("procedure definitions", () => {
  it("refuse a phase listed twice, and a start or rollback phase they do not list", () => {
    const [first, , second, undo] = FAKE.phases;
    expect(() => defineProcedure<Name, Ctx>({ ...FAKE, phases: [first!, second!, first!, undo!] })).toThrow(/lists phase first twice/);
    expect(() => defineProcedure<Name, Ctx>({ ...FAKE, phases: [second!, undo!] })).toThrow(/does not list its phase first/);
    expect(() => defineProcedure<Name, Ctx>({ ...FAKE, phases: [first!, second!] })).toThrow(/does not list its phase undo/);
  });

  it("the dry run lists the phases the spec does not skip, in order, with their conditions, then the end", () => {
    expect(describeProcedure(FAKE, spec())).toEqual([
      { phase: "first", steps: ["first step"] }, { phase: "second", steps: ["second step"] },
      { phase: "undo", steps: ["undo step"], when: "second fails" },
    ]);
    expect(procedureSteps(FAKE, spec({ reboot: "always", keepSnapshots: "1d" })))
      .toEqual(["first step", "optional step", "second step", "undo step", "keep 1d"]);
  });

  it("the VM procedure lists every VM phase the API knows once, starting at precheck", () => {
    expect(VM_PROCEDURE.phases.map((p) => p.name)).toEqual(VM_PHASES.filter((p) => p !== "pending" && p !== "done"));
    expect([VM_PROCEDURE.start, VM_PROCEDURE.rollback]).toEqual(["precheck", "rollback"]);
  });
});
