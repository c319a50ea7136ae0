/** `nightshift hosts`, `nightshift hosts enroll NAME`, `nightshift hosts revoke NAME`, `nightshift hosts console NAME`. */
import { Command } from "commander";
import { escapeControl } from "../shared/terminal-text.js";
import { formatTable } from "../shared/table.js";
import type { EnrolledHostRecord, HostLibvirtRecord, HostRecord, RevokedHostRecord } from "../shared/api.js";
import { clientFor } from "./connect.js";
import { orDash, printJson, relativeTime, yesNo } from "./format.js";
import { SETTINGS_HELP } from "./settings.js";

export const DEFAULT_AGENT_TOKEN_FILE = "/etc/nightshift/agent.token";

/** The connect error codes the LIBVIRT column names in a few words. */
const LIBVIRT_REASONS: Record<string, string> = {
  NS_ERR_LIBVIRT_SOCKET_MISSING: "socket missing",
  NS_ERR_LIBVIRT_ACCESS_DENIED: "access denied",
  NS_ERR_LIBVIRT_UNREACHABLE: "not answering",
  NS_ERR_LIBVIRT_INTERRUPTED: "connection lost",
  NS_ERR_LIBVIRT_PROTOCOL: "protocol error",
  NS_ERR_LIBVIRT: "libvirt error",
};

/** "socket missing", for an unreachable libvirt's code. */
export function libvirtReason(libvirt: HostLibvirtRecord): string {
  const code = libvirt.code ?? "";
  return LIBVIRT_REASONS[code] ?? (code.replace(/^NS_ERR_(LIBVIRT_)?/, "").toLowerCase().replace(/_/g, " ") || "no reason given");
}

/** The LIBVIRT column: the version, or `unreachable (socket missing)` while the agent cannot reach libvirt. */
export function libvirtColumn(h: Pick<HostRecord, "libvirt" | "libvirtVersion">): string {
  if (h.libvirt?.state === "unreachable") return `unreachable (${libvirtReason(h.libvirt)})`;
  return orDash(h.libvirtVersion);
}

/** The STATUS column: `emergency (srv-data.mount)` while the host's console says it is in emergency or rescue mode. */
export function statusColumn(h: Pick<HostRecord, "status" | "emergency">): string {
  if (!h.emergency) return h.status;
  const mode = h.emergency.target === "rescue.target" ? "rescue" : "emergency";
  const units = h.emergency.failedUnits;
  return units.length === 0 ? mode : `${mode} (${units.slice(0, 2).join(", ")}${units.length > 2 ? `, +${units.length - 2}` : ""})`;
}

export function hostsTable(hosts: readonly HostRecord[], now: number = Date.now()): string {
  return formatTable(
    ["NAME", "STATUS", "CONNECTED", "LAST-SEEN", "VMS", "AGENT", "LIBVIRT"],
    hosts.map((h) => [
      h.name, statusColumn(h), yesNo(h.connected), relativeTime(h.lastSeenAt, now), String(h.vms),
      orDash(h.agentVersion), libvirtColumn(h),
    ]),
  );
}

/** What `enroll` tells the operator on stderr; stdout carries the token alone. */
export function enrollGuidance(host: EnrolledHostRecord): string {
  return `Host '${host.name}' enrolled. The token on standard output is shown only this once (the controller keeps a hash).\n` +
    `Put it in the agent's token file on ${host.name}: ${DEFAULT_AGENT_TOKEN_FILE} (tokenFile in agent.yaml), ` +
    "owned by root, mode 0600.\n";
}

export function revokedText(host: RevokedHostRecord): string {
  return `Host '${host.name}' revoked at ${host.revokedAt}: its token no longer works and its agent was disconnected.\n`;
}

const LIST_HELP = `
Columns: NAME STATUS CONNECTED LAST-SEEN VMS AGENT LIBVIRT
  STATUS     enrolled (agent never connected), up, missing (agent silent too
             long), revoked; "emergency (srv-data.mount)" or "rescue (...)"
             while the host's console (netconsole) says it is in emergency or
             rescue mode, with the failed units, until its agent connects
             again (finding NS_HOST_EMERGENCY has the fstab lines)
  LAST-SEEN  when the agent was last heard from, e.g. "12s ago"; never
  LIBVIRT    libvirt's version, or "unreachable (socket missing)" while the
             agent cannot reach libvirtd (its VMs are then as last reported;
             finding NS_LIBVIRT_UNREACHABLE has the reason and what to do)

Fields (hosts --json, an array of GET /v1/hosts): name, status, connected
(bool), lastSeenAt (ISO time or null), hostname, agentVersion, libvirtVersion
(the last one known; null until the agent has reached libvirt), libvirt
({state: connected|unreachable, code, detail, since} as the agent last said,
or null if it never did), vms (number of VMs), enrolledAt (ISO time),
emergency ({since, target, boot, failedUnits, fstab: [{unit, line}]} while
the console says the host is in emergency or rescue mode, else null).`;

export function hostsCommand(): Command {
  const hosts = new Command("hosts")
    .description("list enrolled hypervisors with their status (the default), enroll and revoke them, show their console")
    .addHelpText("after", `${LIST_HELP}

Examples:
  nightshift hosts
  nightshift hosts --json | jq -r '.[] | select(.status == "missing") | .name'
  nightshift hosts enroll web1
  nightshift hosts revoke web1
  nightshift hosts console web1
${SETTINGS_HELP}
`);

  hosts.command("list", { isDefault: true })
    .description("list enrolled hosts (what `nightshift hosts` runs)")
    .option("--json", "print the API's JSON array (fields below)")
    // A mistyped subcommand lands here as an operand; say so instead of "too many arguments for 'list'".
    .allowExcessArguments(true)
    .addHelpText("after", `${LIST_HELP}

Examples:
  nightshift hosts
  nightshift hosts list --json
${SETTINGS_HELP}
`)
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      if (cmd.args.length > 0) {
        cmd.error(`error: unknown command '${cmd.args[0]}' for 'nightshift hosts' (commands: list, enroll, revoke, console)`);
      }
      const list = await clientFor(cmd).listHosts();
      if (flags.json) printJson(list);
      else process.stdout.write(hostsTable(list));
    });

  hosts.command("enroll")
    .description("enroll a host: the controller issues the token its agent connects with")
    .argument("<name>", "host name the agent will use (letters, digits, '.', '_', '-'; usually its hostname)")
    .option("--json", "print the API's JSON object {name, token, enrolledAt} instead")
    .addHelpText("after", `
Prints the host's token alone on standard output, and on standard error where
to put it. The token is shown only this once: the controller stores a hash.
The agent reads it from its token file (tokenFile in agent.yaml, default
${DEFAULT_AGENT_TOKEN_FILE}), which should be owned by root with mode 0600.
Enrolling a name that is already enrolled fails (NS_ERR_HOST_EXISTS): revoke it
first to issue a new token. A revoked name can be enrolled again.

Fields (--json, the answer of POST /v1/hosts): name, token, enrolledAt (ISO time).

Examples:
  nightshift hosts enroll web1
  # straight into the agent's token file, never on screen:
  nightshift hosts enroll web1 | ssh root@web1 'umask 077; cat > ${DEFAULT_AGENT_TOKEN_FILE}'
  nightshift hosts enroll web1 --json | jq -r .token
${SETTINGS_HELP}
`)
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const host = await clientFor(cmd).enrollHost(name);
      if (flags.json) {
        printJson(host);
        return;
      }
      process.stdout.write(host.token + "\n");
      process.stderr.write(enrollGuidance(host));
    });

  hosts.command("revoke")
    .description("revoke a host's token and disconnect its agent")
    .argument("<name>", "enrolled host name")
    .option("--json", "print the API's JSON object {name, status, revokedAt} instead")
    .addHelpText("after", `
The host stays listed with status "revoked" and keeps its history; its agent
is disconnected at once and its token is refused from then on. Enroll the name
again to issue a new token. Revoking an unknown host (NS_ERR_NO_HOST) or a
revoked one (NS_ERR_HOST_REVOKED) fails.

Fields (--json, the answer of POST /v1/hosts/NAME/revoke): name, status
("revoked"), revokedAt (ISO time).

Examples:
  nightshift hosts revoke web1
${SETTINGS_HELP}
`)
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const host = await clientFor(cmd).revokeHost(name);
      if (flags.json) printJson(host);
      else process.stdout.write(revokedText(host));
    });

  hosts.command("console")
    .description("print a host's last console lines, as its kernel sent them over netconsole")
    .argument("<name>", "enrolled host name")
    .option("--json", "print the API's JSON array [{at, text}] instead")
    .addHelpText("after", `
The controller keeps the last 100 lines each host's kernel sent to
netconsole.listen (in memory: a controller restart forgets them). They are what
a host said while its agent could not: a boot stopped in emergency mode, a
panic, the last words before a host went missing. Each line is printed with the
time the controller received it; control characters are escaped.

Fields (--json, the answer of GET /v1/hosts/NAME/console): at (ISO time), text.

Examples:
  nightshift hosts console web1
  nightshift hosts console web1 --json | jq -r '.[].text'
${SETTINGS_HELP}
`)
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const lines = await clientFor(cmd).hostConsole(name);
      if (flags.json) printJson(lines);
      else process.stdout.write(lines.map((l) => `${l.at}  ${escapeControl(l.text)}\n`).join(""));
    });

  return hosts;
}
