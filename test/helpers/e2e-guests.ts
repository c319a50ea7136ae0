/**
 * What the end-to-end tests (test/e2e/) share: commands in real QEMU guests
 * through qemu-ga, the agent as a process against a controller process, and
 * the logs to show when something does not happen in time.
 */
import fs from "node:fs";
import type { LibvirtConnection } from "../../agent/libvirt/connection.js";
import { GuestAgent } from "../../agent/libvirt/guest-agent.js";
import type { DomainRef } from "../../agent/libvirt/remote-types.js";
import { AgentProcess, type tempAgentDir } from "../integration/agent/daemon/agent-process.js";
import type { TestController } from "./controller.js";
import { guestDiskPath, readGuestConsoleLog, removeGuestDisk } from "./guest.js";
import { removeDomainsWithPrefix } from "./libvirt.js";

/** `sh -c COMMAND` in the guest; its trimmed stdout, or an error unless it exits 0. */
export async function guestShell(conn: LibvirtConnection, dom: DomainRef, command: string): Promise<string> {
  const r = await new GuestAgent(conn, dom).exec({ path: "/bin/sh", args: ["-c", command], timeoutMs: 20_000 });
  if (r.exitCode !== 0) throw new Error(`${command} in ${dom.name}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Writes an agent config that allows these guest commands and hooks. */
export function writeAgentConfig(file: string, guestCommands: string[], hooks: string[] = []): void {
  fs.writeFileSync(file, [
    "maintenance:",
    "  guestCommands:",
    ...guestCommands.map((c) => `    - ${JSON.stringify(c)}`),
    ...(hooks.length > 0 ? ["  hooks:", ...hooks.map((h) => `    - ${JSON.stringify(h)}`)] : []),
    "",
  ].join("\n"));
}

/** The agent on the system libvirtd as hypervisor `host` of the controller, logging at info. */
export function startE2eAgent(controller: TestController, agentDir: ReturnType<typeof tempAgentDir>, host: string, configFile: string): AgentProcess {
  return new AgentProcess({
    controller: controller.agentUrl, tokenFile: agentDir.tokenFile, stateDir: agentDir.stateDir, uri: "qemu:///system",
    env: { NIGHTSHIFT_AGENT_HOST: host, NIGHTSHIFT_AGENT_LOG_LEVEL: "info" }, args: ["--config", configFile],
  });
}

/** For a timeout's error: the ends of the agent's and the controller's logs and of each guest's console. */
export async function e2eLogs(agent: AgentProcess, controller: TestController, guests: string[]): Promise<string> {
  const consoles = await Promise.all(guests.map(async (n) => `--- ${n}\n${(await readGuestConsoleLog(n)).slice(-1500)}`));
  return `agent log:\n${agent.dump().slice(-5000)}\ncontroller log:\n${controller.logs().slice(-6000)}\n${consoles.join("\n")}`;
}

/** Removes the test's domains (by prefix) and the guests' disks, and closes the connection if it was opened. */
export async function removeGuests(conn: LibvirtConnection | undefined, prefix: string, guests: string[]): Promise<void> {
  if (conn) {
    await removeDomainsWithPrefix(conn, prefix);
    await conn.connectClose();
  }
  for (const name of guests) await removeGuestDisk(guestDiskPath(name));
}
