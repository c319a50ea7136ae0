/**
 * The `nightshift` command tree, without running it: cli/main.ts parses the
 * command line with it, scripts/docs/cli.ts writes docs/cli.md from its help.
 */
import { Command } from "commander";
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

const EXAMPLES = `
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
`;

/** A new command tree: every command throws its usage errors (main.ts exits 2) and shows the global options in its help. */
export function nightshiftProgram(): Command {
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
    .addHelpText("after", EXAMPLES);
  configure(program);
  return program;
}

// Every command: usage errors throw (exit 2) instead of exiting 1, help shows the global options.
function configure(cmd: Command): void {
  cmd.exitOverride().showHelpAfterError("(run with --help for usage)").configureHelp({ showGlobalOptions: true })
    // Commander's own refusals (a bad option value, an unknown command) in the same words as nightshift's.
    .configureOutput({ outputError: (text, write) => write(usageLine(text)) });
  cmd.commands.forEach(configure);
}

/** `error: unknown command 'x'\n(Did you mean y?)` -> `nightshift: unknown command 'x' (NS_ERR_USAGE)\n(Did you mean y?)`. */
function usageLine(text: string): string {
  const [first = "", ...rest] = text.replace(/^error: /, "").trimEnd().split("\n");
  return [`nightshift: ${first} (NS_ERR_USAGE)`, ...rest].join("\n") + "\n";
}
