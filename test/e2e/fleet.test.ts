/**
 * End to end, all real: the controller and the agent as processes, the agent
 * on the system libvirtd with real QEMU guests, the operator's `nightshift`
 * CLI reading the result.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LibvirtConnection } from "../../agent/libvirt/connection.js";
import { inventoryDomains } from "../../agent/inventory/domains.js";
import type { DomainRef } from "../../agent/libvirt/remote-types.js";
import { ensureGuestBuilt, guestDiskPath, guestDomainXml, prepareGuestDisk, removeGuestDisk } from "../helpers/guest.js";
import { removeDomainsWithPrefix, testPrefix } from "../helpers/libvirt.js";
import { startController, type TestController } from "../helpers/controller.js";
import { AgentProcess, tempAgentDir } from "../integration/agent/daemon/agent-process.js";
import { runAgainst } from "../integration/cli/run-cli.js";

const prefix = testPrefix("e2e");
const hostName = `e2e-${randomBytes(3).toString("hex")}`;
let conn: LibvirtConnection;
let controller: TestController;
let agent: AgentProcess;
let agentDir: ReturnType<typeof tempAgentDir>;
const guests: Record<string, DomainRef> = {};
let dataDir: string;
const CONTROLLER_CONFIG = { liveness: { missingAfter: "2s", checkInterval: "500ms" }, agents: { heartbeat: "1s" } };

interface VmJson { name: string; uuid: string; state: string; stateReason: string; autostart: boolean; persistent: boolean;
  vcpus: number; memoryKiB: number; maxMemoryKiB: number; disks: { target: string }[] }
interface EventJson { kind: string; vm: string | null; event: string | null; detail: string | null; time: string; id: string }
interface HostJson { name: string; status: string; connected: boolean }

async function cliJson<T>(args: string[]): Promise<T> {
  const result = await runAgainst(controller, [...args, "--json"]);
  if (result.code !== 0) throw new Error(`nightshift ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs: number): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  for (;;) {
    const value = await probe();
    if (value) return { value, ms: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`${what} not seen within ${timeoutMs} ms\nagent log:\n${agent?.dump().slice(-4000)}\ncontroller log:\n${controller?.logs().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const vmEvents = (vm: string) => cliJson<EventJson[]>(["events", "--host", hostName, "--vm", vm]);

function startAgent(): AgentProcess {
  return new AgentProcess({
    controller: controller.agentUrl, tokenFile: agentDir.tokenFile, stateDir: agentDir.stateDir, uri: "qemu:///system",
    env: { NIGHTSHIFT_AGENT_HOST: hostName, NIGHTSHIFT_AGENT_LOG_LEVEL: "info" },
  });
}

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  for (const [i, short] of ["web", "db", "late"].entries()) {
    const name = `${prefix}${short}`;
    const diskPath = await prepareGuestDisk(name, artifacts);
    if (short === "late") continue; // defined later, while the agent is down
    guests[short] = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath }));
    await conn.domainSetAutostart(guests[short]!, i === 0);
  }
  guests.web = await conn.domainCreate(guests.web!);

  // Our own data directory, so it outlives the controller restart below.
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-e2e-controller-"));
  controller = await startController({ dataDir, config: CONTROLLER_CONFIG });
  const enrolled = await runAgainst(controller, ["hosts", "enroll", hostName]);
  expect(enrolled.code).toBe(0);
  agentDir = tempAgentDir(enrolled.stdout.trim());
  agent = startAgent();
  await agent.waitForLibvirt();
});

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await removeDomainsWithPrefix(conn, prefix);
  for (const short of ["web", "db", "late"]) await removeGuestDisk(guestDiskPath(`${prefix}${short}`));
  await conn.connectClose();
  agentDir?.cleanup();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("fleet inventory end to end", { timeout: 60_000 }, () => {
  it("nightshift vms --json matches what libvirt reports", async () => {
    const { value: vms, ms } = await until("both guests in nightshift vms", async () => {
      const list = (await cliJson<VmJson[]>(["vms", "--host", hostName])).filter((v) => v.name.startsWith(prefix));
      return list.length === 2 ? list : null;
    }, 10_000);
    console.log(`inventory visible through the CLI ${ms} ms after the agent subscribed`);
    const fromLibvirt = (await inventoryDomains(conn)).filter((d) => d.name.startsWith(prefix));
    const comparable = (v: VmJson | (typeof fromLibvirt)[number]) => ({
      name: v.name, uuid: v.uuid, state: v.state, stateReason: v.stateReason, autostart: v.autostart, persistent: v.persistent,
      vcpus: v.vcpus, memoryKiB: v.memoryKiB, maxMemoryKiB: v.maxMemoryKiB,
      disks: [...v.disks].sort((a, b) => a.target.localeCompare(b.target)),
    });
    expect(vms.map(comparable)).toEqual(fromLibvirt.map(comparable));
    expect(vms.find((v) => v.name === `${prefix}web`)).toMatchObject({ state: "running", autostart: true });
    expect(vms.find((v) => v.name === `${prefix}db`)).toMatchObject({ state: "shutoff", autostart: false });
  });

  it("the agent's probes report host health: every probe ran, and the findings are readable", async () => {
    const { value: metrics } = await until("probe results in /metrics", async () => {
      const text = await (await fetch(`${controller.url}/metrics`)).text();
      return text.includes(`nightshift_probe_success{host="${hostName}",probe="fstab"}`) ? text : null;
    }, 10_000);
    for (const probe of ["fstab", "mounts", "systemd", "vm-placement", "libvirt-hooks"]) {
      expect(metrics).toMatch(new RegExp(`^nightshift_probe_success\\{host="${hostName}",probe="${probe}"\\} 1$`, "m"));
    }
    // No systemd as PID 1 on the test machines: reported as such, not as an error.
    expect(metrics).toMatch(new RegExp(`^nightshift_systemd_state\\{host="${hostName}",state="absent"\\} 1$`, "m"));
    const findings = await cliJson<{ host: string; code: string }[]>(["findings", "--host", hostName]);
    expect(Array.isArray(findings)).toBe(true);
  });

  it("a guest started and destroyed shows in nightshift events within 2 s each", async () => {
    const db = `${prefix}db`;
    guests.db = await conn.domainCreate(guests.db!);
    const started = await until("started event", async () => (await vmEvents(db)).find((e) => e.event === "started"), 2_000);
    await conn.domainDestroy(guests.db);
    const stopped = await until("stopped event", async () => (await vmEvents(db)).find((e) => e.event === "stopped"), 2_000);
    console.log(`started visible after ${started.ms} ms, stopped after ${stopped.ms} ms (CLI process start included)`);
    expect(started.value).toMatchObject({ kind: "lifecycle", detail: "booted" });
    expect(stopped.value).toMatchObject({ kind: "lifecycle", detail: "destroyed" });
    const vm = (await cliJson<VmJson[]>(["vms", "--host", hostName])).find((v) => v.name === db);
    expect(vm).toMatchObject({ state: "shutoff", stateReason: "destroyed" });
    // Nobody recorded why it stopped: an unexpected-stop finding, with libvirt's reason.
    const findings = await cliJson<{ code: string; subject: string; message: string }[]>(["findings", "--host", hostName]);
    expect(findings.find((f) => f.code === "NS_VM_UNEXPECTED_STOP" && f.subject === db)?.message).toMatch(/libvirt: stopped\/destroyed/);
  });

  it("an event raised while the controller is down arrives exactly once after it restarts", async () => {
    const web = `${prefix}web`;
    const port = controller.port;
    await controller.stop();
    await conn.domainDestroy(guests.web!);
    await new Promise((r) => setTimeout(r, 1_000));
    controller = await startController({ dataDir, port, config: CONTROLLER_CONFIG });
    const { value, ms } = await until("the stop made while the controller was down", async () => {
      const stops = (await vmEvents(web)).filter((e) => e.event === "stopped");
      return stops.length > 0 ? stops : null;
    }, 15_000);
    console.log(`delivered ${ms} ms after the controller came back`);
    // Give any redelivery time to show up, then count.
    await new Promise((r) => setTimeout(r, 1_500));
    const stops = (await vmEvents(web)).filter((e) => e.event === "stopped");
    expect(stops).toHaveLength(1);
    expect(stops[0]!.id).toBe(value[0]!.id);
    expect(stops[0]!.detail).toBe("destroyed");
  });

  it("converges after the agent is killed and restarted, and the host's absence is on record", async () => {
    agent.kill("SIGKILL");
    await agent.exited;
    // Changes while no agent watches: a new guest, an autostart flip, a start.
    const artifacts = await ensureGuestBuilt();
    const late = `${prefix}late`;
    guests.late = await conn.domainDefineXML(guestDomainXml({ name: late, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath: guestDiskPath(late) }));
    await conn.domainSetAutostart(guests.db!, true);
    guests.web = await conn.domainCreate(guests.web!);

    await until("host marked missing", async () =>
      (await cliJson<HostJson[]>(["hosts"])).find((h) => h.name === hostName && h.status === "missing"), 10_000);

    agent = startAgent();
    const { ms } = await until("inventory converged", async () => {
      const vms = await cliJson<VmJson[]>(["vms", "--host", hostName]);
      const byName = new Map(vms.map((v) => [v.name, v]));
      return byName.get(late)?.state === "shutoff" && byName.get(`${prefix}db`)?.autostart === true &&
        byName.get(`${prefix}web`)?.state === "running";
    }, 15_000);
    console.log(`inventory converged ${ms} ms after the agent restarted`);
    const hosts = await cliJson<HostJson[]>(["hosts"]);
    expect(hosts.find((h) => h.name === hostName)).toMatchObject({ status: "up", connected: true });
    const history = (await cliJson<EventJson[]>(["events", "--host", hostName])).filter((e) => e.kind === "host").map((e) => e.event);
    expect(history).toEqual(expect.arrayContaining(["enrolled", "connected", "disconnected", "missing", "back"]));
    expect(history.lastIndexOf("back")).toBeGreaterThan(history.lastIndexOf("missing"));
  });
});
