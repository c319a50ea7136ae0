/** `nightshift vm resolve HOST/VM --reason TEXT`: a VM that needed attention is dealt with. */
import { Command } from "commander";
import type { VmResolutionRecord } from "../shared/runs.js";
import { clientFor } from "./connect.js";
import { printJson } from "./format.js";
import { SETTINGS_HELP } from "./settings.js";
import { requesterName } from "./snapshots.js";

export function resolvedText(r: VmResolutionRecord): string {
  const id = `${r.host}/${r.vm}`;
  const lines = [`${id} no longer needs attention (run${r.runs.length === 1 ? "" : "s"} ${r.runs.join(", ")}), resolved by ${r.by}: ${r.reason}`];
  for (const name of r.snapshots) {
    lines.push(`  its snapshot ${name} is still kept: nightshift snapshots delete ${id} ${name} [--merge|--discard] once it is not needed`);
  }
  return lines.join("\n") + "\n";
}

export function vmCommand(): Command {
  const vm = new Command("vm")
    .description("act on one VM: resolve (it no longer needs attention)")
    .addHelpText("after", `
Commands: resolve HOST/VM --reason TEXT.

Examples:
  nightshift vm resolve web1/app3 --reason "reverted by hand, service checked"
${SETTINGS_HELP}
`);

  vm.command("resolve")
    .description("record that a VM which needed attention was dealt with: runs and plans no longer hold it against the VM")
    .argument("<host/vm>", "the VM as HOST/VM, or its name when one host has it")
    .requiredOption("--reason <text>", "what was done about it, for the record")
    .option("--json", "print the API's JSON answer (fields below)")
    .addHelpText("after", `
A VM a run left needing attention pauses a plan that has it (plan resume is
refused, NS_ERR_PLAN_BLOCKED) and is counted by nightshift_vm_needs_attention,
until a later run on it succeeds or rolls back. Once the VM is repaired (see
"Needs attention: the way back" in the README), resolve says so: every run
that left it needing attention until now stops counting; a later one counts
again. The runs' outcomes stay as they were; each gets an evidence line
operator/resolve with who (user@host of this CLI and the API token's name),
why and when. Snapshots the runs kept are not touched: they are listed, to be
deleted with nightshift snapshots delete.

Refused: an unknown host (NS_ERR_NO_HOST) or VM (NS_ERR_NO_VM, exit 1); a name
on several hosts (NS_ERR_VM_AMBIGUOUS: use HOST/VM); a VM that does not need
attention (NS_ERR_VM_NOT_NEEDS_ATTENTION).

Fields (--json, the answer of POST /v1/vms/HOST%2FVM/resolve): host, vm,
runs[] (the run ids it cleared), reason, by, resolvedAt, snapshots[] (names
of the VM's snapshots still kept).

Examples:
  nightshift vm resolve web1/app3 --reason "overlay merged, patch checked by hand"
  nightshift vm resolve app3 --reason "reverted with virsh" --json
${SETTINGS_HELP}
`)
    .action(async (id: string, flags: { reason: string; json?: boolean }, cmd: Command) => {
      const record = await clientFor(cmd).resolveVm(id, { reason: flags.reason, by: requesterName() });
      if (flags.json) printJson(record);
      else process.stdout.write(resolvedText(record));
    });

  return vm;
}
