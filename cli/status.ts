/** `nightshift status`: the controller's summary of the fleet. */
import { Command } from "commander";
import type { StatusRecord } from "../shared/api.js";
import { clientFor } from "./connect.js";
import { formatKeyValues, formatUptime, printJson } from "./format.js";
import { SETTINGS_HELP } from "./settings.js";

export function statusText(status: StatusRecord, url: string): string {
  const h = status.hosts;
  const states = Object.entries(status.vms.byState).sort(([a], [b]) => a.localeCompare(b)).map(([state, n]) => `${n} ${state}`);
  return formatKeyValues([
    ["controller", `${url} (version ${status.version}, up ${formatUptime(status.uptimeSeconds)})`],
    ["hosts", `${h.total} total: ${h.up} up, ${h.missing} missing, ${h.enrolled} enrolled, ${h.revoked} revoked`],
    ["agents", `${status.agentsConnected} connected`],
    ["vms", `${status.vms.total} total${states.length ? `: ${states.join(", ")}` : ""}`],
    ["events", `${status.eventsStored} stored`],
  ]);
}

export function statusCommand(): Command {
  return new Command("status")
    .description("summarize the controller: version, uptime, hosts by status, connected agents, VMs by state")
    .option("--json", "print the API's JSON object (fields below)")
    .addHelpText("after", `
Fields (--json, the answer of GET /v1/status): version, uptimeSeconds,
hosts {total, up, missing, enrolled, revoked}, agentsConnected,
vms {total, byState {STATE: count}}, eventsStored.

Examples:
  nightshift status
  nightshift status --json | jq .hosts.missing
${SETTINGS_HELP}
`)
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const status = await client.status();
      if (flags.json) printJson(status);
      else process.stdout.write(statusText(status, client.url));
    });
}
