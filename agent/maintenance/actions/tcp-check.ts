/**
 * tcp-check: whether the VM's service answers from outside, the way its
 * clients reach it: the addresses come from the guest agent, and a TCP connect
 * is made from this hypervisor to each in turn until one succeeds. Loopback and
 * link-local addresses are skipped: they are not reachable from the host (and
 * IPv6 link-local would need an interface scope the guest does not share).
 */
import net from "node:net";
import { errorMessage } from "../../../shared/errors.js";
import { StepErrorCodes } from "../../../shared/protocol/steps.js";
import { GuestAgent, type GuestNetworkInterface } from "../../libvirt/guest-agent.js";
import { StepError } from "../errors.js";
import type { StepHandler } from "../types.js";
import { lookupVm, requireRunning } from "../vm.js";

export function isUsableAddress(type: "ipv4" | "ipv6", address: string): boolean {
  if (net.isIP(address) === 0) return false;
  if (type === "ipv4") return !address.startsWith("127.") && !address.startsWith("169.254.") && address !== "0.0.0.0";
  const lower = address.toLowerCase();
  return lower !== "::1" && lower !== "::" && !/^fe[89ab]/.test(lower);
}

export function usableAddresses(ifaces: GuestNetworkInterface[]): string[] {
  return ifaces.filter((i) => i.name !== "lo")
    .flatMap((i) => i.addresses.filter((a) => isUsableAddress(a.type, a.address)).map((a) => a.address));
}

/** Resolves with the connect time, rejects with why it failed; the socket is closed either way. */
export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no connection within ${Math.round(timeoutMs)} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      socket.destroy();
      resolve(ms);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

export const tcpCheckAction: StepHandler<"tcp-check"> = {
  kind: "tcp-check",
  async run(action, ctx) {
    const conn = ctx.libvirt();
    const dom = await lookupVm(conn, action.vm);
    await requireRunning(conn, dom, "tcp-check");
    const ifaces = await new GuestAgent(conn, dom).getNetworkInterfaces();
    const addresses = usableAddresses(ifaces);
    if (addresses.length === 0) {
      const seen = ifaces.map((i) => `${i.name} (${i.addresses.map((a) => a.address).join(", ") || "no address"})`).join("; ");
      throw new StepError(StepErrorCodes.FAILED, `VM ${action.vm}: the guest agent reported no usable address to check port ` +
        `${action.port} on (loopback and link-local addresses are skipped); interfaces: ${seen || "none"}`);
    }
    const deadline = performance.now() + action.timeoutMs;
    const failures: string[] = [];
    for (const [i, address] of addresses.entries()) {
      // Each remaining address gets an equal share of the time left, so one that black-holes cannot starve the rest.
      const share = (deadline - performance.now()) / (addresses.length - i);
      if (share <= 0) {
        failures.push(`${address}: not tried, time was up`);
        continue;
      }
      try {
        const connectMs = await tcpConnect(address, action.port, share);
        return { address, connectMs };
      } catch (err) {
        failures.push(`${address}: ${errorMessage(err)}`);
      }
    }
    const timedOut = performance.now() >= deadline;
    throw new StepError(timedOut ? StepErrorCodes.TIMEOUT : StepErrorCodes.FAILED,
      `VM ${action.vm}: no TCP connection to port ${action.port} within ${action.timeoutMs} ms: ${failures.join("; ")}`);
  },
};
