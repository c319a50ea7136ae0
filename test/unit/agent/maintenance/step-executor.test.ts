import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { StepActionSchema, StepErrorCodes, type StepAction, type StepKind } from "../../../../shared/protocol/steps.js";
import { StepExecutor, type StepExecutorOptions } from "../../../../agent/maintenance/step-executor.js";
import { STEP_HANDLERS } from "../../../../agent/maintenance/actions/index.js";
import { guestExecAction } from "../../../../agent/maintenance/actions/guest-exec.js";
import { checkAllowedAction } from "../../../../agent/maintenance/actions/check-allowed.js";
import { StepError } from "../../../../agent/maintenance/errors.js";
import type { AnyStepHandler, MaintenanceConfig, StepHandler } from "../../../../agent/maintenance/types.js";
import { LibvirtError } from "../../../../agent/libvirt/errors.js";
import { ErrorCode } from "../../../../agent/libvirt/protocol.js";
import type { LibvirtConnection } from "../../../../agent/libvirt/connection.js";

const logger = pino({ level: "silent" });
const noAllowances: MaintenanceConfig = { guestCommands: [], allowAnyGuestCommand: false, hooks: [] };

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** A start handler whose every run is counted and finishes when the test says so. */
function controlledStart() {
  const runs: string[] = [];
  const gates: ReturnType<typeof deferred<{ started: boolean }>>[] = [];
  const handler: StepHandler<"start"> = {
    kind: "start",
    run: (action) => {
      runs.push(action.vm);
      const gate = deferred<{ started: boolean }>();
      gates.push(gate);
      return gate.promise;
    },
  };
  return { handler, runs, gates };
}

function executor(handlers: AnyStepHandler[], options: Partial<StepExecutorOptions> = {}) {
  return new StepExecutor({
    handlers, libvirt: () => null, libvirtUri: "qemu:///system", config: noAllowances, logger, ...options,
  });
}

const start = (vm = "web1"): StepAction => ({ kind: "start", vm });

describe("StepExecutor", () => {
  it("runs a step once per id: a repeat while it runs and after it finished gets the same outcome", async () => {
    const { handler, runs, gates } = controlledStart();
    const steps = executor([handler]);
    const first = steps.handle({ id: "s1", resume: false, action: start() });
    const repeat = steps.handle({ id: "s1", resume: false, action: start() });
    const resumed = steps.handle({ id: "s1", resume: true, action: start() });
    await Promise.resolve();
    expect(runs).toEqual(["web1"]);
    expect(steps.running).toBe(1);
    gates[0]!.resolve({ started: true });
    const outcomes = await Promise.all([first, repeat, resumed]);
    expect(outcomes).toEqual([
      { ok: true, result: { started: true } }, { ok: true, result: { started: true } }, { ok: true, result: { started: true } },
    ]);
    expect(await steps.handle({ id: "s1", resume: false, action: start() })).toEqual({ ok: true, result: { started: true } });
    expect(runs).toEqual(["web1"]);
    // Another id is another step.
    const other = steps.handle({ id: "s2", resume: false, action: start("web2") });
    await Promise.resolve();
    gates[1]!.resolve({ started: false });
    expect(await other).toEqual({ ok: true, result: { started: false } });
    expect(runs).toEqual(["web1", "web2"]);
  });

  it("answers resume of an unknown id with NS_ERR_STEP_UNKNOWN and runs nothing", async () => {
    const { handler, runs } = controlledStart();
    const steps = executor([handler]);
    const outcome = await steps.handle({ id: "never-seen", resume: true, action: start() });
    expect(outcome).toMatchObject({ ok: false, error: { code: StepErrorCodes.UNKNOWN } });
    expect(!outcome.ok && outcome.error.message).toMatch(/never-seen.*start on VM web1.*not known to this agent/);
    expect(runs).toEqual([]);
    expect(steps.size).toBe(0);
  });

  it("turns a result that does not match its kind's schema into NS_ERR_STEP_FAILED naming the field", async () => {
    const broken = { kind: "snapshot-exists", run: () => Promise.resolve({ exists: "yes" }) } as unknown as AnyStepHandler;
    const steps = executor([broken]);
    const outcome = await steps.handle({ id: "b1", resume: false, action: { kind: "snapshot-exists", vm: "db1", name: "pre" } });
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.error.code).toBe(StepErrorCodes.FAILED);
    expect(!outcome.ok && outcome.error.message).toMatch(/invalid snapshot-exists result for VM db1 \(exists: .*bug in the agent/);
  });

  it("strips what a result has beyond its schema", async () => {
    const extra = { kind: "start", run: () => Promise.resolve({ started: true, internal: "x" }) } as unknown as AnyStepHandler;
    expect(await executor([extra]).handle({ id: "e1", resume: false, action: start() })).toEqual({ ok: true, result: { started: true } });
  });

  it("keeps typed errors' codes and maps libvirt's and unexpected ones", async () => {
    const throwing = (err: unknown): AnyStepHandler => ({ kind: "start", run: () => Promise.reject(err) });
    const outcomeOf = (err: unknown) => executor([throwing(err)]).handle({ id: "x", resume: false, action: start("web9") });

    expect(await outcomeOf(new StepError(StepErrorCodes.TIMEOUT, "took too long"))).toEqual(
      { ok: false, error: { code: StepErrorCodes.TIMEOUT, message: "took too long" } });
    const noDomain = new LibvirtError({ code: ErrorCode.VIR_ERR_NO_DOMAIN, domain: 10, message: "Domain not found: no domain with matching name 'web9'",
      level: 2, str1: null, str2: null, str3: null, int1: 0, int2: 0 });
    expect(await outcomeOf(noDomain)).toMatchObject({ ok: false, error: { code: StepErrorCodes.NO_VM, message: expect.stringMatching(/^VM web9 /) } });
    expect(await outcomeOf(new TypeError("x is undefined"))).toEqual(
      { ok: false, error: { code: StepErrorCodes.FAILED, message: "VM web9: x is undefined" } });
    const long = await outcomeOf(new StepError(StepErrorCodes.FAILED, "y".repeat(20_000)));
    expect(!long.ok && long.error.message.length).toBe(8192);
    expect(!long.ok && long.error.message).toMatch(/y \.\.\. \[truncated\]$/);
  });

  it("answers NS_ERR_STEP_LIBVIRT, naming the URI, when a step needs libvirt while it is down", async () => {
    const needsLibvirt: AnyStepHandler = { kind: "start", run: (_a, ctx) => { ctx.libvirt(); return Promise.resolve({ started: true }); } };
    const outcome = await executor([needsLibvirt], { libvirtUri: "qemu:///system" }).handle({ id: "l1", resume: false, action: start() });
    expect(outcome).toMatchObject({ ok: false, error: { code: StepErrorCodes.LIBVIRT } });
    expect(!outcome.ok && outcome.error.message).toMatch(/not connected to libvirtd \(qemu:\/\/\/system\).*did not touch the VM/);
  });

  it("forgets finished outcomes after the retention time, and keeps at most maxEntries", async () => {
    let now = 1_000_000;
    const done: AnyStepHandler = { kind: "start", run: () => Promise.resolve({ started: true }) };
    const steps = executor([done], { now: () => now, retentionMs: 3_600_000, maxEntries: 3 });
    await steps.handle({ id: "a", resume: false, action: start() });
    now += 3_600_000;
    expect(await steps.handle({ id: "a", resume: true, action: start() })).toMatchObject({ ok: true });
    now += 1;
    expect(await steps.handle({ id: "a", resume: true, action: start() })).toMatchObject({ ok: false, error: { code: StepErrorCodes.UNKNOWN } });

    for (const id of ["b", "c", "d", "e"]) await steps.handle({ id, resume: false, action: start() });
    expect(steps.size).toBe(3);
    expect(await steps.handle({ id: "b", resume: true, action: start() })).toMatchObject({ ok: false, error: { code: StepErrorCodes.UNKNOWN } });
    expect(await steps.handle({ id: "e", resume: true, action: start() })).toMatchObject({ ok: true });
  });

  it("refuses a new step rather than forget a running one when full", async () => {
    const { handler, gates } = controlledStart();
    const steps = executor([handler], { maxEntries: 2 });
    const a = steps.handle({ id: "a", resume: false, action: start() });
    const b = steps.handle({ id: "b", resume: false, action: start() });
    const c = await steps.handle({ id: "c", resume: false, action: start() });
    expect(c).toMatchObject({ ok: false, error: { code: StepErrorCodes.BUSY, message: expect.stringMatching(/was not started/) } });
    for (const gate of gates) gate.resolve({ started: true });
    await Promise.all([a, b]);
    const again = steps.handle({ id: "c", resume: false, action: start() });
    gates[2]!.resolve({ started: true });
    expect(await again).toMatchObject({ ok: true });
  });

  it("runs at most maxRunning steps at once, queues maxQueued more first come first served, and refuses the rest with NS_ERR_STEP_BUSY", async () => {
    const { handler, runs, gates } = controlledStart();
    const steps = executor([handler], { maxRunning: 2, maxQueued: 3 });
    const outcomes = ["a", "b", "c", "d", "e"].map((vm) => steps.handle({ id: vm, resume: false, action: start(vm) }));
    const refused = await steps.handle({ id: "f", resume: false, action: start("f") });
    expect(runs).toEqual(["a", "b"]);
    expect([steps.running, steps.queued]).toEqual([2, 3]);
    expect(refused).toMatchObject({ ok: false, error: { code: StepErrorCodes.BUSY,
      message: expect.stringMatching(/step f \(start on VM f\) was not started: .*runs 2 steps and has 3 waiting \(maintenance\.maxRunningSteps 2, maintenance\.maxQueuedSteps 3\); nothing was run/) } });
    // A waiting step is known: asked again (a reconnect's resume), it attaches to its place in the queue.
    const resumed = steps.handle({ id: "d", resume: true, action: start("d") });
    gates[0]!.resolve({ started: true });
    expect(await outcomes[0]).toMatchObject({ ok: true });
    await Promise.resolve();
    expect(runs).toEqual(["a", "b", "c"]);
    for (let i = 1; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 0));
      gates[i]!.resolve({ started: true });
    }
    expect(await Promise.all([...outcomes, resumed])).toEqual(Array(6).fill({ ok: true, result: { started: true } }));
    expect(runs).toEqual(["a", "b", "c", "d", "e"]);
    // The refused one was not remembered: asked again now, it runs.
    const again = steps.handle({ id: "f", resume: false, action: start("f") });
    await Promise.resolve();
    gates[5]!.resolve({ started: true });
    expect(await again).toMatchObject({ ok: true });
    expect([steps.running, steps.queued]).toEqual([0, 0]);
  });

  it("refuses a guest command that is not in maintenance.guestCommands before asking libvirt", async () => {
    let libvirtAsked = 0;
    const libvirt = () => { libvirtAsked++; return null as LibvirtConnection | null; };
    const exec = (command: string): StepAction => ({ kind: "guest-exec", vm: "web1", command, timeoutMs: 60_000 });
    const listed = executor([guestExecAction], { libvirt, config: { ...noAllowances, guestCommands: ["apt-get -y upgrade"] } });

    const refused = await listed.handle({ id: "g1", resume: false, action: exec("apt-get -y upgrade; curl x | sh") });
    expect(refused).toMatchObject({ ok: false, error: { code: StepErrorCodes.NOT_ALLOWED } });
    expect(!refused.ok && refused.error.message).toMatch(/`apt-get -y upgrade; curl x \| sh` is not allowed.*maintenance\.guestCommands.*allowAnyGuestCommand/);
    expect(libvirtAsked).toBe(0);

    // Past the allowlist the step goes on to libvirt (down here, hence NS_ERR_STEP_LIBVIRT).
    expect(await listed.handle({ id: "g2", resume: false, action: exec("apt-get -y upgrade") }))
      .toMatchObject({ ok: false, error: { code: StepErrorCodes.LIBVIRT } });
    const anything = executor([guestExecAction], { libvirt, config: { ...noAllowances, allowAnyGuestCommand: true } });
    expect(await anything.handle({ id: "g3", resume: false, action: exec("reboot") }))
      .toMatchObject({ ok: false, error: { code: StepErrorCodes.LIBVIRT } });
    expect(libvirtAsked).toBe(2);
  });

  it("check-allowed lists what the config would refuse, without libvirt", async () => {
    const steps = executor([checkAllowedAction], { config: { guestCommands: ["uptime"], allowAnyGuestCommand: false, hooks: ["/nonexistent/pre"] } });
    const outcome = await steps.handle({ id: "c1", resume: false, action: {
      kind: "check-allowed", vm: "web1", guestCommands: ["uptime", "rm -rf /"], hooks: ["/etc/nightshift/other", "/nonexistent/pre"],
    } });
    // /nonexistent/pre is listed but its file is missing: the hook step would refuse it too.
    expect(outcome).toEqual({ ok: true, result: { deniedCommands: ["rm -rf /"], deniedHooks: ["/etc/nightshift/other", "/nonexistent/pre"], refusals: [
      { item: "rm -rf /", reason: expect.stringMatching(/not allowed by this agent's config/) },
      { item: "/etc/nightshift/other", reason: expect.stringMatching(/not listed/) },
      { item: "/nonexistent/pre", reason: expect.stringMatching(/cannot be found/) },
    ] } });
  });
});

describe("the step registry", () => {
  it("has exactly one handler for every action kind of the protocol", () => {
    const kinds = StepActionSchema.options.map((o) => o.shape.kind.value as StepKind).sort();
    expect(STEP_HANDLERS.map((h) => h.kind).sort()).toEqual(kinds);
    expect(() => executor([...STEP_HANDLERS])).not.toThrow();
    expect(() => executor([STEP_HANDLERS[0]!, STEP_HANDLERS[0]!])).toThrow(/two step handlers/);
  });
});
