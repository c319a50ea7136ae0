/**
 * `libvirt-state` at the controller, message by message: what an older agent
 * (none sent) shows, a hello's "unknown" version, an agent's clock ahead, the
 * finding following the agent's URI, a message the schema refuses; and the
 * gauge passing promtool.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { pino } from "pino";
import { startController, type RunningController } from "../../../controller/server.js";
import { ControllerConfigSchema } from "../../../controller/config.js";
import { TestAgent } from "../../helpers/ws-agent.js";

let controller: RunningController;
let dataDir: string;
let admin: string;
const agents: TestAgent[] = [];

interface H { name: string; libvirtVersion: string | null; libvirt: { state: string; code: string | null; detail: string | null; since: string } | null }
interface F { code: string; subject: string; severity: string; message: string; resolvedAt: string | null }

async function get<T>(p: string): Promise<T> {
  const res = await fetch(controller.url + p, { headers: { Authorization: `Bearer ${admin}` } });
  return (await res.json()) as T;
}

const host = async (name: string) => (await get<H[]>("/v1/hosts")).find((h) => h.name === name)!;
const findings = async (name: string, resolved = false) =>
  (await get<F[]>(`/v1/findings?host=${name}${resolved ? "&resolved=true" : ""}`)).filter((f) => f.code === "NS_LIBVIRT_UNREACHABLE");
const settle = () => new Promise((r) => setTimeout(r, 100));

type Agent = TestAgent & { token: string };

async function connect(name: string, hello: Record<string, unknown> = {}): Promise<Agent> {
  const res = await fetch(`${controller.url}/v1/hosts`, { method: "POST", headers: { Authorization: `Bearer ${admin}` }, body: JSON.stringify({ name }) });
  const { token } = (await res.json()) as { token: string };
  return reconnect(name, token, hello);
}

async function reconnect(name: string, token: string, hello: Record<string, unknown> = {}): Promise<Agent> {
  const agent = Object.assign(await TestAgent.connect(controller.url, token), { token });
  agents.push(agent);
  agent.send({ v: 1, type: "hello", host: name, hostname: `${name}.example`, agentVersion: "0.1.0", libvirtVersion: "9.0.0",
    libvirtUri: "qemu:///system", ...hello });
  await agent.next("welcome");
  return agent;
}

const unreachable = (extra: Record<string, unknown> = {}) => ({ v: 1, type: "libvirt-state", state: "unreachable", since: new Date().toISOString(),
  code: "NS_ERR_LIBVIRT_SOCKET_MISSING", detail: "socket /var/run/libvirt/libvirt-sock missing (NS_ERR_LIBVIRT_SOCKET_MISSING)", ...extra });

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-libvirt-state-"));
  controller = await startController(ControllerConfigSchema.parse({ listen: "127.0.0.1:0", dataDir }), pino({ level: "silent" }));
  admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
});

afterAll(async () => {
  for (const a of agents) await a.close();
  await controller.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("libvirt-state", () => {
  it("an agent that never sends one (older than the controller): libvirt null, its version, no gauge", async () => {
    await connect("old-agent");
    await settle();
    expect(await host("old-agent")).toMatchObject({ libvirtVersion: "9.0.0", libvirt: null });
    expect(await (await fetch(`${controller.url}/metrics`)).text()).not.toMatch(/nightshift_host_libvirt_up\{host="old-agent"\}/);
  });

  it("keeps the last known version through a hello that says unknown; a connected state names the new one", async () => {
    const first = await connect("versions");
    await settle();
    await first.close();
    const again = await reconnect("versions", first.token, { libvirtVersion: "unknown" });
    await settle();
    expect((await host("versions")).libvirtVersion).toBe("9.0.0");
    again.send(unreachable());
    await settle();
    expect((await host("versions")).libvirtVersion).toBe("9.0.0");
    again.send({ v: 1, type: "libvirt-state", state: "connected", since: new Date().toISOString(), libvirtVersion: "9.1.0" });
    await settle();
    expect(await host("versions")).toMatchObject({ libvirtVersion: "9.1.0", libvirt: { state: "connected", code: null, detail: null } });
  });

  it("a `since` in the future (the agent's clock ahead) is stored as now at the latest", async () => {
    const agent = await connect("clock-ahead");
    const sentAt = Date.now();
    agent.send(unreachable({ since: new Date(sentAt + 3_600_000).toISOString() }));
    await settle();
    const since = Date.parse((await host("clock-ahead")).libvirt!.since);
    expect(since).toBeGreaterThanOrEqual(sentAt);
    expect(since).toBeLessThanOrEqual(Date.now());
  });

  it("the finding's subject is the URI of the agent's hello; a new URI resolves the old one; connected resolves it", async () => {
    const agent = await connect("uri-change");
    agent.send(unreachable());
    await settle();
    expect((await findings("uri-change")).map((f) => [f.subject, f.severity])).toEqual([["qemu:///system", "critical"]]);
    expect((await findings("uri-change"))[0]!.message).toContain("socket /var/run/libvirt/libvirt-sock missing");
    await agent.close();
    const moved = await reconnect("uri-change", agent.token, { libvirtUri: "qemu+unix:///system?socket=/run/other-sock" });
    moved.send(unreachable());
    await settle();
    expect((await findings("uri-change")).map((f) => f.subject)).toEqual(["qemu+unix:///system?socket=/run/other-sock"]);
    moved.send({ v: 1, type: "libvirt-state", state: "connected", since: new Date().toISOString(), libvirtVersion: "9.0.0" });
    await settle();
    expect(await findings("uri-change")).toEqual([]);
    expect((await findings("uri-change", true)).map((f) => f.resolvedAt !== null)).toEqual([true, true]);
  });

  it("refuses a state the protocol does not know, and stores nothing", async () => {
    const agent = await connect("bad-state");
    agent.send(unreachable({ state: "down" }));
    const error = await agent.next("error");
    expect(error.code).toBe("NS_ERR_PROTOCOL_SCHEMA");
    expect(error.message).toMatch(/invalid libvirt-state message: state/);
    expect((await host("bad-state")).libvirt).toBeNull();
  });

  it("the gauge: 1 connected, 0 unreachable, and promtool accepts the metrics", async () => {
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    expect(metrics).toMatch(/^nightshift_host_libvirt_up\{host="versions"\} 1$/m);
    expect(metrics).toMatch(/^nightshift_host_libvirt_up\{host="clock-ahead"\} 0$/m);
    const lint = spawnSync("promtool", ["check", "metrics"], { input: metrics, encoding: "utf8" });
    expect(lint.stdout + lint.stderr).toBe("");
  });
});
