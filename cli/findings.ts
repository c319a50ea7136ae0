/** `nightshift findings`: what the hosts' probes (and the controller) found wrong, worst first. */
import { Command, InvalidArgumentError, Option } from "commander";
import { formatTable } from "../shared/table.js";
import { escapeControl } from "../shared/terminal-text.js";
import { FINDINGS_PAGE_DEFAULT, FINDINGS_PAGE_MAX, type FindingRecord } from "../shared/api.js";
import { clientFor } from "./connect.js";
import type { ApiClient } from "./api-client.js";
import { printJson, relativeTime } from "./format.js";
import { SETTINGS_HELP } from "./settings.js";
import { SEVERITIES } from "../shared/protocol/findings.js";
import { durationProblem, parseDuration } from "../shared/duration.js";

export function findingsTable(findings: readonly FindingRecord[], now = Date.now()): string {
  if (findings.length === 0) return formatTable(["SEVERITY", "HOST", "CODE", "SUBJECT", "SINCE", "MESSAGE"], []);
  const table = formatTable(
    ["SEVERITY", "HOST", "CODE", "SUBJECT", "SINCE", "MESSAGE"],
    findings.map((f) => [f.severity, f.host, f.code, f.subject, relativeTime(f.firstSeenAt, now), f.message]),
  );
  // Outside the table, so escaped here: the subject and remedy are the agent's text.
  const remedies = findings.map((f) => `  ${f.host} ${escapeControl(f.code)} ${escapeControl(f.subject)}:\n    ${escapeControl(f.remedy)}` +
    `${f.resolvedAt ? ` (resolved ${relativeTime(f.resolvedAt, now)})` : ""}`);
  return `${table}\nRemedies:\n${remedies.join("\n")}\n`;
}

function parseLimit(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

interface FindingsFlags {
  host?: string;
  severity?: string;
  resolved?: boolean;
  limit?: number;
  all?: boolean;
  json?: boolean;
}

/** The first page, or with --all every page; and what the operator is told when pages were left out. */
async function fetchFindings(client: ApiClient, flags: FindingsFlags): Promise<{ findings: FindingRecord[]; note: string | null }> {
  const query = { host: flags.host, severity: flags.severity, resolved: flags.resolved, limit: flags.limit };
  let page = await client.findingsPage(query);
  const findings = [...page.findings];
  while (flags.all && page.after !== null) {
    page = await client.findingsPage({ ...query, after: page.after });
    findings.push(...page.findings);
  }
  if (page.after === null) return { findings, note: null };
  const order = flags.resolved ? "open ones first, then the most recently resolved" : "worst first";
  return { findings, note: `showing ${findings.length} of ${page.total ?? "more"} findings (${order}); --limit N (at most ${MAX_PAGE}) or --all for the rest` };
}

const MAX_PAGE = FINDINGS_PAGE_MAX;

export function findingsCommand(): Command {
  return new Command("findings")
    .description("list the open findings of every host (or one): fstab that would block boot, hung mounts, emergency mode, VM placement risks, unexpected VM stops")
    .option("--host <name>", "only this host's findings")
    .addOption(new Option("--severity <level>", "only findings of this severity").choices([...SEVERITIES]))
    .option("--resolved", "include resolved findings (the history)")
    .option("--limit <n>", `at most N findings (default ${FINDINGS_PAGE_DEFAULT}, at most ${MAX_PAGE})`, parseLimit)
    .option("--all", "every finding, fetched a page at a time")
    .option("--json", "print the API's JSON array (fields below)")
    .addHelpText("after", `
Columns: SEVERITY HOST CODE SUBJECT SINCE MESSAGE, then each finding's remedy (for an
fstab entry, the corrected line). Sorted critical first; with --resolved the open
ones come first, then the history, most recently resolved first. Codes are listed
in the README.

At most ${FINDINGS_PAGE_DEFAULT} findings are shown (--limit N, up to ${MAX_PAGE}); when more match,
a line on stderr says how many there are, and --all fetches them all. The controller
keeps resolved findings for retention.resolvedFindings (default 90 days) and at most
retention.resolvedFindingsPerHost (default 10000) per host.

Fields (--json, an array of GET /v1/findings): host, code, severity (critical, warning,
info), subject, message, remedy, probe, source (agent, controller), firstSeenAt,
lastSeenAt, resolvedAt (null while open).

Examples:
  nightshift findings
  nightshift findings --severity critical
  nightshift findings --host web1 --json | jq -r '.[].remedy'
  nightshift findings --resolved --all --json > findings-history.json
${SETTINGS_HELP}
`)
    .action(async (flags: FindingsFlags, cmd: Command) => {
      const { findings, note } = await fetchFindings(clientFor(cmd), flags);
      if (flags.json) printJson(findings);
      else process.stdout.write(findingsTable(findings));
      if (note) process.stderr.write(`nightshift: ${note}\n`);
    });
}

/** --for 2h: whole seconds (the API's forSeconds). */
function parseFor(text: string): number {
  const problem = durationProblem(text, "30m, 2h, 1d");
  if (problem) throw new InvalidArgumentError(problem);
  const seconds = Math.round(parseDuration(text)! / 1000);
  if (seconds < 1) throw new InvalidArgumentError("expected at least 1s");
  return seconds;
}

export function expectStopCommand(): Command {
  return new Command("expect-stop")
    .description("record that a VM's stop is planned (or explain one that happened), so it is not an unexpected-stop finding")
    .argument("<vm>", "the VM's name")
    .requiredOption("--host <name>", "the host the VM runs on")
    .requiredOption("--reason <text>", "why it stops; kept in the event history")
    .option("--for <duration>", "how long from now a stop counts as expected (30m, 2h, 1d; default 2h)", parseFor, parseFor("2h"))
    .option("--json", "print the API's JSON answer")
    .addHelpText("after", `
A stop of the VM within the window is then not reported as NS_VM_UNEXPECTED_STOP; an
open unexpected-stop finding for it is resolved (the record explains it).

Fields (--json): host, vm, reason, until, resolvedFinding.

Example:
  nightshift expect-stop db1 --host hv3 --reason "disk resize, ticket 4711" --for 1h
${SETTINGS_HELP}
`)
    .action(async (vm: string, flags: { host: string; reason: string; for: number; json?: boolean }, cmd: Command) => {
      const answer = await clientFor(cmd).expectStop(vm, { host: flags.host, reason: flags.reason, forSeconds: flags.for });
      if (flags.json) printJson(answer);
      else process.stdout.write(`stops of ${answer.vm} on ${answer.host} are expected until ${answer.until}` +
        `${answer.resolvedFinding ? "; its unexpected-stop finding is resolved" : ""}\n`);
    });
}
