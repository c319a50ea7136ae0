/** `--help` of every command reads like a man page: what it does, options, --json fields, examples, environment. */
import { describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

describe.each([
  { args: [], has: ["Usage: nightshift [options] [command]", "hosts", "vms", "vm resolve", "events", "status", "runs", "snapshots", "run start",
    "windows", "machines", "plan"] },
  { args: ["hosts"], has: ["Columns: NAME STATUS CONNECTED LAST-SEEN VMS AGENT LIBVIRT", "Fields (hosts --json", "enroll", "revoke"] },
  { args: ["hosts", "list"], has: ["--json", "Fields (hosts --json", "lastSeenAt"] },
  { args: ["hosts", "enroll"], has: ["<name>", "/etc/nightshift/agent.token", "mode 0600", "Fields (--json", "NS_ERR_HOST_EXISTS"] },
  { args: ["hosts", "revoke"], has: ["<name>", "Fields (--json", "revokedAt", "NS_ERR_NO_HOST"] },
  { args: ["vms"], has: ["--host <name>", "Columns: HOST NAME STATE AUTOSTART VCPUS MEMORY DISKS", "Fields (--json", "memoryKiB"] },
  { args: ["events"], has: ["--since <when>", "--limit <n>", "--vm <name-or-uuid>", "Columns: TIME AGENT-TIME HOST KIND VM EVENT DETAIL", "receivedAt"] },
  { args: ["status"], has: ["Fields (--json", "agentsConnected", "byState"] },
  { args: ["run"], has: ["start", "show", "evidence", "abort", "succeeded, rolled-back"] },
  { args: ["run", "start"], has: ["-f, --file <runbook>", "--vm <name>", "--patch-exec <command>", "--verify-tcp <port>",
    "--max-failures <n|p%>", "--dry-run", "--wait", "Runbook keys", "maxParallelPerHost", "Example runbook:", "Ctrl-C",
    "0 only when every VM", "NS_ERR_VM_AMBIGUOUS"] },
  { args: ["run", "show"], has: ["<id>", "Columns: POS VM HOST CANARY PHASE OUTCOME REASON SNAPSHOT", "Fields (--json", "haltReason", "NS_ERR_NO_RUN"] },
  { args: ["run", "evidence"], has: ["<id>", "TIME  VM  STEP/CHECK  RESULT  DURATION  COMMAND", "Fields (--json", "durationMs"] },
  { args: ["run", "abort"], has: ["<id>", "aborted", "Fields (--json", "stopping"] },
  { args: ["runs"], has: ["--limit <n>", "Columns: ID NAME STATE VMS SUCCEEDED ROLLED-BACK SKIPPED NEEDS-ATTENTION ABORTED CREATED HALT REASON",
    "Fields (--json", "vmCount"] },
  { args: ["snapshots"], has: ["--all", "Columns: VM HOST SNAPSHOT RUN CREATED EXPIRES DELETED NOTE", "Fields (--json", "expiresAt", "delete"] },
  { args: ["snapshots", "delete"], has: ["<host/vm>", "<name>", "--merge", "--discard", "--reason <text>", "NS_ERR_SNAPSHOT_MODE",
    "NS_ERR_STEP_VM_NOT_SHUT_OFF", "NS_ERR_STEP_SNAPSHOT_NOT_OURS", "Fields (--json", "result"] },
  { args: ["vm"], has: ["resolve"] },
  { args: ["vm", "resolve"], has: ["<host/vm>", "--reason <text>", "NS_ERR_VM_NOT_NEEDS_ATTENTION", "NS_ERR_NO_VM", "Fields (--json", "resolvedAt"] },
  { args: ["windows"], has: ["Columns: GROUP TZ WINDOWS BLACKOUTS NOTICE MACHINES NEXT WINDOW (UTC)", "Fields (--json", "nextWindowStart",
    "set", "delete"] },
  { args: ["windows", "set"], has: ["<group>", "-f, --file <file>", "--tz <zone>", "--window <spec>", "--blackout <dates>", "--notice <duration>",
    '"tue,thu 02:00-05:00"', "2026-12-27..2027-01-02", "Example file", "NS_ERR_WINDOWS_SPEC", "Fields (--json"] },
  { args: ["windows", "delete"], has: ["<group>", "NS_ERR_NO_WINDOWS"] },
  { args: ["machines"], has: ["Columns: NAME KIND HOST GROUP ROLES TESTED HA-GROUPS MINUTES", "Fields (--json", "estimatedMinutes", "set", "delete"] },
  { args: ["machines", "set"], has: ["<name>", "--group <group>", "--role <role>", "--tested", "--ha-group <name>", "--slot-length <duration>", "--host",
    "HOST/VM", "NS_ERR_VM_AMBIGUOUS", "NS_ERR_MACHINE_SPEC", "Fields (--json"] },
  { args: ["machines", "delete"], has: ["<name>", "--host", "--vm", "NS_ERR_MACHINE_AMBIGUOUS"] },
  { args: ["plan"], has: ["week", "show", "check", "pause", "resume", "cancel", "export"] },
  { args: ["plan", "week"], has: ["--spec <file>", "--start <date>", "--dry-run", "Spec keys", "failureBudget", "Example spec:", "run:",
    "Columns: DAY START END MACHINE KIND HOST GROUP STATE RUN OUTCOME", "in UTC", "NS_ERR_WAVE_SPEC", "NS_ERR_PLAN_ACTIVE", "Fields (--json", "pausedReason"] },
  { args: ["plan", "show"], has: ["[id]", "Columns: DAY START END MACHINE KIND HOST GROUP STATE RUN OUTCOME", "Columns: MACHINE GROUP WAVE REASON DETAIL",
    "NS_ERR_NO_PLAN", "Fields (--json", "unplaced[]"] },
  { args: ["plan", "check"], has: ["Columns: MACHINE GROUP PROBLEM REASON DETAIL", "no-slot", "NS_ERR_PLAN_INCOMPLETE", "Fields (--json"] },
  { args: ["plan", "pause"], has: ["nightshift plan resume", "Fields (--json"] },
  { args: ["plan", "resume"], has: ["paused itself", "nightshift run show RUN", "Fields (--json"] },
  { args: ["plan", "cancel"], has: ["cannot be resumed", "Fields (--json"] },
  { args: ["plan", "export"], has: ["--ics <group>", "-o, --output <file>", "iCalendar", "NS_ERR_NO_GROUP"] },
])("nightshift $args --help", ({ args, has }) => {
  it("exits 0 and documents the command, its settings and exit codes", async () => {
    const result = await runCli([...args, "--help"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    for (const text of [...has, "Examples:", "Environment:", "NIGHTSHIFT_URL", "NIGHTSHIFT_TOKEN", "cli.yaml", "--url <url>",
      "--token <token>", "--config <file>", "Exit status: 0 ok, 1 error", "2 usage error"]) {
      expect(result.stdout, text).toContain(text);
    }
  });
});

it("nightshift help COMMAND is the same as COMMAND --help", async () => {
  expect((await runCli(["help", "events"])).stdout).toBe((await runCli(["events", "--help"])).stdout);
});

it("--version prints the package version", async () => {
  const result = await runCli(["--version"]);
  expect(result).toEqual({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/), stderr: "" });
});
