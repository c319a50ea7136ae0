/**
 * Before anything changes: the agent allows the run's commands and hooks, the VM runs and can be snapshotted (or the
 * run allows no rollback), the guest agent answers, verify passes, there is room for the snapshot, who is logged in,
 * and with rebootIfOlderThan whether a precautionary reboot is due. Any failure skips the VM untouched.
 */
import { parseDuration } from "../../../shared/duration.js";
import type { StepOutcome } from "../step-runner.js";
import { verify } from "../verify.js";
import type { VmPhaseDefinition, VmPhaseResult } from "./context.js";
import { blockedDisks } from "./helpers.js";

const MiB = 1024 * 1024;

export const precheck: VmPhaseDefinition = {
  name: "precheck",

  async run(ctx) {
    const { spec, timeouts, runner, vm, quick, row } = ctx;
    const skip = (what: string, outcome: StepOutcome<unknown>): VmPhaseResult =>
      ({ finish: "skipped", reason: `pre-check ${what}: ${outcome.pass ? "" : outcome.detail} (nothing was changed)` });

    const commands = ["exec" in spec.patch ? spec.patch.exec : null, spec.verify.exec ?? null].filter((c): c is string => c !== null);
    const hooks = "hook" in spec.patch ? [spec.patch.hook] : [];
    const allowed = await runner.run("precheck", "allowed", `check-allowed commands ${JSON.stringify(commands)} hooks ${JSON.stringify(hooks)}`,
      { kind: "check-allowed", vm, guestCommands: commands, hooks }, quick, (r) => {
        if (r.deniedCommands.length === 0 && r.deniedHooks.length === 0) {
          return { pass: true, output: "the agent's config allows every command and hook of this run" };
        }
        // The agent's own words say what to change (a config line, or chmod on a hook file); older agents give none.
        if (r.refusals && r.refusals.length > 0) {
          return { pass: false, output: `the agent on ${row.host} refuses: ${r.refusals.map((x) => x.reason).join("; ")}` };
        }
        const denied = [...r.deniedCommands.map((c) => `guest command ${JSON.stringify(c)} (maintenance.guestCommands)`),
          ...r.deniedHooks.map((h) => `hook ${h} (maintenance.hooks)`)];
        return { pass: false, output: `the agent on ${row.host} does not allow ${denied.join(", ")}: add them to its config` };
      });
    if (!allowed.pass) return skip("allowed commands", allowed);

    const inspect = await runner.run("precheck", "vm", `inspect ${vm}`, { kind: "inspect", vm }, quick, (r) => {
      if (r.state !== "running") return { pass: false, output: `the VM is ${r.state} (${r.stateReason}); only running VMs are patched` };
      const blocked = blockedDisks(r, spec.snapshotMode);
      if (blocked.length > 0 && !spec.allowNoRollback) {
        return { pass: false, output: `cannot be snapshotted, so it could not be rolled back: ${blocked.join("; ")} ` +
          `(allowNoRollback patches such VMs without a snapshot)` };
      }
      if (!r.guestAgent) return { pass: false, output: "the guest agent does not answer: install and start qemu-guest-agent in the guest" };
      return { pass: true, output: `running, ${r.disks.length} disk(s)${blocked.length ? `; no rollback possible: ${blocked.join("; ")}`
        : `, all snapshotable (${spec.snapshotMode})`}` };
    });
    if (!inspect.pass) return skip("VM", inspect);
    const snapshotable = blockedDisks(inspect.result, spec.snapshotMode).length === 0;

    const before = await verify("precheck", spec, vm, runner, timeouts);
    if (!before.pass) return { finish: "skipped", reason: `pre-check verify failed before any change: ${before.failed ?? "?"} (nothing was changed)` };

    if (snapshotable) {
      const space = await runner.run("precheck", "disk-space", `free space for ${spec.snapshotMode} snapshot of ${vm}`,
        { kind: "disk-space", vm, headroomFraction: spec.snapshotHeadroom, mode: spec.snapshotMode }, quick, (r) => {
          const short = r.disks.filter((d) => d.availableBytes < d.neededBytes);
          const lines = r.disks.map((d) => `${d.target} ${d.source}: ${Math.round(d.availableBytes / MiB)} MiB free, ` +
            `${Math.round(d.neededBytes / MiB)} MiB needed`);
          return { pass: short.length === 0, output: lines.join("\n") };
        });
      if (!space.pass) return skip("snapshot space", space);
    }

    const users = await runner.run("precheck", "users", `guest-get-users ${vm}`, { kind: "guest-users", vm }, quick, (r) => {
      if (r.users.length === 0) return { pass: true, output: "nobody logged in" };
      const who = r.users.map((u) => `${u.user} (since ${u.loginTime})`).join(", ");
      return spec.loggedInUsers === "skip" ? { pass: false, output: `logged in: ${who}; the run skips VMs with users` }
        : { pass: true, result: "WARN", output: `logged in: ${who}` };
    });
    if (!users.pass) return skip("logged-in users", users);

    if (spec.rebootIfOlderThan) {
      const maxAgeSeconds = parseDuration(spec.rebootIfOlderThan)! / 1000;
      let due = false;
      const uptime = await runner.run("precheck", "uptime", `guest uptime ${vm} (reboot if older than ${spec.rebootIfOlderThan})`,
        { kind: "guest-uptime", vm }, quick, (r) => {
          if (r.uptimeSeconds === null) return { pass: true, result: "WARN", output: `uptime unknown (${r.detail}); no precautionary reboot` };
          due = r.uptimeSeconds > maxAgeSeconds;
          return { pass: true, result: "INFO", output: `up ${Math.round(r.uptimeSeconds)} s: ${due ? "precautionary reboot first" : "recent enough"}` };
        });
      if (!uptime.pass) return skip("uptime", uptime);
      if (due) return { next: "preboot" };
    }
    return { next: "snapshot" };
  },

  describe(spec) {
    const internal = spec.snapshotMode === "internal";
    return {
      steps: [`pre-check: the agent allows the commands; VM running; disks snapshotable (${internal
        ? "internal: qcow2 images" : "disk-only: writable file disks, raw or qcow2"}); guest agent answers; verify passes; ` +
        `room for the snapshot (${internal ? "memory + " : ""}${spec.snapshotHeadroom} x disk size); ` +
        `logged-in users (${spec.loggedInUsers})`],
    };
  },
};
