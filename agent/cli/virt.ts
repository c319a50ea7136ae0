/**
 * `nightshift-agent virt ...`: look at the local libvirtd through the agent's
 * own client, without a controller. Useful on its own when a host misbehaves.
 */
import { Command, Option } from "commander";
import { LibvirtConnection } from "../libvirt/connection.js";
import { inventoryDomains, type DomainInventory } from "../inventory/domains.js";
import { formatKiB, formatTable } from "../../shared/table.js";
import type { DomainEvent } from "../libvirt/events.js";
import { DEFAULT_URI } from "../libvirt/uri.js";

interface ConnectFlags {
  uri: string;
  socket?: string;
}

function connectOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--uri <uri>", "libvirt URI (qemu:///system, test:///default, qemu+unix:///system?socket=PATH)")
      .env("LIBVIRT_DEFAULT_URI").default(DEFAULT_URI))
    .option("--socket <path>", "libvirtd socket to use instead of the one the URI implies");
}

function open(flags: ConnectFlags): Promise<LibvirtConnection> {
  return LibvirtConnection.open({ uri: flags.uri, ...(flags.socket ? { socketPath: flags.socket } : {}) });
}

export function domainsTable(domains: readonly DomainInventory[]): string {
  return formatTable(
    ["NAME", "UUID", "STATE", "REASON", "AUTOSTART", "PERSISTENT", "VCPUS", "MEMORY", "DISKS"],
    domains.map((d) => [
      d.name, d.uuid, d.state, d.stateReason, d.autostart ? "yes" : "no", d.persistent ? "yes" : "no",
      String(d.vcpus), formatKiB(d.memoryKiB),
      d.disks.map((disk) => `${disk.target}=${disk.source ?? "-"}${disk.driverType ? ` (${disk.driverType})` : ""}`).join(", ") || "-",
    ]),
  );
}

/** One JSON line per event: the format `virt events` prints and scripts read. */
export function eventLine(event: DomainEvent): string {
  const base = { time: event.receivedAt.toISOString(), kind: event.kind, domain: event.domain.name, uuid: event.domain.uuid };
  switch (event.kind) {
    case "lifecycle":
      return JSON.stringify({ ...base, event: event.event, detail: event.detail });
    case "agent-lifecycle":
      return JSON.stringify({ ...base, state: event.state, reason: event.reason });
    case "reboot":
      return JSON.stringify(base);
  }
}

export function virtCommand(): Command {
  const virt = new Command("virt").description("inspect the local libvirtd directly, without a controller");

  connectOptions(virt.command("domains"))
    .description("list every domain with state, autostart, persistence, vCPUs, memory and disks")
    .option("--json", "print a JSON array (stable field names, see README)")
    .addHelpText("after", `
Fields (--json): name, uuid, id (null when stopped), state, stateReason, autostart,
persistent, vcpus, memoryKiB, maxMemoryKiB, disks[] {target, bus, device, type,
source, driverType, readonly, shareable}.

Examples:
  nightshift-agent virt domains
  nightshift-agent virt domains --uri test:///default --json
`)
    .action(async (flags: ConnectFlags & { json?: boolean }) => {
      const conn = await open(flags);
      try {
        const domains = await inventoryDomains(conn);
        process.stdout.write(flags.json ? JSON.stringify(domains, null, 2) + "\n" : domainsTable(domains));
      } finally {
        await conn.connectClose();
      }
    });

  connectOptions(virt.command("events"))
    .description("print lifecycle, reboot and guest-agent events as JSON lines until interrupted")
    .addHelpText("after", `
Each line: {"time", "kind": "lifecycle"|"reboot"|"agent-lifecycle", "domain", "uuid",
plus "event" and "detail" (lifecycle) or "state" and "reason" (agent-lifecycle)}.
Exits 0 on SIGINT/SIGTERM, non-zero if the connection to libvirtd is lost.
`)
    .action(async (flags: ConnectFlags) => {
      const conn = await open(flags);
      const subscription = await conn.domainEvents();
      let interrupted = false;
      const stop = () => {
        interrupted = true;
        void subscription.close().finally(() => conn.connectClose().catch(() => {}));
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      for await (const event of subscription.events) process.stdout.write(eventLine(event) + "\n");
      if (!interrupted) {
        throw subscription.events.reason ?? new Error("event stream ended");
      }
    });

  return virt;
}
