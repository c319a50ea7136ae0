/** `nightshift windows`, `windows set GROUP`, `windows delete GROUP`: each group's maintenance windows. */
import { Command } from "commander";
import { WindowsBodySchema, type WindowsRecord } from "../shared/plans.js";
import { formatTable } from "../shared/table.js";
import { clientFor } from "./connect.js";
import { printJson } from "./format.js";
import { utcRange } from "./plan-format.js";
import { SETTINGS_HELP } from "./settings.js";
import { schemaDefault } from "../shared/config.js";

const NOTICE_DEFAULT = schemaDefault(WindowsBodySchema, ["notice"]);
import { buildWindowsBody, formatBlackout, formatWindow, parseBlackout, parseWindow, readWindowsFile, type WindowsFlags } from "./windows-spec.js";

/** Blackouts shown in the table; the rest are counted ("+2 more"), all of them are in --json. */
const BLACKOUTS_SHOWN = 3;

export function blackoutsText(record: Pick<WindowsRecord, "blackouts">): string {
  const all = record.blackouts.map(formatBlackout);
  if (all.length === 0) return "-";
  const shown = all.slice(0, BLACKOUTS_SHOWN).join(", ");
  return all.length > BLACKOUTS_SHOWN ? `${shown} (+${all.length - BLACKOUTS_SHOWN} more)` : shown;
}

export const WINDOWS_COLUMNS = ["GROUP", "TZ", "WINDOWS", "BLACKOUTS", "NOTICE", "MACHINES", "NEXT WINDOW (UTC)"] as const;

export function windowsTable(records: readonly WindowsRecord[]): string {
  const sorted = [...records].sort((a, b) => a.group.localeCompare(b.group));
  return formatTable(WINDOWS_COLUMNS, sorted.map((r) => [
    r.group, r.timezone, r.windows.length > 0 ? r.windows.map(formatWindow).join("; ") : "none", blackoutsText(r), r.notice,
    String(r.machines), r.nextWindowStart && r.nextWindowEnd ? utcRange(r.nextWindowStart, r.nextWindowEnd) : "none",
  ]));
}

/** What `windows set` says: the preference as stored, in the flags' words. */
export function windowsSetText(r: WindowsRecord): string {
  const lines = [
    `Windows of group ${r.group} set (${r.timezone}):`,
    ...(r.windows.length > 0 ? r.windows.map((w) => `  window    ${formatWindow(w)}`)
      : ["  window    none: the group's machines get no slot until it has one"]),
    `  blackout  ${r.blackouts.length > 0 ? r.blackouts.map(formatBlackout).join(", ") : "none"}`,
    `  notice    ${r.notice}`,
    `  next      ${r.nextWindowStart && r.nextWindowEnd ? `${utcRange(r.nextWindowStart, r.nextWindowEnd)} UTC` : "none"}`,
    `  machines  ${r.machines} in the group (nightshift machines)`,
  ];
  return lines.join("\n") + "\n";
}

const collect = <T>(parse: (text: string) => T) => (text: string, previous: T[] | undefined): T[] => [...(previous ?? []), parse(text)];

const LIST_HELP = `
Columns: GROUP TZ WINDOWS BLACKOUTS NOTICE MACHINES NEXT WINDOW (UTC)
  WINDOWS      weekly windows in the group's zone (TZ), as --window takes
               them: "tue,thu 02:00-05:00"; an end at or before the start
               closes on the next day; "none": the group's machines get no slot
  BLACKOUTS    dates (in TZ) with no maintenance at all, DATE or FROM..TO;
               the first ${BLACKOUTS_SHOWN}, then "(+N more)"
  NOTICE       the earliest a slot may start is this long after it is assigned
  MACHINES     machines in the group (nightshift machines)
  NEXT WINDOW  the next open window from now, in UTC: "2026-03-03 01:00-04:00",
               or "2026-03-03 22:00-2026-03-04 04:00" across midnight

Fields (--json, an array of GET /v1/windows): group, timezone, windows[]
{days[], start, end}, blackouts[] ("YYYY-MM-DD" or {from, to}), notice,
nextWindowStart, nextWindowEnd (ISO times or null), machines.`;

const SET_HELP = `
Sets (replaces) the maintenance preference of GROUP: the weekly windows in
which its machines may be taken down, the dates that are off limits, and how
much notice the group gets. Give the flags, or a YAML file (-f FILE, "-" for
standard input); flags given with -f override the file's keys (--window
replaces its windows, --blackout its blackouts). Everything is checked before
it is sent, each problem named by its flag or FILE:LINE (exit status 2,
NS_ERR_WINDOWS_SPEC; NS_ERR_WINDOWS_FILE for a file that cannot be read or is
not YAML).

Flags and file keys:
  --tz ZONE         timezone    an IANA zone: Europe/Berlin, America/New_York, UTC
  --window SPEC     windows     DAYS HH:MM-HH:MM (repeatable): "tue,thu 02:00-05:00",
                                "mon-fri 22:00-04:00", "daily 01:00-03:00"; days
                                are the days the window opens; an end at or before
                                the start closes on the next day, an end equal to
                                the start is the whole day. Default: none (the
                                group's machines get no slot)
  --blackout DATES  blackouts   2026-12-24 or 2026-12-27..2027-01-02 (repeatable,
                                inclusive, dates in the zone); every minute of a
                                blacked-out day is closed
  --notice D        notice      a slot starts at least this long after it is
                                assigned: 90s, 15m, 48h, 3d (with its unit);
                                default ${NOTICE_DEFAULT}

Example file (nightshift windows set acme -f acme.yaml):
  timezone: Europe/Berlin
  windows:
    - { days: [tue, thu], start: "02:00", end: "05:00" }
  blackouts: ["2026-12-24", { from: "2026-12-27", to: "2027-01-02" }]
  notice: 48h

Times are wall-clock times in the zone; on a night the clocks change, a
window keeps its wall-clock times (a 02:00-03:00 window is shorter or longer).

Fields (--json, the answer of PUT /v1/windows/GROUP): as nightshift windows --json.`;

export function windowsCommand(): Command {
  const windows = new Command("windows")
    .description("list each group's maintenance windows (the default), or set and delete them")
    .addHelpText("after", `${LIST_HELP}

Examples:
  nightshift windows
  nightshift windows set acme --tz Europe/Berlin --window "tue,thu 02:00-05:00" --notice 48h
  nightshift windows set acme -f acme.yaml
  nightshift windows delete acme
  nightshift windows --json | jq -r '.[] | select(.nextWindowStart == null) | .group'
${SETTINGS_HELP}
`);

  windows.command("list", { isDefault: true })
    .description("list each group's maintenance windows (what `nightshift windows` runs)")
    .option("--json", "print the API's JSON array (fields below)")
    .allowExcessArguments(true)
    .addHelpText("after", `${LIST_HELP}

Examples:
  nightshift windows
  nightshift windows list --json
${SETTINGS_HELP}
`)
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      if (cmd.args.length > 0) {
        cmd.error(`error: unknown command '${cmd.args[0]}' for 'nightshift windows' (commands: list, set, delete)`);
      }
      const list = await clientFor(cmd).listWindows();
      if (flags.json) printJson(list);
      else process.stdout.write(windowsTable(list));
    });

  windows.command("set")
    .description("set a group's maintenance windows, blackout dates and notice period")
    .argument("<group>", "the group (a customer, a team); machines join it with nightshift machines set --group")
    .option("-f, --file <file>", 'read the preference from a YAML file ("-": standard input)')
    .option("--tz <zone>", "the group's time zone, e.g. Europe/Berlin")
    .option("--window <spec>", 'a weekly window, e.g. "tue,thu 02:00-05:00" (repeatable)', collect(parseWindow))
    .option("--blackout <dates>", "a date or FROM..TO with no maintenance, e.g. 2026-12-24 (repeatable)", collect(parseBlackout))
    .option("--notice <duration>", `how long before a slot it must be assigned, e.g. 48h (default ${NOTICE_DEFAULT})`)
    .option("--json", "print the API's JSON object (fields below)")
    .addHelpText("after", `${SET_HELP}

Examples:
  nightshift windows set acme --tz Europe/Berlin --window "tue,thu 02:00-05:00" \\
    --blackout 2026-12-24 --blackout 2026-12-27..2027-01-02 --notice 48h
  nightshift windows set ops --tz UTC --window "daily 00:00-00:00"
  nightshift windows set acme -f acme.yaml --notice 72h
${SETTINGS_HELP}
`)
    .action(async (group: string, flags: WindowsFlags & { file?: string; json?: boolean }, cmd: Command) => {
      const body = buildWindowsBody(group, flags, flags.file ? readWindowsFile(flags.file) : null);
      const record = await clientFor(cmd).setWindows(group, body);
      if (flags.json) printJson(record);
      else process.stdout.write(windowsSetText(record));
    });

  windows.command("delete")
    .description("delete a group's maintenance windows")
    .argument("<group>", "the group (nightshift windows)")
    .option("--json", "print the deleted preference as JSON (fields as nightshift windows --json)")
    .addHelpText("after", `
Without windows, the group's machines get no slot in plans made from now on
(their reason says so); slots of the current plan stay. A group without
windows: NS_ERR_NO_WINDOWS.

Examples:
  nightshift windows delete acme
${SETTINGS_HELP}
`)
    .action(async (group: string, flags: { json?: boolean }, cmd: Command) => {
      const deleted = await clientFor(cmd).deleteWindows(group);
      if (flags.json) printJson(deleted);
      else process.stdout.write(`Windows of group ${deleted.group} deleted: its machines get no slot in plans made from now on.\n`);
    });

  return windows;
}
