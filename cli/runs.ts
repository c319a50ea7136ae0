/** `nightshift runs` and `nightshift run start|show|evidence|abort`: maintenance runs. */
import { Command, InvalidArgumentError } from "commander";
import { VM_PHASES, type RunRecord } from "../shared/runs.js";
import { clientFor } from "./connect.js";
import { evidenceText } from "./evidence-format.js";
import { printJson } from "./format.js";
import { countsText, runDetailText, runsTable } from "./run-format.js";
import { parseCount, runStartCommand } from "./run-start.js";
import { SETTINGS_HELP } from "./settings.js";

const RECORD_FIELDS = `id, name, state (running, stopping, finished), haltReason (null
while all is well), createdAt, finishedAt (ISO or null), vmCount, counts
{succeeded, rolled-back, skipped, needs-attention, aborted, in-flight, pending}`;

/**
 * Greedy word wrap: lines of at most `width` characters, each after the first starting with `indent`. Only single
 * spaces between words break, so a leading indent or a column's gap stays with the first word.
 */
function wrap(text: string, width: number, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/(?<=\S) (?=\S)/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line].join("\n");
}

const PHASES = VM_PHASES.join(", ");

const VM_FIELDS = `vms[] {vm, host, position, canary,
${wrap(`phase (${PHASES}), outcome (succeeded, rolled-back, skipped, needs-attention, aborted, or null while in flight), ` +
  "reason, snapshot, startedAt, finishedAt}", 77)}`;

function parseLimit(text: string): number {
  const n = parseCount(text);
  if (n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

export function runsCommand(): Command {
  return new Command("runs")
    .description("list maintenance runs, newest first")
    .option("--limit <n>", "at most the newest N runs", parseLimit)
    .option("--json", "print the API's JSON array (fields below)")
    .addHelpText("after", `
Columns: ID NAME STATE VMS SUCCEEDED ROLLED-BACK SKIPPED NEEDS-ATTENTION ABORTED CREATED HALT REASON
  STATE        running, stopping (no new VM starts; those in flight finish),
               finished
  HALT REASON  why no new VM starts: an abort, a canary failure, the failure
               budget spent, a VM that needs attention; "-" while all is well

Fields (--json, an array of GET /v1/runs): ${RECORD_FIELDS}.

Examples:
  nightshift runs
  nightshift runs --limit 5 --json | jq -r '.[] | select(.state != "finished") | .id'
${SETTINGS_HELP}
`)
    .action(async (flags: { limit?: number; json?: boolean }, cmd: Command) => {
      const runs = await clientFor(cmd).listRuns(flags.limit);
      if (flags.json) printJson(runs);
      else process.stdout.write(runsTable(runs));
    });
}

export function abortedText(run: RunRecord): string {
  return `Run ${run.id} is ${run.state}${run.haltReason ? ` (${run.haltReason})` : ""}: no new VM starts; ` +
    `VMs not started end aborted. Now: ${countsText(run.counts)}.\n` +
    `Follow it: nightshift run show ${run.id}\n`;
}

export function runCommand(): Command {
  const run = new Command("run")
    .description("start, inspect and abort maintenance runs (list them with nightshift runs)")
    .addHelpText("after", `
A run snapshots each VM, applies the patch, reboots if asked, verifies, and
rolls back to the snapshot when the patch or the verification fails. Every
step and check is kept as evidence. Each VM ends succeeded, rolled-back,
skipped, needs-attention or aborted.

Examples:
  nightshift run start --vm web1 --vm web2 --patch-exec "apt-get -y upgrade" --dry-run
  nightshift run start -f openssl.yaml --wait
  nightshift run show r-1a2b3c
  nightshift run evidence r-1a2b3c | grep FAIL
  nightshift run abort r-1a2b3c
${SETTINGS_HELP}
`);

  run.addCommand(runStartCommand());

  run.command("show")
    .description("show a run: its state and options, and each VM's phase and outcome")
    .argument("<id>", "the run's id (nightshift runs)")
    .option("--json", "print the API's JSON object (fields below)")
    .addHelpText("after", `
Prints the run (id, name, state and halt reason, times, counts, what it
patches and checks), then one row per VM:
Columns: POS VM HOST CANARY PHASE OUTCOME REASON SNAPSHOT
${wrap(`  PHASE     ${PHASES}`, 77, "            ")}
  OUTCOME   succeeded, rolled-back, skipped, needs-attention, aborted; "-"
            while in flight
  SNAPSHOT  the snapshot taken before the patch (nightshift snapshots)
An unknown id is NS_ERR_NO_RUN.

Fields (--json, GET /v1/runs/ID): ${RECORD_FIELDS}, spec (the
run's options with defaults, as in a runbook), ${VM_FIELDS}.

Examples:
  nightshift run show r-1a2b3c
  nightshift run show r-1a2b3c --json | jq -r '.vms[] | select(.outcome != "succeeded") | .vm'
${SETTINGS_HELP}
`)
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const detail = await clientFor(cmd).getRun(id);
      if (flags.json) printJson(detail);
      else process.stdout.write(runDetailText(detail));
    });

  run.command("evidence")
    .description("print a run's evidence: every step and check, with its command, result and output")
    .argument("<id>", "the run's id (nightshift runs)")
    .option("--json", "print the API's JSON array (fields below)")
    .addHelpText("after", `
A log, oldest first, one line per step or check:
  TIME  VM  STEP/CHECK  RESULT  DURATION  COMMAND
      | output excerpt (when there is one), indented below its line
  TIME     when it was done (UTC, to the second)
  VM       the VM, "-" for the run as a whole
  RESULT   PASS, FAIL, INFO (recorded, not judged) or WARN
  COMMAND  the exact command, request or libvirt operation
Control characters in guest output are printed escaped (\\x1b).

Fields (--json, GET /v1/runs/ID/evidence): an array of seq, time, vm, host,
step, check, command, result, output (the first KiBs, or the error),
durationMs.

Examples:
  nightshift run evidence r-1a2b3c
  nightshift run evidence r-1a2b3c | grep -A3 FAIL
  nightshift run evidence r-1a2b3c --json | jq -r '.[] | select(.vm == "web1") | .command'
${SETTINGS_HELP}
`)
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const evidence = await clientFor(cmd).runEvidence(id);
      if (flags.json) printJson(evidence);
      else process.stdout.write(evidenceText(evidence));
    });

  run.command("abort")
    .description("abort a run: no new VM starts; VMs not started yet end aborted")
    .argument("<id>", "the run's id (nightshift runs)")
    .option("--json", "print the API's JSON object (the run, fields below)")
    .addHelpText("after", `
The run's state is stopping while VMs already in flight are brought to an
end by the controller, then finished; each VM's outcome shows in nightshift
run show. An unknown id is NS_ERR_NO_RUN.

Fields (--json, POST /v1/runs/ID/abort): ${RECORD_FIELDS}.

Examples:
  nightshift run abort r-1a2b3c
${SETTINGS_HELP}
`)
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const aborted = await clientFor(cmd).abortRun(id);
      if (flags.json) printJson(aborted);
      else process.stdout.write(abortedText(aborted));
    });

  return run;
}
