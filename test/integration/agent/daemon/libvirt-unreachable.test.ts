/**
 * An agent whose libvirt is unreachable still connects to its controller and
 * says so: the host is up and connected, its libvirt state is `unreachable`
 * with the connect error's reason (GET /v1/hosts, `nightshift hosts`), the
 * controller's finding NS_LIBVIRT_UNREACHABLE is open and
 * nightshift_host_libvirt_up is 0; once libvirtd answers, all of it flips.
 * Real processes throughout: controller, agent, CLI, libvirtd.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startController, type TestController } from "../../../helpers/controller.js";
import { controllerApi } from "../../../helpers/controller-api.js";
import { startSessionDaemon } from "../../../helpers/session-daemon.js";
import { AGENT_BIN } from "../../../helpers/run.js";
import { runAgainst } from "../../cli/run-cli.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";

/** The system libvirtd's socket (qemu:///system), which the private daemon cannot serve. */
const SYSTEM_SOCKET = "/var/run/libvirt/libvirt-sock";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface LibvirtInfo { state: string; detail: string | null; code: string | null; since: string }
interface HostInfo { name: string; status: string; connected: boolean; libvirtVersion: string | null; libvirt: LibvirtInfo | null }
interface FindingInfo { code: string; severity: string; subject: string; message: string; remedy: string; source: string; resolvedAt: string | null }

/** Polls `fn` until it gives something; on a timeout `context()` (the processes' logs) is in the error. */
async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, what: string, context: () => string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${context()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setup(host: string) {
  expect(fs.existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
  const controller: TestController = await startController();
  cleanups.push(() => controller.stop());
  const { ok } = controllerApi(() => controller);
  const { token } = await ok<{ token: string }>("POST", "/v1/hosts", { name: host }, 201);
  const dirs = tempAgentDir(token);
  cleanups.push(() => dirs.cleanup());
  const hostInfo = async () => (await ok<HostInfo[]>("GET", "/v1/hosts")).find((h) => h.name === host)!;
  const findings = async (resolved = false) => (await ok<FindingInfo[]>("GET", `/v1/findings?host=${host}${resolved ? "&resolved=true" : ""}`))
    .filter((f) => f.code === "NS_LIBVIRT_UNREACHABLE");
  const gauge = async () => {
    const text = await (await fetch(`${controller.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`nightshift_host_libvirt_up{host="${host}"}`));
    return line === undefined ? null : Number(line.split(" ").pop());
  };
  const hostsRow = async () => {
    const result = await runAgainst(controller, ["hosts"]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.split("\n").find((l) => l.startsWith(`${host} `)) ?? "";
  };
  return { controller, dirs, hostInfo, findings, gauge, hostsRow };
}

describe("libvirt unreachable", () => {
  it("qemu:///system with its socket missing: the host is up and says libvirt is unreachable; once libvirtd answers, it says connected", async () => {
    const host = "lv-missing";
    const { controller, dirs, hostInfo, findings, gauge, hostsRow } = await setup(host);
    const socket = path.join(dirs.dir, "libvirt-sock");
    const startedAt = Date.now();
    const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, uri: "qemu:///system",
      env: { NIGHTSHIFT_AGENT_HOST: host, NIGHTSHIFT_AGENT_LIBVIRT_SOCKET: socket } });
    cleanups.push(async () => { await agent.stop(); });
    const logs = () => `--- agent ---\n${agent.dump()}\n--- controller ---\n${controller.logs()}`;

    const down = await waitFor(async () => {
      const h = await hostInfo();
      return h.connected && h.libvirt?.state === "unreachable" ? h : null;
    }, "host connected with libvirt unreachable", logs);
    const connectedAfter = Date.now() - startedAt;
    expect(down.status).toBe("up");
    expect(down.libvirt).toEqual({ state: "unreachable", code: "NS_ERR_LIBVIRT_SOCKET_MISSING",
      detail: `socket ${socket} missing (NS_ERR_LIBVIRT_SOCKET_MISSING)`, since: expect.any(String) });
    expect(Date.parse(down.libvirt!.since)).toBeGreaterThanOrEqual(startedAt - 1_000);
    expect(Date.parse(down.libvirt!.since)).toBeLessThanOrEqual(Date.now());
    // Never connected: no version to show (hello said "unknown").
    expect(down.libvirtVersion).toBeNull();

    const row = await hostsRow();
    expect(row).toMatch(new RegExp(`^${host}\\s+up\\s+yes\\s+\\S+ ago\\s+0\\s+\\S+\\s+unreachable \\(socket missing\\)$`));

    const [finding, ...others] = await waitFor(async () => { const f = await findings(); return f.length > 0 ? f : null; }, "the finding", logs);
    expect(others).toEqual([]);
    expect(finding).toMatchObject({ severity: "critical", subject: "qemu:///system", source: "controller", resolvedAt: null });
    expect(finding!.message).toContain(`socket ${socket} missing (NS_ERR_LIBVIRT_SOCKET_MISSING)`);
    expect(finding!.remedy).toMatch(/start libvirtd/);
    expect(finding!.remedy).toContain(socket);
    expect(await gauge()).toBe(0);

    // libvirtd appears at the agent's socket path: the system daemon, whose qemu driver serves qemu:///system.
    const upAt = Date.now();
    fs.symlinkSync(SYSTEM_SOCKET, socket);
    const up = await waitFor(async () => { const h = await hostInfo(); return h.libvirt?.state === "connected" ? h : null; }, "libvirt connected", logs);
    const flippedAfter = Date.now() - upAt;
    expect(up.libvirt).toEqual({ state: "connected", code: null, detail: null, since: expect.any(String) });
    expect(Date.parse(up.libvirt!.since)).toBeGreaterThanOrEqual(upAt - 1_000);
    expect(up.libvirtVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(await findings()).toEqual([]);
    expect((await findings(true)).map((f) => f.resolvedAt)).toEqual([expect.any(String)]);
    expect(await gauge()).toBe(1);
    expect(await hostsRow()).toMatch(new RegExp(`\\s${up.libvirtVersion!.replace(/\./g, "\\.")}$`));
    expect(up.connected).toBe(true);
    console.log(`libvirt unreachable: host connected and reported after ${connectedAfter} ms; ` +
      `state connected, finding resolved ${flippedAfter} ms after libvirtd appeared`);
  }, 60_000);

  it("libvirtd killed under a connected agent: unreachable with the reason, its VMs noted as last reported", async () => {
    const host = "lv-killed";
    const { controller, dirs, hostInfo, findings, gauge, hostsRow } = await setup(host);
    const daemon = await startSessionDaemon();
    cleanups.push(() => daemon.stop());
    const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, uri: "test:///default",
      env: { NIGHTSHIFT_AGENT_HOST: host, NIGHTSHIFT_AGENT_LIBVIRT_SOCKET: daemon.socketPath } });
    cleanups.push(async () => { await agent.stop(); });
    const logs = () => `--- agent ---\n${agent.dump()}\n--- controller ---\n${controller.logs()}`;
    await waitFor(async () => { const h = await hostInfo(); return h.libvirt?.state === "connected" && (await gauge()) === 1; }, "libvirt connected", logs);
    const { ok } = controllerApi(() => controller);
    await waitFor(async () => (await ok<unknown[]>("GET", `/v1/vms?host=${host}`)).length > 0, "the inventory", logs);
    const fresh = await runAgainst(controller, ["vms", "--host", host]);
    expect(fresh.stderr).toBe("");

    const killedAt = Date.now();
    daemon.signal("SIGKILL");
    const down = await waitFor(async () => { const h = await hostInfo(); return h.libvirt?.state === "unreachable" ? h : null; }, "libvirt unreachable", logs);
    const flippedAfter = Date.now() - killedAt;
    expect(down.status).toBe("up");
    expect(down.connected).toBe(true);
    // Still the version it last talked to.
    expect(down.libvirtVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(down.libvirt!.code).toMatch(/^NS_ERR_LIBVIRT_(INTERRUPTED|UNREACHABLE|SOCKET_MISSING)$/);
    expect(down.libvirt!.detail).toContain(`(${down.libvirt!.code})`);
    expect(Date.parse(down.libvirt!.since)).toBeGreaterThanOrEqual(killedAt - 1_000);
    expect(await hostsRow()).toMatch(/\sunreachable \([a-z ]+\)$/);
    const [finding] = await waitFor(async () => { const f = await findings(); return f.length > 0 ? f : null; }, "the finding", logs);
    expect(finding).toMatchObject({ severity: "critical", subject: "test:///default" });
    expect(await gauge()).toBe(0);
    // The agent's next attempts fail for another reason (the socket is left, nobody accepts): the controller is told, `since` stays.
    const refused = await waitFor(async () => {
      const h = await hostInfo();
      return h.libvirt?.code === "NS_ERR_LIBVIRT_UNREACHABLE" ? h : null;
    }, "the reason of the failed reconnects", logs);
    expect(refused.libvirt).toEqual({ state: "unreachable", code: "NS_ERR_LIBVIRT_UNREACHABLE", since: down.libvirt!.since,
      detail: `socket ${daemon.socketPath} exists but nothing accepts connections on it: libvirtd is not running (NS_ERR_LIBVIRT_UNREACHABLE)` });
    expect(await hostsRow()).toMatch(/\sunreachable \(not answering\)$/);
    expect((await findings())[0]!.message).toContain("nothing accepts connections");

    // The VMs are still listed, as last reported, and `nightshift vms` says so.
    const stale = await runAgainst(controller, ["vms", "--host", host]);
    expect(stale.code).toBe(0);
    expect(stale.stdout).toMatch(new RegExp(`^${host}\\s+test\\s+running`, "m"));
    expect(stale.stderr).toMatch(new RegExp(`^note: libvirt on ${host} is unreachable since \\S+ \\(.+\\): its VMs are shown as last reported\\n$`));
    console.log(`libvirtd killed: state unreachable at the controller after ${flippedAfter} ms (${down.libvirt!.detail})`);
  }, 60_000);

  it("a libvirtd that accepts the connection and never answers: unreachable after 10 s, the agent still waiting", async () => {
    const host = "lv-silent";
    const { controller, dirs, hostInfo, findings } = await setup(host);
    const socket = path.join(dirs.dir, "silent-sock");
    const held: net.Socket[] = [];
    const silent = net.createServer((conn) => { held.push(conn); });
    await new Promise<void>((resolve) => silent.listen(socket, resolve));
    cleanups.push(() => new Promise<void>((resolve) => { for (const c of held) c.destroy(); silent.close(() => resolve()); }));
    const startedAt = Date.now();
    const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, uri: "qemu:///system",
      env: { NIGHTSHIFT_AGENT_HOST: host, NIGHTSHIFT_AGENT_LIBVIRT_SOCKET: socket } });
    cleanups.push(async () => { await agent.stop(); });
    const logs = () => `--- agent ---\n${agent.dump()}\n--- controller ---\n${controller.logs()}`;

    // Connected to the controller at once, libvirt's state not known yet: the first attempt is under way.
    const up = await waitFor(async () => { const h = await hostInfo(); return h.connected ? h : null; }, "host connected", logs);
    expect(up.libvirt).toBeNull();
    const down = await waitFor(async () => { const h = await hostInfo(); return h.libvirt?.state === "unreachable" ? h : null; },
      "libvirt unreachable", logs, 20_000);
    const after = Date.now() - startedAt;
    expect(after).toBeGreaterThanOrEqual(10_000);
    expect(down.libvirt).toMatchObject({ code: "NS_ERR_LIBVIRT_UNREACHABLE",
      detail: `libvirtd on socket ${socket} has not answered for 10.0 s (still waiting) (NS_ERR_LIBVIRT_UNREACHABLE)` });
    expect(held).toHaveLength(1);
    expect(await findings()).toHaveLength(1);
    console.log(`silent libvirtd: reported unreachable ${after} ms after the agent started`);
  }, 60_000);
});
