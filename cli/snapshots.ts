/** `nightshift snapshots`: the snapshots maintenance runs took, kept until they expire. */
import { Command } from "commander";
import { formatTable } from "../shared/table.js";
import type { SnapshotRecord } from "../shared/runs.js";
import { clientFor } from "./connect.js";
import { orDash, printJson } from "./format.js";
import { isoSeconds } from "./run-format.js";
import { SETTINGS_HELP } from "./settings.js";

export const SNAPSHOTS_COLUMNS = ["VM", "HOST", "SNAPSHOT", "RUN", "CREATED", "EXPIRES", "DELETED", "NOTE"] as const;

export function snapshotsTable(snapshots: readonly SnapshotRecord[]): string {
  return formatTable(SNAPSHOTS_COLUMNS, snapshots.map((s) => [
    s.vm, s.host, s.name, s.runId, isoSeconds(s.createdAt), isoSeconds(s.expiresAt), isoSeconds(s.deletedAt), orDash(s.note),
  ]));
}

export function snapshotsCommand(): Command {
  return new Command("snapshots")
    .description("list the snapshots maintenance runs took before patching, kept until they expire")
    .option("--all", "include snapshots already deleted (the history)")
    .option("--json", "print the API's JSON array (fields below)")
    .addHelpText("after", `
Columns: VM HOST SNAPSHOT RUN CREATED EXPIRES DELETED NOTE
  SNAPSHOT  the libvirt snapshot's name (nightshift-RUN-VM)
  EXPIRES   when it is deleted (the run's keepSnapshots after it was taken);
            "-" when it is kept until deleted by hand
  DELETED   when it was deleted, "-" while it exists
  NOTE      why it was deleted, or why deleting it failed
Times are UTC, to the second. Without --all, only snapshots not deleted yet.

Fields (--json, an array of GET /v1/snapshots): runId, vm, host, name,
createdAt, expiresAt, deletedAt (ISO or null), note (or null).

Examples:
  nightshift snapshots
  nightshift snapshots --all --json | jq -r '.[] | select(.note != null) | "\\(.host) \\(.vm) \\(.note)"'
${SETTINGS_HELP}
`)
    .action(async (flags: { all?: boolean; json?: boolean }, cmd: Command) => {
      const snapshots = await clientFor(cmd).listSnapshots(flags.all ?? false);
      if (flags.json) printJson(snapshots);
      else process.stdout.write(snapshotsTable(snapshots));
    });
}
