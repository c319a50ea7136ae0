/** `nightshift machines`, `machines set NAME`, `machines delete NAME`: what the planner knows about each VM and hypervisor. */
import { Command, InvalidArgumentError, Option } from "commander";
import { MachineBodySchema, type MachineBody, type MachineRecord } from "../shared/plans.js";
import { formatTable } from "../shared/table.js";
import { clientFor } from "./connect.js";
import { UsageError } from "./errors.js";
import { printJson, yesNo } from "./format.js";
import { SETTINGS_HELP } from "./settings.js";
import { schemaDefault } from "../shared/config.js";
import { describeIssues, pathName, SchemaIndex, type SpecProblem } from "../shared/config-issues.js";
import { durationProblem, formatDuration, parseDuration } from "../shared/duration.js";

export const MACHINES_COLUMNS = ["NAME", "KIND", "HOST", "GROUP", "ROLES", "TESTED", "HA-GROUPS", "MINUTES", "SOURCE"] as const;

export function machinesTable(machines: readonly MachineRecord[]): string {
  const sorted = [...machines].sort((a, b) => a.group.localeCompare(b.group) || a.host.localeCompare(b.host) ||
    a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  return formatTable(MACHINES_COLUMNS, sorted.map((m) => [
    m.name, m.kind, m.host, m.group, m.roles.join(",") || "-", yesNo(m.tested), m.haGroups.join(",") || "-", String(m.estimatedMinutes),
    m.source,
  ]));
}

export function machineSetText(m: MachineRecord): string {
  const what = m.kind === "host" ? "hypervisor" : `VM on ${m.host}`;
  return `Machine ${m.name} (${what}, id ${m.id}) set: group ${m.group}; roles ${m.roles.join(", ") || "none"}; ` +
    `${m.tested ? "tested (has verify checks)" : "untested"}; HA groups ${m.haGroups.join(", ") || "none"}; ` +
    `${m.estimatedMinutes} min slots.\n`;
}

/** `machines set`'s flags (commander's names). */
export interface MachineFlags {
  group?: string | undefined;
  role?: string[] | undefined;
  tested?: boolean | undefined;
  haGroup?: string[] | undefined;
  /** --slot-length, in ms. */
  slotLength?: number | undefined;
  host?: boolean | undefined;
}

const FLAG_OF: Record<string, string> = {
  kind: "--host", group: "--group", roles: "--role", tested: "--tested", haGroups: "--ha-group", estimatedMinutes: "--slot-length",
};

/** The PUT /v1/machines/NAME body; throws NS_ERR_MACHINE_SPEC naming each bad flag. */
export function buildMachineBody(flags: MachineFlags): MachineBody {
  const body = {
    kind: flags.host ? "host" : "vm",
    group: flags.group,
    roles: flags.role ?? [],
    tested: flags.tested === true,
    haGroups: flags.haGroup ?? [],
    ...(flags.slotLength !== undefined ? { estimatedMinutes: flags.slotLength / 60_000 } : {}),
  };
  const problems: SpecProblem[] = body.group === undefined ? [{ path: ["group"], message: "missing: give --group GROUP" }] : [];
  const tooLong = flags.slotLength !== undefined && flags.slotLength > MAX_SLOT_MS;
  const seen = (list: string[], key: string) => list.forEach((v, i) => {
    if (list.indexOf(v) !== i) problems.push({ path: [key, i], message: `${JSON.stringify(v)} is given twice` });
  });
  seen(body.roles, "roles");
  seen(body.haGroups, "haGroups");
  const result = MachineBodySchema.safeParse(body);
  if (!result.success) {
    problems.push(...describeIssues(result.error.issues, body, { schema: SchemaIndex.of(MachineBodySchema) })
      .filter((p) => !(p.path[0] === "group" && body.group === undefined) && !(p.path[0] === "estimatedMinutes" && tooLong)));
  }
  if (tooLong) problems.push({ path: ["estimatedMinutes"], message: `must be at most ${formatDuration(MAX_SLOT_MS)}, got ${formatDuration(flags.slotLength!)}` });
  if (problems.length === 0) return body as MachineBody;
  const lines = problems.map((p) => `  ${FLAG_OF[String(p.path[0])] ?? pathName(p.path)}${p.path.length > 1 ? ` (${pathName(p.path)})` : ""}: ${p.message}`);
  throw new UsageError("NS_ERR_MACHINE_SPEC", `invalid machine options, nothing was changed:\n${lines.join("\n")}\nOptions: nightshift machines set --help`);
}

/** The API's bound on a slot, 7 days. */
const MAX_SLOT_MS = 7 * 86_400_000;

/** --slot-length 45m: milliseconds. */
function parseSlotLength(text: string): number {
  const problem = durationProblem(text, "45m, 90m, 2h");
  if (problem) throw new InvalidArgumentError(problem);
  const ms = parseDuration(text)!;
  if (ms < 60_000) throw new InvalidArgumentError("a slot is at least 1m");
  return ms;
}

/** The flag of earlier versions, refused with what replaced it. */
function oldMinutesFlag(text: string): never {
  throw new InvalidArgumentError(`--minutes was replaced by --slot-length DURATION: give --slot-length ${/^\d+(\.\d+)?$/.test(text) ? `${text}m` : "45m"}`);
}

/** The API's default slot length (minutes there) as a duration. */
const DEFAULT_SLOT = formatDuration(Number(schemaDefault(MachineBodySchema, ["estimatedMinutes"])) * 60_000);

const collect = (text: string, previous: string[] | undefined): string[] => [...(previous ?? []), text];

const LIST_HELP = `
Columns: NAME KIND HOST GROUP ROLES TESTED HA-GROUPS MINUTES SOURCE
  KIND       vm, or host (a hypervisor)
  HOST       a VM's hypervisor; a hypervisor's own name
  GROUP      whose maintenance windows apply (nightshift windows)
  ROLES      what waves select by: infrastructure, router, storage, test,
             production, hypervisor, or any word a wave spec uses
  TESTED     yes: the machine has verify checks, so a bad patch is found and
             rolled back by the software
  HA-GROUPS  machines sharing one are never in maintenance at once
  MINUTES    the length of its slot, in minutes
  SOURCE     cli (nightshift machines set; wins over the others), metadata
             (a <maintenance> element in the VM's domain <metadata>), or
             agent-config (maintenance.group in the hypervisor's agent config)
Sorted by group, host, kind, name.

Fields (--json, an array of GET /v1/machines): id, kind, name, host, group,
roles[], tested, haGroups[], estimatedMinutes, source.`;

export function machinesCommand(): Command {
  const machines = new Command("machines")
    .description("list the machines plans are made of (the default), or set and delete them")
    .addHelpText("after", `${LIST_HELP}

Examples:
  nightshift machines
  nightshift machines set web1 --group acme --role production --tested --ha-group acme-web
  nightshift machines set hv1 --host --group ops --role hypervisor --slot-length 45m
  nightshift machines delete web1
  nightshift machines --json | jq -r '.[] | select(.tested | not) | .name'
${SETTINGS_HELP}
`);

  machines.command("list", { isDefault: true })
    .description("list the machines plans are made of (what `nightshift machines` runs)")
    .option("--json", "print the API's JSON array (fields below)")
    .allowExcessArguments(true)
    .addHelpText("after", `${LIST_HELP}

Examples:
  nightshift machines
  nightshift machines list --json
${SETTINGS_HELP}
`)
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      if (cmd.args.length > 0) {
        cmd.error(`error: unknown command '${cmd.args[0]}' for 'nightshift machines' (commands: list, set, delete)`);
      }
      const list = await clientFor(cmd).listMachines();
      if (flags.json) printJson(list);
      else process.stdout.write(machinesTable(list));
    });

  machines.command("set")
    .description("set (replace) a machine's group, roles, HA groups and slot length for planning")
    .argument("<name>", "a VM (NAME, or HOST/VM when the name is on two hosts) or, with --host, an enrolled hypervisor")
    .option("--group <group>", "the group whose windows apply (required)")
    .option("--role <role>", "a role waves select by, e.g. production (repeatable)", collect)
    .option("--tested", "the machine has verify checks (default: untested)")
    .option("--ha-group <name>", "an HA group: two machines sharing one are never in maintenance at once (repeatable)", collect)
    .option("--slot-length <duration>", `the length of its maintenance slot, e.g. 45m or 2h (default ${DEFAULT_SLOT})`, parseSlotLength)
    .addOption(new Option("--minutes <n>").hideHelp().argParser(oldMinutesFlag))
    .option("--host", "NAME is a hypervisor (an enrolled host), not a VM")
    .option("--json", "print the API's JSON object (fields below)")
    .addHelpText("after", `
Every call replaces what was set before: give all roles and HA groups each
time. A VM must be in the inventory (NS_ERR_NO_VM; NS_ERR_VM_AMBIGUOUS for a
name on two hosts: use HOST/VM), a hypervisor must be enrolled
(NS_ERR_NO_HOST). A hypervisor's slot starts after those of its VMs when the
wave spec says hostsAfterVms (the default), and a VM and its hypervisor are
never in maintenance at once. What machines set records (SOURCE cli) wins
over a VM's domain metadata and a hypervisor's agent config. Invalid options
are usage errors (exit status 2, NS_ERR_MACHINE_SPEC).

Fields (--json, the answer of PUT /v1/machines/NAME): as nightshift machines --json.

Examples:
  nightshift machines set web1 --group acme --role production --tested --ha-group acme-web
  nightshift machines set hv2/db1 --group acme --role storage --slot-length 1h
  nightshift machines set hv1 --host --group ops --role hypervisor --slot-length 45m
${SETTINGS_HELP}
`)
    .action(async (name: string, flags: MachineFlags & { json?: boolean }, cmd: Command) => {
      const body = buildMachineBody(flags);
      const record = await clientFor(cmd).setMachine(name, body);
      if (flags.json) printJson(record);
      else process.stdout.write(machineSetText(record));
    });

  machines.command("delete")
    .description("forget what machines set recorded for a machine")
    .argument("<name>", "the machine's id (HOST/VM for a VM, the name for a hypervisor) or a name only one machine has")
    .option("--host", "NAME is a hypervisor (when a VM has the same name)")
    .option("--vm", "NAME is a VM (when a hypervisor has the same name)")
    .option("--json", "print the deleted record as JSON (fields as nightshift machines --json)")
    .addHelpText("after", `
The VM or hypervisor itself is not touched: only its group, roles and the
rest are forgotten, and it is out of scope for plans made from now on (and
for nightshift plan check), unless its domain metadata or agent config puts
it in a group too. Only what machines set recorded (SOURCE cli) can be
deleted: a machine in scope through its metadata or agent config is refused
(NS_ERR_MACHINE_NOT_CLI), change it there. Unknown: NS_ERR_NO_MACHINE; a name
several machines have: NS_ERR_MACHINE_AMBIGUOUS (give HOST/VM, or --host / --vm).

Examples:
  nightshift machines delete web1
  nightshift machines delete hv2/db1
  nightshift machines delete hv1 --host
${SETTINGS_HELP}
`)
    .action(async (name: string, flags: { host?: boolean; vm?: boolean; json?: boolean }, cmd: Command) => {
      if (flags.host && flags.vm) throw new UsageError("NS_ERR_USAGE", "give --host or --vm, not both");
      const deleted = await clientFor(cmd).deleteMachine(name, flags.host ? "host" : flags.vm ? "vm" : undefined);
      if (flags.json) printJson(deleted);
      else process.stdout.write(`Machine ${deleted.id} (${deleted.kind === "host" ? "hypervisor" : "VM"}) deleted: ` +
        "it is out of scope for plans made from now on.\n");
    });

  return machines;
}
