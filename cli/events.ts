/** `nightshift events`: the controller's event history, oldest first, like a log. */
import { Command, InvalidArgumentError } from "commander";
import { formatTable } from "../shared/table.js";
import { parseSince, SINCE_FORMS } from "../shared/duration.js";
import type { EventRecord } from "../shared/api.js";
import { clientFor } from "./connect.js";
import { formatData, orDash, printJson } from "./format.js";
import { SETTINGS_HELP } from "./settings.js";

/**
 * The agent's own time is shown only when it is this far from the receipt:
 * a late delivery (its spool after an outage) or a host clock that is off.
 */
export const AGENT_TIME_SHOWN_AFTER_MS = 60_000;

/** The agent's time when it differs noticeably from when the controller received the event, else "-". */
export function agentTime(e: Pick<EventRecord, "time" | "receivedAt">): string {
  const skew = Math.abs(Date.parse(e.time) - Date.parse(e.receivedAt));
  return skew > AGENT_TIME_SHOWN_AFTER_MS ? e.time : "-";
}

export function eventsTable(events: readonly EventRecord[]): string {
  return formatTable(
    ["TIME", "AGENT-TIME", "HOST", "KIND", "VM", "EVENT", "DETAIL"],
    events.map((e) => [e.receivedAt, agentTime(e), e.host, e.kind, orDash(e.vm), orDash(e.event),
      orDash(e.detail ?? formatData(e.data))]),
  );
}

function parseLimit(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function checkSince(text: string): string {
  // Validated here for a usage error (exit 2); sent as written so the controller's clock decides what "1h" means.
  if (parseSince(text) === null) throw new InvalidArgumentError(`expected ${SINCE_FORMS}`);
  return text;
}

export function eventsCommand(): Command {
  return new Command("events")
    .description("show the event history: VM lifecycle events from agents and the controller's host events")
    .option("--host <name>", "only this host's events")
    .option("--vm <name-or-uuid>", "only this VM's events")
    .option("--since <when>", "only events received since then: a duration back from now (15m, 1h, 2d) or an ISO 8601 time with Z or an offset (or a date)", checkSince)
    .option("--limit <n>", "at most the N events received last (default 1000, at most 10000)", parseLimit)
    .option("--json", "print the API's JSON array (fields below)")
    .addHelpText("after", `
Columns: TIME AGENT-TIME HOST KIND VM EVENT DETAIL
  TIME        when the controller received the event (its own clock)
  AGENT-TIME  when the agent says it happened, shown when that is more than
              60 s from TIME: a late delivery (the agent's spool after an
              outage) or a host whose clock is off; "-" otherwise
  KIND    lifecycle, reboot, agent-lifecycle (from libvirt, via the agent) or
          host (the controller's own: enrolled, revoked, connected,
          disconnected, missing, back, events-lost, agent-down, rejected,
          expected-stop, event-refused; agent-down: the agent itself was
          not running from downAt to upAt, so VM events of that time are
          unknown; event-refused: an agent's event it refused, kept as it
          arrived in the extra data)
  DETAIL  libvirt's detail (booted, destroyed, ...) or the event's extra data
The newest events received that match the filters are printed oldest first.
Order and --since go by TIME, the receipt: a host whose clock is in the
future cannot push everyone else's events out of the listing, and an event
delivered days late shows up in --since 10m when it arrives, with its
AGENT-TIME.

Fields (--json, an array of GET /v1/events): seq, id (the event's id, unique
per host), time (when it happened, as the agent's clock said, ISO), receivedAt (when the
controller stored it: the listing's order and --since), host,
kind, vm (domain name or null), uuid (domain UUID or null), event, detail,
data (object or null).

Examples:
  nightshift events --since 1h
  nightshift events --host web1 --vm db1 --limit 20
  nightshift events --since 2026-11-23T00:00:00Z --json
${SETTINGS_HELP}
`)
    .action(async (flags: { host?: string; vm?: string; since?: string; limit?: number; json?: boolean }, cmd: Command) => {
      const events = await clientFor(cmd).listEvents({ host: flags.host, vm: flags.vm, since: flags.since, limit: flags.limit });
      if (flags.json) printJson(events);
      else process.stdout.write(eventsTable(events));
    });
}
