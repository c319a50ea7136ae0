#!/usr/bin/env node
/** The operator CLI: `nightshift <command>`. Wiring only; each command group lives in its own file. */
import { Command, CommanderError } from "commander";
import { NightshiftError } from "../shared/errors.js";
import { AGENT_VERSION } from "../agent/version.js";
import { hostsCommand } from "./hosts.js";
import { vmsCommand } from "./vms.js";
import { vmCommand } from "./vm.js";
import { eventsCommand } from "./events.js";
import { statusCommand } from "./status.js";
import { expectStopCommand, findingsCommand } from "./findings.js";
import { runCommand, runsCommand } from "./runs.js";
import { snapshotsCommand } from "./snapshots.js";
import { windowsCommand } from "./windows.js";
import { machinesCommand } from "./machines.js";
import { planCommand } from "./plan.js";
import { SETTINGS_HELP } from "./settings.js";
import { UsageError } from "./errors.js";

const EXIT_ERROR = 1;
const EXIT_USAGE = 2;

const program = new Command("nightshift")
  .description("nightshift operator CLI: hosts, VMs, events, findings, maintenance runs, windows and plans through the nightshift controller's API")
  .version(AGENT_VERSION)
  .option("--url <url>", "controller URL, e.g. http://controller:8650 (else $NIGHTSHIFT_URL, else the config file)")
  .option("--token <token>", "API token (else $NIGHTSHIFT_TOKEN, else the config file)")
  .option("--config <file>", "config file with url and token or tokenFile (default ~/.config/nightshift/cli.yaml)")
  .addCommand(hostsCommand())
  .addCommand(vmsCommand())
  .addCommand(vmCommand())
  .addCommand(eventsCommand())
  .addCommand(statusCommand())
  .addCommand(findingsCommand())
  .addCommand(expectStopCommand())
  .addCommand(runCommand())
  .addCommand(runsCommand())
  .addCommand(snapshotsCommand())
  .addCommand(windowsCommand())
  .addCommand(machinesCommand())
  .addCommand(planCommand())
  .addHelpText("after", `
Examples:
  export NIGHTSHIFT_URL=http://controller:8650
  export NIGHTSHIFT_TOKEN=$(sudo cat /var/lib/nightshift/admin.token)
  nightshift status
  nightshift hosts enroll web1
  nightshift vms --host web1
  nightshift events --since 1h
  nightshift findings --severity critical
  nightshift run start --vm web1 --vm web2 --patch-exec "apt-get -y upgrade" --reboot if-required --dry-run
  nightshift run start -f openssl.yaml --wait
  nightshift runs
  nightshift run evidence RUN-ID
  nightshift snapshots
  nightshift snapshots delete web1/app3 nightshift-RUN-app3 --merge --reason "keep the patch"
  nightshift vm resolve web1/app3 --reason "repaired by hand"
  nightshift windows set acme --tz Europe/Berlin --window "tue,thu 02:00-05:00" --notice 48h
  nightshift machines set web1 --group acme --role production --tested
  nightshift plan week --spec one-few-many.yaml --start 2026-03-02 --dry-run
  nightshift plan check
Run "nightshift help COMMAND" or "nightshift COMMAND --help" for a command's columns and --json fields.
${SETTINGS_HELP}
`);

// `nightshift events | head`: a reader that goes away is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

// Every command: usage errors throw (exit 2 below) instead of exiting 1, help shows the global options.
const configure = (cmd: Command): void => {
  cmd.exitOverride().showHelpAfterError("(run with --help for usage)").configureHelp({ showGlobalOptions: true })
    // Commander's own refusals (a bad option value, an unknown command) in the same words as nightshift's.
    .configureOutput({ outputError: (text, write) => write(usageLine(text)) });
  cmd.commands.forEach(configure);
};
configure(program);

/** `error: unknown command 'x'\n(Did you mean y?)` -> `nightshift: unknown command 'x' (NS_ERR_USAGE)\n(Did you mean y?)`. */
function usageLine(text: string): string {
  const [first = "", ...rest] = text.replace(/^error: /, "").trimEnd().split("\n");
  return [`nightshift: ${first} (NS_ERR_USAGE)`, ...rest].join("\n") + "\n";
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed the message or the help already; --help and --version exit 0.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof UsageError) {
    // Found before anything was sent (a runbook, the run's options): the operator's to fix.
    process.stderr.write(`nightshift: ${err.message} (${err.code})\n`);
    process.exitCode = EXIT_USAGE;
  } else if (err instanceof NightshiftError) {
    process.stderr.write(`nightshift: ${err.message} (${err.code})\n`);
    process.exitCode = EXIT_ERROR;
  } else {
    process.stderr.write(`nightshift: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = EXIT_ERROR;
  }
}
