/** `nightshift run start`: a maintenance run from flags and/or a runbook file; --dry-run, --wait. */
import { Command, InvalidArgumentError, Option } from "commander";
import { clientFor } from "./connect.js";
import { UsageError } from "./errors.js";
import { printJson } from "./format.js";
import { planText, startedText } from "./run-format.js";
import { allSucceeded, notSucceededError, stopWaitingOnInterrupt, summaryText, waitForRun } from "./run-wait.js";
import { buildRunSpec, readRunbook, type RunSpecFlags } from "./runbook.js";
import { SETTINGS_HELP } from "./settings.js";
import { schemaDefault } from "../shared/config.js";
import { RunSpecSchema } from "../shared/runs.js";

/** A run option's default from RunSpecSchema, as the help writes it. */
function dflt(...path: string[]): string {
  const value = schemaDefault(RunSpecSchema, path);
  return value === undefined ? "unset" : value === "[]" ? "none" : value;
}

export function parseCount(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new InvalidArgumentError("expected a whole number");
  return n;
}

export function parseFraction(text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(n)) throw new InvalidArgumentError("expected a number such as 0.1");
  return n;
}

/** "2" is a count; anything else ("10%") goes to the schema as written. */
export function parseBudget(text: string): number | string {
  return /^\d+$/.test(text) ? Number(text) : text;
}

const collect = <T>(parse: (text: string) => T) => (text: string, previous: T[] | undefined): T[] => [...(previous ?? []), parse(text)];

/** An example runbook, also in the README; it passes RunSpecSchema (tested). */
export const EXAMPLE_RUNBOOK = `name: openssl update, web tier
vms: [web1, web2, web3, hv2/db1]     # HOST/VM where a name is on two hosts
patch:
  exec: apt-get update && apt-get -y install --only-upgrade openssl
  # or hook: /usr/local/sbin/patch-vm   (on the hypervisor; gets the VM's name)
patchTimeout: 30m
reboot: if-required                   # never | always | if-required
rebootIfOlderThan: 90d
verify:
  exec: systemctl is-active nginx
  output: active
  tcp: [22, 443]
  http: ["http://monitor.example/check/{vm}"]
maxParallel: 4
maxParallelPerHost: 2
canary: 1
maxFailures: 10%
keepSnapshots: 3d
loggedInUsers: warn                   # warn | skip
`;

export const RUN_START_HELP = `
The run's options come from the flags, or from a runbook (-f FILE, "-" for
standard input) whose keys are the long names below; flags given with -f
override the file's values (--vm replaces its vms, --patch-* its patch, each
--verify-* one verify key). Everything is checked before anything is sent:
every problem is listed with FILE:LINE or the flag (exit status 2).

Runbook keys (the flag; the default):
  name                 --name; the patch
  vms                  --vm (list of NAME or HOST/VM); required
  patch                {exec: CMD} (--patch-exec) or {hook: /PATH} (--patch-hook);
                       required
  patchTimeout         --patch-timeout; ${dflt("patchTimeout")}
  reboot               --reboot: never, always, if-required; ${dflt("reboot")}
  rebootIfOlderThan    --reboot-if-older-than; unset
  verify               a mapping of the checks after the patch (and reboot):
    exec               --verify-exec; unset
    output             --verify-output; unset ({vm}: the VM's name)
    outputPattern      --verify-pattern; unset ({vm}: the VM's name)
    tcp                --verify-tcp (list of ports); ${dflt("verify", "tcp")}
    http               --verify-http (list of URLs, {vm}: the VM's name); ${dflt("verify", "http")}
    httpStatus         --verify-http-status; any 2xx
  maxParallel          --max-parallel; ${dflt("maxParallel")}
  maxParallelPerHost   --max-parallel-per-host; ${dflt("maxParallelPerHost")}
  canary               --canary; ${dflt("canary")}
  maxFailures          --max-failures (a count, or a share like "10%"); ${dflt("maxFailures")}
  keepSnapshots        --keep-snapshots; ${dflt("keepSnapshots")}
  loggedInUsers        --logged-in-users: warn, skip; ${dflt("loggedInUsers")}
  snapshotMode         --snapshot-mode: internal, disk-only-quiesce; ${dflt("snapshotMode")}
  snapshotHeadroom     --snapshot-headroom; ${dflt("snapshotHeadroom")}
  allowNoRollback      --allow-no-rollback; ${dflt("allowNoRollback")}

Durations are written with their unit: 90s, 15m, 1h, 3d, 1w (a bare number such
as 30 is refused: seconds or minutes?). The controller and the agents' own config
(maintenance.guestCommands, maintenance.hooks) decide what may run.

Example runbook:
${EXAMPLE_RUNBOOK.replace(/^/gm, "  ").trimEnd()}

Output:
  --dry-run   the plan: the rules, then each VM (POS VM HOST CANARY) and its
              steps in order; nothing is started. --json: the RunPlan {name,
              rules[], vms[] {position, vm, host, canary, steps[]}}.
  (default)   the run's id and the commands to follow it; --json: the run
              (RunDetail, as nightshift run show --json).
  --wait      polls every second: a line per VM phase or outcome change
              (TIME VM WHAT) and the evidence lines as they come; when the run
              is finished, the table of its VMs. With --json, progress goes
              to standard error and the finished RunDetail to standard output.

Exit status of run start: 0 started (or planned); with --wait, 0 only when every VM
succeeded, 1 when any did not (rolled back, skipped, needs attention,
aborted). Ctrl-C while waiting stops only the waiting (exit 130): the run
goes on; abort it with nightshift run abort ID. Errors from the controller:
NS_ERR_RUN_SPEC (invalid options), NS_ERR_NO_VM (unknown VM),
NS_ERR_VM_AMBIGUOUS (a name on two hosts: use HOST/VM), NS_ERR_VM_IN_RUN (a VM
is in an active run), NS_ERR_HOST_DISCONNECTED (a VM's host has no connected
agent: bring it back, or pass --wait-for-agent).

Examples:
  nightshift run start --vm web1 --vm web2 --patch-exec "apt-get -y upgrade" \\
    --reboot if-required --verify-tcp 443 --dry-run
  nightshift run start -f openssl.yaml --vm web9 --wait
  nightshift run start -f openssl.yaml --json | jq -r .id
${SETTINGS_HELP}
`;

interface StartFlags extends RunSpecFlags {
  file?: string;
  dryRun?: boolean;
  wait?: boolean;
  waitForAgent?: boolean;
  json?: boolean;
}

export function runStartCommand(): Command {
  return new Command("start")
    .description("start a maintenance run: snapshot, patch, reboot, verify each VM, roll back on failure")
    .option("-f, --file <runbook>", "read the run's options from a runbook YAML file (\"-\": standard input)")
    .option("--vm <name>", "a VM to patch, NAME or HOST/VM (repeat for more)", collect(String))
    .addOption(new Option("--patch-exec <command>", "the patch: a shell command run in the guest").conflicts("patchHook"))
    .option("--patch-hook <path>", "the patch: a script on the hypervisor, called with the VM's name")
    .option("--patch-timeout <duration>", `how long the patch may take (default ${dflt("patchTimeout")})`)
    .addOption(new Option("--reboot <when>", `reboot after the patch (default ${dflt("reboot")})`).choices(["never", "always", "if-required"]))
    .option("--verify-exec <command>", "a command in the guest that must exit 0 after the patch")
    .option("--verify-output <text>", "the whole output of --verify-exec must equal TEXT ({vm}: the VM's name)")
    .option("--verify-pattern <regex>", "a line of --verify-exec's output must match REGEX in full")
    .option("--verify-tcp <port>", "a TCP port that must accept connections (repeatable)", collect(parseCount))
    .option("--verify-http <url>", "a URL that must answer 2xx ({vm}: the VM's name; repeatable)", collect(String))
    .option("--verify-http-status <code>", "the status --verify-http must answer instead of 2xx", parseCount)
    .option("--max-parallel <n>", `VMs in flight at once (default ${dflt("maxParallel")})`, parseCount)
    .option("--max-parallel-per-host <n>", `VMs in flight at once on one host (default ${dflt("maxParallelPerHost")})`, parseCount)
    .option("--canary <n>", `the first N VMs go one at a time; a canary failure halts the run (default ${dflt("canary")})`, parseCount)
    .option("--max-failures <n|p%>", `no new VM starts after this many failures, or this share of the VMs (default ${dflt("maxFailures")})`, parseBudget)
    .option("--keep-snapshots <duration>", `how long the pre-patch snapshots are kept (default ${dflt("keepSnapshots")})`)
    .option("--reboot-if-older-than <duration>", "first reboot (and verify) a VM up longer than this")
    .addOption(new Option("--logged-in-users <what>", `users logged in to the guest: note them, or skip the VM (default ${dflt("loggedInUsers")})`).choices(["warn", "skip"]))
    .addOption(new Option("--snapshot-mode <mode>", `how the snapshot is taken (default ${dflt("snapshotMode")})`).choices(["internal", "disk-only-quiesce"]))
    .option("--snapshot-headroom <fraction>", `free space needed besides guest memory, as a share of the disks' size (default ${dflt("snapshotHeadroom")})`, parseFraction)
    .option("--allow-no-rollback", "also patch VMs whose disks cannot be snapshotted (a failure then needs attention)")
    .option("--name <text>", "a label for listings (default: the patch)")
    .option("--dry-run", "print the plan, start nothing")
    .option("--wait", "follow the run until it is finished; exit 0 only if every VM succeeded")
    .option("--wait-for-agent", "start even when a VM's host has no connected agent: its steps wait for the agent (the controller's runs.agentLostTimeout)")
    .option("--json", "print the API's JSON (see Output)")
    .addHelpText("after", RUN_START_HELP)
    .action(async (flags: StartFlags, cmd: Command) => {
      if (flags.dryRun && flags.wait) throw new UsageError("NS_ERR_USAGE", "--wait has nothing to wait for with --dry-run: give one of them");
      const spec = buildRunSpec(flags, flags.file ? readRunbook(flags.file) : null);
      const client = clientFor(cmd);
      if (flags.dryRun) {
        const plan = await client.planRun(spec);
        if (flags.json) printJson(plan);
        else process.stdout.write(planText(plan));
        return;
      }
      const run = await client.startRun(spec, { waitForAgent: flags.waitForAgent ?? false });
      if (!flags.wait) {
        if (flags.json) printJson(run);
        else process.stdout.write(startedText(run));
        return;
      }
      const progress = flags.json ? process.stderr : process.stdout;
      progress.write(startedText(run) + "\n");
      const undo = stopWaitingOnInterrupt(run.id);
      let finished;
      try {
        finished = await waitForRun({ client, runId: run.id, initial: run, write: (text) => progress.write(text) });
      } finally {
        undo();
      }
      if (flags.json) printJson(finished);
      else process.stdout.write(summaryText(finished));
      if (!allSucceeded(finished)) throw notSucceededError(finished);
    });
}
