/**
 * The netconsole listener against real UDP datagrams: lines from an address
 * no enrolled host's agent came from are counted and dropped; a host's
 * emergency report becomes its `emergency` state, a critical finding naming
 * the failed unit and its fstab line, a host event, the gauge behind the
 * emergency alert (promtool-clean), a webhook and the CLI's STATUS column;
 * the host's last console lines are served; the agent's next hello clears it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import dgram from "node:dgram";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { pino } from "pino";
import { startController, type RunningController } from "../../../../controller/server.js";
import { ControllerConfigSchema } from "../../../../controller/config.js";
import { TestAgent } from "../../../helpers/ws-agent.js";
import { WebhookReceiver } from "../../../helpers/webhook-receiver.js";
import { pollFor } from "../../../helpers/poll.js";
import { hostsTable } from "../../../../cli/hosts.js";
import type { ConsoleLineRecord, FindingRecord, HostRecord } from "../../../../shared/api.js";
import { REPO_ROOT, runNode } from "../../../helpers/run.js";

const NIGHTSHIFT_BIN = path.join(REPO_ROOT, "dist/cli/main.js");

let controller: RunningController;
let dataDir: string;
let admin: string;
let hooks: WebhookReceiver;
const BOOT = "0f3c5d0e-8a4b-4c1e-9d2f-6b7a8c9d0e1f";

async function get<T>(p: string): Promise<T> {
  const res = await fetch(controller.url + p, { headers: { Authorization: `Bearer ${admin}` } });
  expect(res.status, p).toBe(200);
  return (await res.json()) as T;
}
const host = async (name: string) => (await get<HostRecord[]>("/v1/hosts")).find((h) => h.name === name)!;
const emergencyFindings = async (name: string, resolved = false) =>
  (await get<FindingRecord[]>(`/v1/findings?host=${name}${resolved ? "&resolved=true" : ""}`)).filter((f) => f.code === "NS_HOST_EMERGENCY");
const metrics = async () => (await fetch(`${controller.url}/metrics`)).text();

/** One datagram from `from` (a loopback address: 127.0.0.0/8 is all this machine's). */
async function sendFrom(from: string, text: string): Promise<void> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, from, resolve));
  await new Promise<void>((resolve, reject) => socket.send(text, controller.netconsolePort!, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
  socket.close();
}

async function enrollAndConnect(name: string): Promise<{ token: string; agent: TestAgent }> {
  const res = await fetch(`${controller.url}/v1/hosts`, { method: "POST", headers: { Authorization: `Bearer ${admin}` }, body: JSON.stringify({ name }) });
  const { token } = (await res.json()) as { token: string };
  const agent = await TestAgent.connect(controller.url, token);
  agent.hello(name);
  await agent.next("welcome");
  return { token, agent };
}

beforeAll(async () => {
  hooks = await WebhookReceiver.start();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-netconsole-"));
  controller = await startController(ControllerConfigSchema.parse({
    listen: "127.0.0.1:0", dataDir, netconsole: { listen: "127.0.0.1:0" }, notifications: { webhooks: [hooks.url] },
  }), pino({ level: "silent" }));
  admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
});

afterAll(async () => {
  await controller?.close();
  await hooks?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("netconsole listener", () => {
  it("is not bound unless netconsole.listen is set", async () => {
    expect(controller.netconsolePort).toBeGreaterThan(0);
    expect(ControllerConfigSchema.parse({ dataDir }).netconsole.listen).toBe("");
    expect(ControllerConfigSchema.safeParse({ dataDir, netconsole: { listen: "6666" } }).success).toBe(false);
  });

  it("turns a host's emergency report into its state, finding, event, gauge, webhook and STATUS; the next hello clears it", async () => {
    const { token, agent } = await enrollAndConnect("nc-host");
    // The host reboots: its agent's session ends, its kernel keeps talking.
    await agent.close();
    const line = `[   14.207311] nightshift-emergency: v1 host=nc-host target=emergency.target boot=${BOOT} failed=srv-data.mount`;

    // The same line from an address no agent came from: counted, dropped.
    await sendFrom("127.0.0.2", line);
    await pollFor(async () => /nightshift_netconsole_lines_total\{result="unknown-source"\} 1\b/.test(await metrics()), "unknown-source counted", 5_000, 50);
    expect((await host("nc-host")).emergency).toBeNull();

    const sentAt = Date.now();
    await sendFrom("127.0.0.1", "[   13.901122] EXT4-fs (vdc): VFS: Can't find xfs filesystem");
    await sendFrom("127.0.0.1", line);
    const h = await pollFor(async () => { const x = await host("nc-host"); return x.emergency ? x : null; }, "emergency state", 5_000, 20);
    const latencyMs = Date.now() - sentAt;
    expect(h.emergency).toMatchObject({ target: "emergency.target", boot: BOOT, failedUnits: ["srv-data.mount"], fstab: [] });
    expect(hostsTable([h])).toMatch(/nc-host\s+emergency \(srv-data\.mount\)\s+no/);
    console.log(`netconsole: emergency line -> host state in ${latencyMs} ms`);

    await sendFrom("127.0.0.1", "[   14.207400] nightshift-emergency-fstab: v1 unit=srv-data.mount line=/dev/vdc /srv/data xfs defaults 0 2");
    const [finding] = await pollFor(async () => {
      const f = await emergencyFindings("nc-host");
      return f[0]?.message.includes("fstab: srv-data.mount: /dev/vdc /srv/data xfs defaults 0 2") ? f : null;
    }, "the finding names the fstab line", 5_000, 20);
    expect(finding).toMatchObject({ severity: "critical", subject: "emergency.target", source: "controller" });
    expect(finding!.message).toContain("failed srv-data.mount");
    expect((await host("nc-host")).emergency!.fstab).toEqual([{ unit: "srv-data.mount", line: "/dev/vdc /srv/data xfs defaults 0 2" }]);

    // The report repeats while the host stays there: one event, one webhook, the same start time.
    await sendFrom("127.0.0.1", line);
    await new Promise((r) => setTimeout(r, 200));
    const events = (await get<{ kind: string; event: string }[]>("/v1/events?host=nc-host")).filter((e) => e.event === "emergency");
    expect(events).toHaveLength(1);
    await hooks.until((r) => r.some((n) => n.event === "host-emergency"));
    expect(hooks.of("host-emergency")).toHaveLength(1);
    expect(hooks.of("host-emergency")[0]).toMatchObject({ host: "nc-host", target: "emergency.target", failedUnits: ["srv-data.mount"] });
    expect((hooks.of("host-emergency")[0]!.lastConsoleLines as string[]).join("\n")).toContain("Can't find xfs filesystem");
    expect((await host("nc-host")).emergency!.since).toBe(h.emergency!.since);

    const text = await metrics();
    expect(text).toMatch(/nightshift_host_emergency\{host="nc-host",target="emergency.target"\} 1/);
    const promtool = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0);

    const consoleLines = await get<ConsoleLineRecord[]>("/v1/hosts/nc-host/console");
    expect(consoleLines.map((l) => l.text)).toEqual([
      "[   13.901122] EXT4-fs (vdc): VFS: Can't find xfs filesystem", line,
      "[   14.207400] nightshift-emergency-fstab: v1 unit=srv-data.mount line=/dev/vdc /srv/data xfs defaults 0 2", line,
    ]);
    // Not spawnSync: the controller answering it runs in this process.
    const cli = await runNode(NIGHTSHIFT_BIN, ["hosts", "console", "nc-host"], { env: { ...process.env, NIGHTSHIFT_URL: controller.url, NIGHTSHIFT_TOKEN: admin } });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout.split("\n")[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z {2}\[ {3}13\.901122\] EXT4-fs \(vdc\)/);

    // Repaired and booted: the agent's hello ends it.
    const back = await TestAgent.connect(controller.url, token);
    back.hello("nc-host");
    await back.next("welcome");
    await pollFor(async () => ((await host("nc-host")).emergency === null ? true : null), "emergency cleared", 5_000, 20);
    expect(await emergencyFindings("nc-host")).toEqual([]);
    expect((await emergencyFindings("nc-host", true))[0]).toMatchObject({ subject: "emergency.target" });
    expect((await get<{ event: string }[]>("/v1/events?host=nc-host")).map((e) => e.event)).toContain("emergency-ended");
    expect(await metrics()).not.toMatch(/nightshift_host_emergency\{host="nc-host"/);
    await back.close();
  });

  it("an emergency line naming another host than its source's is ignored; a flood stays bounded", async () => {
    const { agent } = await enrollAndConnect("nc-other");
    await agent.close();
    // The listener re-reads the hosts' addresses every 2 s.
    await new Promise((r) => setTimeout(r, 2_100));
    await sendFrom("127.0.0.1", `nightshift-emergency: v1 host=nc-host target=emergency.target boot=${BOOT} failed=x.mount`);
    // 127.0.0.1 is now nc-other's address (its session is the latest from there).
    await new Promise((r) => setTimeout(r, 200));
    expect((await host("nc-other")).emergency).toBeNull();
    expect((await host("nc-host")).emergency).toBeNull();
    for (let i = 0; i < 300; i++) {
      await sendFrom("127.0.0.1", `line ${i} ${"x".repeat(2000)}`);
      // UDP: a receiver that falls behind drops; pace the flood so that the count below is exact.
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    await sendFrom("127.0.0.1", "the end");
    const lines = await pollFor(async () => {
      const l = await get<ConsoleLineRecord[]>("/v1/hosts/nc-other/console");
      return l.at(-1)?.text === "the end" ? l : null;
    }, "the last flood line kept", 5_000, 50);
    expect(lines).toHaveLength(100);
    expect(Math.max(...lines.map((l) => l.text.length))).toBeLessThanOrEqual(1025);
  });
});
