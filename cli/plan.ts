/** `nightshift plan week|show|check|pause|resume|cancel|export`: one/few/many rollouts in maintenance windows. */
import fs from "node:fs";
import { Command } from "commander";
import { NightshiftError } from "../shared/errors.js";
import type { PlanCheckRecord } from "../shared/plans.js";
import { clientFor } from "./connect.js";
import { printJson } from "./format.js";
import { checkSummary, checkText, planActionText, planText } from "./plan-format.js";
import { buildPlanRequest, readPlanFile } from "./plan-spec.js";
import { SETTINGS_HELP } from "./settings.js";
import { schemaDefault } from "../shared/config.js";
import { WaveSpecSchema } from "../shared/windows.js";

/** A wave spec key's default from WaveSpecSchema, as the help writes it. */
const specDefault = (key: string): string => schemaDefault(WaveSpecSchema, [key]) ?? "unset";

/** An example plan spec, also in the README; it passes the local checks (tested). */
export const EXAMPLE_PLAN_SPEC = `name: openssl, one/few/many
timezone: Europe/Berlin        # the zone of wave times like "tue 00:00"
maxParallel: 10                # machines in maintenance at once
maxParallelPerHost: 2          # VMs in maintenance at once on one hypervisor
hostsAfterVms: true            # a hypervisor only after all of its VMs
waves:
  - name: automation           # Monday: our own automation and monitoring
    start: mon 00:00
    failureBudget: 1
    select:
      - role: infrastructure
  - name: one-of-each          # Tuesday: one router, one storage server
    start: tue 00:00
    maxParallel: 1
    select:
      - { role: router, count: 1 }
      - { role: storage, count: 1 }
  - name: test                 # Wednesday: tested test VMs, a fifth of the rest
    start: wed 00:00
    select:
      - { role: test, tested: true }
      - { role: test, tested: false, percent: 20 }
  - name: few                  # Friday: the other test VMs, 5% of production
    start: fri 00:00
    failureBudget: 2
    select:
      - { role: test }
      - { role: production, tested: false, percent: 5 }
      - { role: storage, percent: 20 }
  - name: many                 # week 2: 30%, then the remainder
    start: week 2 mon 00:00
    failureBudget: 5%
    select:
      - { role: production, percent: 30 }
      - { role: storage, percent: 30 }
  - name: remainder
    start: week 2 wed 00:00
    failureBudget: 5%
    select:
      - { role: production }
      - { role: storage }
  - name: hypervisors          # hypervisors last, each after its VMs
    start: week 3 mon 00:00
    select:
      - { role: hypervisor }
  - name: last-router          # the second router at the very end
    start: week 3 wed 00:00
    end: week 3 thu 00:00
    select:
      - { role: router }
run:                           # what every VM slot runs (runbook keys, no vms)
  patch:
    exec: apt-get update && apt-get -y install --only-upgrade openssl
  reboot: if-required
  verify:
    exec: systemctl is-active nginx
    tcp: [22]
  keepSnapshots: 7d
`;

const PLAN_FIELDS = `id, name, state (scheduled, running, paused,
cancelled, finished), pausedReason, createdAt, weekStart, waves[] {name,
start, end, state (waiting, running, done, blocked), failureBudget, slots},
slots[] {id, wave, machineId, name, kind (vm, host), host, group, start, end,
state (scheduled, running, done, failed, skipped, cancelled), runId, outcome},
unplaced[] {machineId, name, group, wave (null: no wave selected it), reason,
detail}`;

const SHOW_OUTPUT = `
Output: a header (id, name, state, the week, why it is paused), then each
wave in order: a line with its range, state, failure budget and slots per
state, and its slots by start time:
  Columns: DAY START END MACHINE KIND HOST GROUP STATE RUN OUTCOME
    DAY, START, END  in UTC (not the group's zone); END "00:30+1d" is on a
                     later day
    KIND             vm, or host (a hypervisor)
    STATE            scheduled, running, done, failed, skipped, cancelled
    RUN              the maintenance run that executed the slot (nightshift
                     run show RUN)
    OUTCOME          the VM's outcome in that run (succeeded, rolled-back,
                     ...); "manual" for a hypervisor's slot, whose work the
                     operator does
Then the machines that got no slot, each with its reason:
  Columns: MACHINE GROUP WAVE REASON DETAIL
    WAVE    the wave that selected it; "(none)" if no wave did
    REASON  no-preference (its group has no windows), no-window,
            outside-range, blacked-out, too-long, notice, capacity,
            anti-affinity, ...; DETAIL says which window, limit or machine`;

function exitIncomplete(records: readonly PlanCheckRecord[]): never {
  throw new NightshiftError("NS_ERR_PLAN_INCOMPLETE", `${checkSummary(records)}: give their groups windows ` +
    "(nightshift windows set), fix the reasons above, then plan again (nightshift plan cancel; nightshift plan week --spec FILE)");
}

export function planCommand(): Command {
  const plan = new Command("plan")
    .description("plan a rollout over the maintenance windows in waves (one/few/many), check it, pause, resume or cancel it")
    .addHelpText("after", `
A plan places every machine (nightshift machines) in a wave of a wave spec,
then in a slot inside its wave's time range and its group's maintenance
windows (nightshift windows), within the concurrency limits and HA
anti-affinity. When a slot opens, its VMs run as a maintenance run; a wave
does not start while the previous one has VMs that need attention or spent
its failure budget: the plan pauses and says why.

Examples:
  nightshift plan week --spec one-few-many.yaml --start 2026-03-02 --dry-run
  nightshift plan week --spec one-few-many.yaml --start 2026-03-02
  nightshift plan show
  nightshift plan check
  nightshift plan export --ics acme -o acme.ics
  nightshift plan resume
${SETTINGS_HELP}
`);

  plan.command("week")
    .description("build and store a plan from a wave spec file (--dry-run: only show it)")
    .requiredOption("--spec <file>", 'the wave spec with run: (YAML; "-": standard input)')
    .option("--start <date>", "the date (YYYY-MM-DD) or ISO time the plan starts at (default now)")
    .option("--dry-run", "show the plan, store nothing")
    .option("--json", "print the API's JSON object (the PlanRecord, fields below)")
    .addHelpText("after", `
The spec file is a wave spec plus run:, the run options every VM slot
executes (the keys of a runbook, nightshift run start --help, without vms).
It is checked before anything is sent; every problem is listed with
FILE:LINE (exit status 2, NS_ERR_WAVE_SPEC; NS_ERR_PLAN_FILE for a file that
cannot be read or is not YAML).

Spec keys (the default):
  name                 a label; ${specDefault("name")}
  timezone             the zone of wave times; ${specDefault("timezone")}
  maxParallel          machines in maintenance at once; ${specDefault("maxParallel")}
  maxParallelPerHost   VMs in maintenance at once on one hypervisor; ${specDefault("maxParallelPerHost")}
  hostsAfterVms        a hypervisor's slot only after all of its VMs'; ${specDefault("hostsAfterVms")}
  waves                the waves in order, each:
    name               unique
    start, end         "mon 00:00" (the plan's first week, Monday to Sunday,
                       in timezone), "week 2 tue 06:00", or an ISO time with
                       offset; end defaults to the next wave's start, the
                       last wave needs one
    failureBudget      failed VMs (2, or "5%") after which the plan pauses
    maxParallel        overrides the spec's for this wave
    select             rules; a machine goes to the first wave with a rule
                       that takes it:
      role             a role (nightshift machines set --role); any if unset
      kind             vm or host; either if unset
      tested           true or false; either if unset
      count, percent   take only this many, or this percentage of all
                       in-scope machines matching the rule (rounded up)
  run                  the run options of every VM slot (required)

Example spec:
${EXAMPLE_PLAN_SPEC.replace(/^/gm, "  ").trimEnd()}

--start is the plan's start; its week (Monday to Sunday in the spec's zone)
is week 1. Without --dry-run the plan becomes the current plan: a current
plan that has not started is replaced (and kept as cancelled), one that has
started must be cancelled first (NS_ERR_PLAN_ACTIVE). The controller's own
checks answer NS_ERR_WAVE_SPEC (e.g. waves out of order) or NS_ERR_RUN_SPEC.
${SHOW_OUTPUT}

Fields (--json, the answer of POST /v1/plans): ${PLAN_FIELDS}.

Exit status: 0 planned (unplaced machines are listed, not an error: see
nightshift plan check), 1 error, 2 usage error or an invalid spec.

Examples:
  nightshift plan week --spec one-few-many.yaml --start 2026-03-02 --dry-run
  nightshift plan week --spec one-few-many.yaml --start 2026-03-02T06:00:00+01:00
  nightshift plan week --spec one-few-many.yaml --json | jq '.unplaced | length'
${SETTINGS_HELP}
`)
    .action(async (flags: { spec: string; start?: string; dryRun?: boolean; json?: boolean }, cmd: Command) => {
      const request = buildPlanRequest(readPlanFile(flags.spec), flags);
      const record = await clientFor(cmd).createPlan(request);
      if (flags.json) {
        printJson(record);
        return;
      }
      process.stdout.write(planText(record, { dryRun: flags.dryRun === true }));
      if (!flags.dryRun) process.stdout.write("\nCheck that every machine has a slot: nightshift plan check\n");
    });

  plan.command("show")
    .description("show the current plan (or plan ID) by wave and day, and the machines without a slot")
    .argument("[id]", "a plan's id, also of a cancelled or replaced plan (default: the current plan)")
    .option("--json", "print the API's JSON object (fields below)")
    .addHelpText("after", `${SHOW_OUTPUT}
No current plan, or no plan ID: NS_ERR_NO_PLAN (make one with nightshift plan week).

Fields (--json, GET /v1/plans/current): ${PLAN_FIELDS}.

Examples:
  nightshift plan show
  nightshift plan show | grep -E '^Wave|web1'
  nightshift plan show 20260227-101500-a1b2
  nightshift plan show --json | jq -r '.slots[] | select(.group == "acme") | [.start, .name] | @tsv'
${SETTINGS_HELP}
`)
    .action(async (id: string | undefined, flags: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const record = id === undefined ? await client.currentPlan() : await client.getPlan(id);
      if (flags.json) printJson(record);
      else process.stdout.write(planText(record));
    });

  plan.command("check")
    .description("cross-check the current plan: every machine in scope must have exactly one slot")
    .option("--json", "print the API's JSON array (fields below)")
    .addHelpText("after", `
Lists every machine in scope (nightshift machines, now) that has no slot in
the current plan, or more than one: a machine set after the plan was made,
one whose group has no window in its wave, one no wave selected.
Columns: MACHINE GROUP PROBLEM REASON DETAIL
  PROBLEM  no-slot or several-slots
  REASON   why it got no slot (as in nightshift plan show), "-" if the plan
           never considered it

Fields (--json, GET /v1/plans/current/check): an array of machineId, name,
group, problem, reason (or null), detail; [] when the plan is complete.

Exit status: 0 every machine has exactly one slot; 1 some do not
(NS_ERR_PLAN_INCOMPLETE, also with --json), or an error such as NS_ERR_NO_PLAN.

Examples:
  nightshift plan check && echo complete
  nightshift plan check --json | jq -r '.[].name'
${SETTINGS_HELP}
`)
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const records = await clientFor(cmd).checkPlan();
      if (flags.json) printJson(records);
      else process.stdout.write(checkText(records));
      if (records.length > 0) exitIncomplete(records);
    });

  const actions = [
    ["pause", "pause the current plan: no new slot starts until it is resumed",
      "Slots already running finish. Resume with nightshift plan resume."],
    ["resume", "resume a paused plan (also one a failing wave paused)",
      "Resume a plan that paused itself only after dealing with the VMs that need\nattention (nightshift runs, nightshift run show RUN)."],
    ["cancel", "cancel the current plan: its slots that have not started never start",
      "A cancelled plan cannot be resumed; make a new one with nightshift plan week."],
  ] as const;
  for (const [action, description, more] of actions) {
    plan.command(action)
      .description(description)
      .option("--json", "print the API's JSON object (the plan, fields below)")
      .addHelpText("after", `
${more}
Prints the plan's new state. No plan: NS_ERR_NO_PLAN.

Fields (--json, the answer of POST /v1/plans/current/${action}): ${PLAN_FIELDS}.

Examples:
  nightshift plan ${action}
${SETTINGS_HELP}
`)
      .action(async (flags: { json?: boolean }, cmd: Command) => {
        const record = await clientFor(cmd).planAction(action);
        if (flags.json) printJson(record);
        else process.stdout.write(planActionText(record));
      });
  }

  plan.command("export")
    .description("export a group's slots of the current plan as an iCalendar file for its customer")
    .requiredOption("--ics <group>", "the group whose slots to export")
    .option("-o, --output <file>", "write the calendar to FILE instead of standard output")
    .addHelpText("after", `
The calendar (RFC 5545, text/calendar) has one event per slot of the group's
machines in the current plan, with the machine and the slot's times; import
it into any calendar application. With -o, a line on standard error says how
many events were written. No plan: NS_ERR_NO_PLAN; a group with no windows,
machines or slots: NS_ERR_NO_GROUP.

Examples:
  nightshift plan export --ics acme > acme.ics
  nightshift plan export --ics acme -o /srv/www/calendars/acme.ics
${SETTINGS_HELP}
`)
    .action(async (flags: { ics: string; output?: string }, cmd: Command) => {
      const calendar = await clientFor(cmd).planCalendar(flags.ics);
      if (!flags.output) {
        process.stdout.write(calendar);
        return;
      }
      try {
        fs.writeFileSync(flags.output, calendar);
      } catch (err) {
        throw new NightshiftError("NS_ERR_OUTPUT", `cannot write ${flags.output}: ${(err as Error).message}`);
      }
      const events = calendar.match(/^BEGIN:VEVENT\r?$/gm)?.length ?? 0;
      process.stderr.write(`Wrote ${events} event${events === 1 ? "" : "s"} for group ${flags.ics} to ${flags.output}.\n`);
    });

  return plan;
}
