/**
 * The patch: the run's command in the guest, or its hook on the hypervisor. It must not run twice, so it goes through
 * the step runner's `once`: after a restart the kept step id is asked about, never a new one sent. A patch that fails,
 * or whose outcome cannot be known, is rolled back.
 */
import { parseDuration } from "../../../shared/duration.js";
import type { StepResultOf } from "../../../shared/protocol/steps.js";
import { StepOutcomeUnknownError } from "../../hub/agent-calls.js";
import { excerpt } from "../verify.js";
import type { VmPhaseDefinition } from "./context.js";
import { firstLine } from "./helpers.js";

export const patch: VmPhaseDefinition = {
  name: "patch",

  async run(ctx) {
    const { spec, timeouts, runner, vm, row } = ctx;
    const patchMs = parseDuration(spec.patchTimeout)!;
    const options = { timeoutMs: patchMs + timeouts.marginMs };
    const judge = (r: StepResultOf<"guest-exec">) => {
      const out = excerpt(r.stdout, r.stderr);
      return r.exitCode === 0 ? { pass: true, output: `exit 0${out ? `\n${out}` : ""}` }
        : { pass: false, output: `exit ${r.exitCode ?? `signal ${r.signal}`}${out ? `\n${out}` : ""}` };
    };
    const outcome = "exec" in spec.patch
      ? await runner.once("patch", "exec", `guest-exec /bin/sh -c ${JSON.stringify(spec.patch.exec)}`,
        { kind: "guest-exec", vm, command: spec.patch.exec, timeoutMs: patchMs }, options, judge)
      : await runner.once("patch", "hook", `${spec.patch.hook} ${vm} (on ${row.host})`,
        { kind: "hook", vm, path: spec.patch.hook, runId: row.run_id, timeoutMs: patchMs }, options, judge);
    if (!outcome.pass) {
      if (outcome.lost) return { finish: "needs-attention", reason: `agent lost during the patch: ${outcome.detail}` };
      if (outcome.error instanceof StepOutcomeUnknownError) {
        return { rollback: `the patch was interrupted and its outcome is unknown: ${outcome.detail}` };
      }
      return { rollback: `patch failed: ${firstLine(outcome.detail)}` };
    }
    // Passed over for verify when the run does not reboot (reboot: never).
    return { next: "reboot" };
  },

  describe(spec) {
    return {
      steps: ["exec" in spec.patch ? `patch: run \`${spec.patch.exec}\` in the guest (timeout ${spec.patchTimeout})`
        : `patch: run ${spec.patch.hook} VM on the hypervisor (timeout ${spec.patchTimeout})`],
    };
  },
};
