/**
 * What the guest says about itself: logged-in users, uptime, whether it wants
 * a reboot. Uptime and reboot-required run the agent's own fixed commands,
 * which are not subject to maintenance.guestCommands: they only read, and the
 * controller cannot change what they run.
 */
import { errorMessage } from "../../../shared/errors.js";
import { StepErrorCodes } from "../../../shared/protocol/steps.js";
import { GuestAgentError } from "../../libvirt/errors.js";
import { GuestAgent } from "../../libvirt/guest-agent.js";
import { StepError } from "../errors.js";
import { runGuestShell, type ExecOutput } from "../guest-shell.js";
import type { StepHandler } from "../types.js";
import { lookupVm, requireRunning } from "../vm.js";

const FIXED_COMMAND_TIMEOUT_MS = 15_000;
const UPTIME_COMMAND = "cat /proc/uptime";
// Debian and Ubuntu's update-notifier write /run/reboot-required; /var/run is the same place on
// current systems and the only one on old ones.
const REBOOT_REQUIRED_FILES = ["/run/reboot-required", "/var/run/reboot-required"];
const REBOOT_REQUIRED_COMMAND =
  `for f in ${REBOOT_REQUIRED_FILES.join(" ")}; do if test -e "$f"; then echo "$f"; exit 0; fi; done; exit 1`;

function describeExit(command: string, out: ExecOutput): string {
  const how = out.exitCode !== null ? `exited with ${out.exitCode}` : `was killed by signal ${out.signal ?? "?"}`;
  const stderr = out.stderr.trim();
  return `\`${command}\` ${how}${stderr ? `: ${stderr.slice(0, 500)}` : ""}`;
}

export const guestUsersAction: StepHandler<"guest-users"> = {
  kind: "guest-users",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    await requireRunning(conn, dom, "guest-users");
    const users = await new GuestAgent(conn, dom).getUsers();
    return { users: users.map((u) => ({ user: u.domain ? `${u.domain}\\${u.user}` : u.user, loginTime: u.loginTime.toISOString() })) };
  },
};

export const guestUptimeAction: StepHandler<"guest-uptime"> = {
  kind: "guest-uptime",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    await requireRunning(conn, dom, "guest-uptime");
    let out: ExecOutput;
    try {
      out = await runGuestShell(conn, dom, UPTIME_COMMAND, FIXED_COMMAND_TIMEOUT_MS);
    } catch (err) {
      // The agent answered but could not run the command (no /bin/sh, guest-exec disabled): the guest cannot say.
      if (err instanceof GuestAgentError) return { uptimeSeconds: null, detail: `guest-exec of \`${UPTIME_COMMAND}\` failed: ${err.message}` };
      throw err;
    }
    if (out.exitCode !== 0) return { uptimeSeconds: null, detail: describeExit(UPTIME_COMMAND, out) };
    const seconds = Number.parseFloat(out.stdout.trim().split(/\s+/)[0] ?? "");
    if (!Number.isFinite(seconds) || seconds < 0) {
      return { uptimeSeconds: null, detail: `/proc/uptime did not start with a number: ${JSON.stringify(out.stdout.slice(0, 100))}` };
    }
    return { uptimeSeconds: seconds, detail: "from /proc/uptime" };
  },
};

export const rebootRequiredAction: StepHandler<"reboot-required"> = {
  kind: "reboot-required",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    await requireRunning(conn, dom, "reboot-required");
    let out: ExecOutput;
    try {
      out = await runGuestShell(conn, dom, REBOOT_REQUIRED_COMMAND, FIXED_COMMAND_TIMEOUT_MS);
    } catch (err) {
      if (err instanceof GuestAgentError) {
        throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm}: cannot tell whether it needs a reboot: ${errorMessage(err)}`, { cause: err });
      }
      throw err;
    }
    if (out.exitCode === 0) return { required: true, detail: `${out.stdout.trim()} exists` };
    if (out.exitCode === 1) return { required: false, detail: `none of ${REBOOT_REQUIRED_FILES.join(", ")} exists` };
    throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm}: cannot tell whether it needs a reboot: ` +
      describeExit("test -e /run/reboot-required", out));
  },
};
