/**
 * `nightshift snapshots`: the snapshots maintenance runs took, kept until they
 * expire; `nightshift snapshots delete`: one deleted by hand (an internal one
 * plainly, a disk-only one merged or discarded).
 */
import os from "node:os";
import { Command } from "commander";
import { formatTable } from "../shared/table.js";
import type { SnapshotDeleteRecord, SnapshotRecord } from "../shared/runs.js";
import { clientFor } from "./connect.js";
import { UsageError } from "./errors.js";
import { orDash, printJson } from "./format.js";
import { isoSeconds } from "./run-format.js";
import { SETTINGS_HELP } from "./settings.js";

export const SNAPSHOTS_COLUMNS = ["VM", "HOST", "SNAPSHOT", "RUN", "CREATED", "EXPIRES", "DELETED", "NOTE"] as const;

/** A merge of a large overlay (or a qemu-img commit of a VM that is off) takes its time: the controller's snapshot step limit, and some. */
const DELETE_TIMEOUT_MS = 16 * 60_000;

export function snapshotsTable(snapshots: readonly SnapshotRecord[]): string {
  return formatTable(SNAPSHOTS_COLUMNS, snapshots.map((s) => [
    s.vm, s.host, s.name, s.runId, isoSeconds(s.createdAt), isoSeconds(s.expiresAt), isoSeconds(s.deletedAt), orDash(s.note),
  ]));
}

/** Who is asking, for the record: user@host of this CLI (the controller adds the API token's name). */
export function requesterName(): string {
  let user = process.env.USER ?? "unknown";
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (a container): $USER it is.
  }
  return `${user}@${os.hostname()}`;
}

/** HOST/VM as given on the command line. */
export function splitHostVm(id: string): { host: string; vm: string } {
  const slash = id.indexOf("/");
  if (slash <= 0 || slash === id.length - 1) {
    throw new UsageError("NS_ERR_USAGE", `'${id}': name the VM as HOST/VM (nightshift snapshots lists both)`);
  }
  return { host: id.slice(0, slash), vm: id.slice(slash + 1) };
}

export function snapshotDeletedText(r: SnapshotDeleteRecord): string {
  const what = `Snapshot ${r.name} of ${r.host}/${r.vm}`;
  switch (r.result) {
    case "merged": return `${what} merged into its disks: the VM keeps its current state, no overlay is left.\n`;
    case "discarded": return `${what} discarded: the VM's disks are back on the images they had when it was taken, the overlays are gone. ` +
      `The VM stays off: start it (virsh start ${r.vm}) and check it.\n`;
    case "gone": return `${what} was not in libvirt any more; recorded as deleted.\n`;
    case "deleted": return `${what} deleted.\n`;
  }
}

const LIST_HELP = `
Columns: VM HOST SNAPSHOT RUN CREATED EXPIRES DELETED NOTE
  SNAPSHOT  the libvirt snapshot's name (nightshift-RUN-VM)
  EXPIRES   when it is deleted (the run's keepSnapshots after it was taken);
            "-" when it is kept until deleted by hand (a VM that needs attention)
  DELETED   when it was deleted, "-" while it exists
  NOTE      why it was deleted (retention, or the operator: merged, discarded,
            with the reason), or why deleting it failed
Times are UTC, to the second. Without --all, only snapshots not deleted yet.

Fields (--json, an array of GET /v1/snapshots): runId, vm, host, name,
createdAt, expiresAt, deletedAt (ISO or null), note (or null).`;

const DELETE_HELP = `
Deletes a snapshot a maintenance run took, through its host's agent:
  internal snapshot   deleted; the VM does not change (--merge means the same)
  disk-only snapshot  --merge   each overlay is merged into its disk (a running
                                VM: block commit and pivot; one that is off:
                                qemu-img commit): the VM keeps its current state
                      --discard the overlays are dropped and each disk is back
                                on the image it had when the snapshot was taken:
                                what the VM wrote since is gone. Only with the
                                VM shut off (NS_ERR_STEP_VM_NOT_SHUT_OFF
                                otherwise); it stays off.
The agent checks for itself that the snapshot is nightshift's (named
nightshift-RUN-VM and carrying its marker): anything else is refused
(NS_ERR_STEP_SNAPSHOT_NOT_OURS). The snapshot is then listed as deleted in
nightshift snapshots --all, with the reason, and the deletion is an evidence
line (operator/snapshot-delete) of the run that took it.

Refused before anything is asked of the agent: a snapshot not in nightshift's
records (NS_ERR_NO_SNAPSHOT) or deleted already (NS_ERR_SNAPSHOT_DELETED); a
disk-only snapshot without --merge or --discard, or --discard of an internal
one (NS_ERR_SNAPSHOT_MODE); a VM in an unfinished run (NS_ERR_VM_IN_RUN); a
host whose agent is not connected (NS_ERR_AGENT_NOT_CONNECTED). What the agent
refuses or fails with is its NS_ERR_STEP_* code (NS_ERR_STEP_DISK_NOT_WRITABLE:
its unit cannot write the image directory, see the README).

Fields (--json, the answer of DELETE /v1/snapshots/HOST/VM/NAME): those of
nightshift snapshots --json, plus result: deleted, merged, discarded, or gone
(libvirt no longer had it).

Examples:
  nightshift snapshots delete web1/app3 nightshift-20260302-020000-ab12-app3 --merge --reason "keep the patch"
  virsh destroy app3   # on web1
  nightshift snapshots delete web1/app3 nightshift-20260302-020000-ab12-app3 --discard --reason "patch broke it"
${SETTINGS_HELP}
`;

export function snapshotsCommand(): Command {
  const snapshots = new Command("snapshots")
    .description("list the snapshots maintenance runs took (the default; --all for the deleted ones too), or delete one")
    .addHelpText("after", `${LIST_HELP}

Commands: list [--all] [--json] (the default), delete HOST/VM NAME [--merge|--discard].

Examples:
  nightshift snapshots
  nightshift snapshots --all --json | jq -r '.[] | select(.note != null) | "\\(.host) \\(.vm) \\(.note)"'
  nightshift snapshots delete web1/app3 nightshift-20260302-020000-ab12-app3 --merge
${SETTINGS_HELP}
`);

  snapshots.command("list", { isDefault: true })
    .description("list the snapshots maintenance runs took, kept until they expire (what `nightshift snapshots` runs)")
    .option("--all", "include snapshots already deleted (the history)")
    .option("--json", "print the API's JSON array (fields below)")
    .allowExcessArguments(true)
    .addHelpText("after", `${LIST_HELP}

Examples:
  nightshift snapshots
  nightshift snapshots list --all --json
${SETTINGS_HELP}
`)
    .action(async (flags: { all?: boolean; json?: boolean }, cmd: Command) => {
      if (cmd.args.length > 0) cmd.error(`error: unknown command '${cmd.args[0]}' for 'nightshift snapshots' (commands: list, delete)`);
      const list = await clientFor(cmd).listSnapshots(flags.all ?? false);
      if (flags.json) printJson(list);
      else process.stdout.write(snapshotsTable(list));
    });

  snapshots.command("delete")
    .description("delete a snapshot a run took: an internal one plainly, a disk-only one merged (--merge) or discarded (--discard)")
    .argument("<host/vm>", "the VM as HOST/VM (nightshift snapshots)")
    .argument("<name>", "the snapshot's name (nightshift-RUN-VM)")
    .option("--merge", "disk-only: merge the overlays into the disks; the VM keeps its current state")
    .option("--discard", "disk-only, VM shut off: drop the overlays; the disks are back to the snapshot")
    .option("--reason <text>", "why, for the record (nightshift snapshots --all, the run's evidence)")
    .option("--json", "print the API's JSON answer (fields below)")
    .addHelpText("after", DELETE_HELP)
    .action(async (id: string, name: string, flags: { merge?: boolean; discard?: boolean; reason?: string; json?: boolean }, cmd: Command) => {
      if (flags.merge && flags.discard) throw new UsageError("NS_ERR_USAGE", "give --merge or --discard, not both");
      const { host, vm } = splitHostVm(id);
      const mode = flags.merge ? "merge" : flags.discard ? "discard" : undefined;
      const record = await clientFor(cmd, process.env, DELETE_TIMEOUT_MS).deleteSnapshot(host, vm, name,
        { mode, reason: flags.reason, by: requesterName() });
      if (flags.json) printJson(record);
      else process.stdout.write(snapshotDeletedText(record));
    });

  return snapshots;
}
