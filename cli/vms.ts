/** `nightshift vms [--host H]`: every VM the agents reported, across the fleet. */
import { Command } from "commander";
import { formatKiB, formatTable } from "../shared/table.js";
import type { HostRecord, VmRecord } from "../shared/api.js";
import type { DomainDisk } from "../shared/protocol/messages.js";
import { libvirtReason } from "./hosts.js";
import { clientFor } from "./connect.js";
import { printJson, yesNo } from "./format.js";
import { SETTINGS_HELP } from "./settings.js";

/** `truncated`: disks the agent left out of the inventory entry (beyond 256). */
export function formatDisks(disks: readonly DomainDisk[], truncated = 0): string {
  const listed = disks.map((d) => `${d.target}=${d.source ?? "-"}${d.driverType ? ` (${d.driverType})` : ""}`);
  if (truncated > 0) listed.push(`+${truncated} more not listed`);
  return listed.join(", ") || "-";
}

export function vmsTable(vms: readonly VmRecord[]): string {
  return formatTable(
    ["HOST", "NAME", "STATE", "AUTOSTART", "VCPUS", "MEMORY", "DISKS"],
    vms.map((v) => [v.host, v.name, v.state, yesNo(v.autostart), String(v.vcpus), formatKiB(v.memoryKiB),
      formatDisks(v.disks, v.disksTruncated)]),
  );
}

/** One note per listed host whose agent cannot reach libvirt: its VMs are as last reported. */
export function staleInventoryNotes(hosts: readonly HostRecord[], vms: readonly VmRecord[]): string {
  const listed = new Set(vms.map((v) => v.host));
  return hosts.filter((h) => listed.has(h.name) && h.libvirt?.state === "unreachable")
    .map((h) => `note: libvirt on ${h.name} is unreachable since ${h.libvirt!.since ?? "unknown"} (${libvirtReason(h.libvirt!)}): `
      + "its VMs are shown as last reported\n")
    .join("");
}

export function vmsCommand(): Command {
  return new Command("vms")
    .description("list the VMs of every host (or one host) as their agents last reported them")
    .option("--host <name>", "only this host's VMs (an unknown host is an error, NS_ERR_NO_HOST)")
    .option("--json", "print the API's JSON array (fields below)")
    .addHelpText("after", `
Columns: HOST NAME STATE AUTOSTART VCPUS MEMORY DISKS
  STATE   libvirt's state: running, shutoff, paused, crashed, pmsuspended, ...
  DISKS   target=source (format), e.g. vda=/var/lib/libvirt/images/web1.qcow2 (qcow2);
          a VM with more than 256 disks lists the first 256 and "+N more not listed"
Sorted by host, then name. A host whose agent cannot reach libvirt gets a note
on standard error: its VMs are shown as last reported.

Fields (--json, an array of GET /v1/vms): host, name, uuid, state, stateReason
(booted, destroyed, from-snapshot, ...), autostart, persistent, vcpus,
memoryKiB, maxMemoryKiB, disks[] {target, bus, device, type, source,
driverType, readonly, shareable}, disksTruncated (disks beyond the 256 listed;
absent when none), updatedAt (ISO time of the last report).

Examples:
  nightshift vms
  nightshift vms --host web1
  nightshift vms --json | jq -r '.[] | select(.state != "running") | "\\(.host)/\\(.name)"'
${SETTINGS_HELP}
`)
    .action(async (flags: { host?: string; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const vms = await client.listVms(flags.host);
      if (flags.json) {
        printJson(vms);
        return;
      }
      process.stdout.write(vmsTable(vms));
      if (vms.length > 0) process.stderr.write(staleInventoryNotes(await client.listHosts(), vms));
    });
}
