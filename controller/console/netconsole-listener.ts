/**
 * The controller's netconsole listener: a UDP port (netconsole.listen) where
 * enrolled hosts' kernels send their console lines (kernel netconsole needs
 * no user space, so it speaks while a host is in emergency mode and its agent
 * does not run). A datagram is matched to a host by its source address, the
 * address its agent's latest session came from; datagrams from any other
 * address are counted and dropped. Each host's last lines are kept in memory;
 * the emergency report (emergency-line.ts) becomes the host's emergency state.
 *
 * UDP source addresses can be forged by anyone on the path: a forged line can
 * at most raise a false emergency on a host, which its next agent hello
 * clears; it can run nothing and costs a bounded amount of memory.
 */
import dgram from "node:dgram";
import type { Logger } from "../../shared/logging.js";
import type { Store } from "../store/index.js";
import type { ControllerMetrics } from "../metrics.js";
import { ConsoleLines } from "./console-lines.js";
import { parseConsoleLine } from "./emergency-line.js";
import { applyEmergencyFstabLine, applyEmergencyLine } from "./host-emergency.js";
import type { Deliveries } from "../deliveries.js";
import { postJson } from "../deliveries.js";

/** Lines taken from one datagram (netconsole sends one message per datagram; more is not a kernel). */
const MAX_LINES_PER_DATAGRAM = 16;
/** The address -> host map is re-read from the store when older than this: a host's new address is known within it. */
const ADDRESS_REFRESH_MS = 2_000;
const REPEAT_STORE_MS = 10_000;

export interface NetconsoleListenerOptions {
  store: Store;
  metrics: ControllerMetrics;
  log: Logger;
  lines: ConsoleLines;
  webhooks: string[];
  webhookTimeoutMs: number;
  deliveries: Deliveries;
}

export class NetconsoleListener {
  private socket: dgram.Socket | null = null;
  private addresses = new Map<string, number>();
  private addressesReadAt = 0;
  /** Per host, the last report stored and when: the report repeats while the host stays there, and is stored again at most every REPEAT_STORE_MS. */
  private readonly lastStored = new Map<number, { key: string; at: number }>();

  constructor(private readonly opts: NetconsoleListenerOptions) {}

  /** Binds host:port; resolves with the bound port. */
  async listen(host: string, port: number): Promise<number> {
    const socket = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4", reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, host, () => { socket.off("error", reject); resolve(); });
    });
    socket.on("error", (err) => this.opts.log.warn({ err: err.message }, "netconsole socket error"));
    socket.on("message", (msg, rinfo) => this.onDatagram(msg, rinfo.address));
    this.socket = socket;
    return socket.address().port;
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }

  private hostOf(address: string): number | undefined {
    const plain = address.replace(/^::ffff:(?=\d+\.)/, "");
    const now = Date.now();
    // Re-read on age, not only on a miss: an address that moved to another host's agent must follow it.
    if (now - this.addressesReadAt >= ADDRESS_REFRESH_MS) {
      this.addresses = this.opts.store.hosts.lastAddresses();
      this.addressesReadAt = now;
    }
    return this.addresses.get(plain);
  }

  private onDatagram(msg: Buffer, address: string): void {
    const { store, metrics, log, lines } = this.opts;
    const hostId = this.hostOf(address);
    if (hostId === undefined) {
      metrics.netconsoleLines.inc({ result: "unknown-source" });
      return;
    }
    const host = store.hosts.findById(hostId);
    if (!host) return;
    const now = Date.now();
    const texts = msg.toString("utf8").split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l.trim() !== "")
      .slice(0, MAX_LINES_PER_DATAGRAM);
    for (const text of texts) {
      metrics.netconsoleLines.inc({ result: "accepted" });
      lines.add(hostId, now, text);
      const report = parseConsoleLine(text);
      if (!report) continue;
      const key = JSON.stringify(report);
      const last = this.lastStored.get(hostId);
      if (last && last.key === key && now - last.at < REPEAT_STORE_MS) continue;
      this.lastStored.set(hostId, { key, at: now });
      if (report.kind === "fstab") {
        store.transaction(() => applyEmergencyFstabLine(store, hostId, host.name, report, now));
        continue;
      }
      if (report.host !== host.name) {
        // The line names another host than the one at this address: trust neither, say so.
        log.warn({ host: host.name, address, named: report.host }, "netconsole emergency line names another host than its source address's; ignored");
        continue;
      }
      const began = store.transaction(() => applyEmergencyLine(store, hostId, host.name, report, now));
      if (!began) continue;
      log.error({ host: host.name, target: report.target, boot: report.boot, failedUnits: report.failedUnits },
        "host entered emergency mode (its console said so)");
      this.notify({ event: "host-emergency", time: new Date(now).toISOString(), host: host.name, target: report.target,
        boot: report.boot, failedUnits: report.failedUnits, lastConsoleLines: lines.last(hostId, 20).map((l) => l.text) });
    }
  }

  private notify(body: Record<string, unknown>): void {
    const text = JSON.stringify(body);
    for (const url of this.opts.webhooks) {
      this.opts.deliveries.send(url, { event: body.event, host: body.host }, () => postJson(url, text, this.opts.webhookTimeoutMs));
    }
  }
}
