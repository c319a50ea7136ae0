/**
 * How soon the controller shows a host that stopped in emergency mode: through
 * netconsole (the host's kernel sends the emergency report) against the
 * baseline without it, the liveness check marking the silent host `missing`
 * (liveness.missingAfter, default 90 s; and then only "missing", not why).
 *
 * A real controller (in this process) with netconsole.listen on loopback;
 * N hosts enrolled, each with a real WebSocket session from 127.0.0.1 + i
 * (their addresses), ended as a reboot ends it; then each host's kernel line
 * is sent as one UDP datagram from its address and the time until
 * GET /v1/hosts shows it `emergency` is measured. The baseline waits for the
 * same hosts to become `missing`.
 *
 *   npm run build && node dist/bench/netconsole-latency.js [--hosts 20] [--missing-after 90s]
 *
 * The guest side (emergency.target reached -> the kernel's datagram) is measured
 * on a real systemd VM by test/e2e/hypervisor-vm.test.ts (timings
 * emergencyTargetToController).
 */
import dgram from "node:dgram";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { once } from "node:events";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { pino } from "pino";
import { startController } from "../controller/server.js";
import { ControllerConfigSchema } from "../controller/config.js";

const { values } = parseArgs({ options: { hosts: { type: "string", default: "20" }, "missing-after": { type: "string", default: "90s" } } });
const HOSTS = Number(values.hosts);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-bench-netconsole-"));
const controller = await startController(ControllerConfigSchema.parse({
  listen: "127.0.0.1:0", dataDir, netconsole: { listen: "127.0.0.1:0" },
  liveness: { missingAfter: values["missing-after"], checkInterval: "1s" },
}), pino({ level: "silent" }));
const admin = fs.readFileSync(path.join(dataDir, "admin.token"), "utf8").trim();
const api = async <T>(method: string, p: string, body?: unknown): Promise<T> =>
  (await (await fetch(controller.url + p, { method, headers: { Authorization: `Bearer ${admin}` }, body: body === undefined ? undefined : JSON.stringify(body) })).json()) as T;
type H = { name: string; status: string; emergency: unknown };

const names = Array.from({ length: HOSTS }, (_, i) => `bench-nc-${i}`);
const addressOf = (i: number) => `127.0.${Math.floor((i + 10) / 250)}.${((i + 10) % 250) + 2}`;
for (const [i, name] of names.entries()) {
  const { token } = await api<{ token: string }>("POST", "/v1/hosts", { name });
  const ws = new WebSocket(`${controller.url.replace("http", "ws")}/v1/agent`, { headers: { Authorization: `Bearer ${token}` }, localAddress: addressOf(i) });
  await once(ws, "open");
  ws.send(JSON.stringify({ v: 1, type: "hello", host: name, hostname: name, agentVersion: "0.1.0", libvirtVersion: "9.0.0", libvirtUri: "qemu:///system" }));
  await once(ws, "message");
  ws.close();
  await once(ws, "close");
}
const disconnectedAt = Date.now();
// The listener reads the hosts' addresses at most every 2 s: a reboot takes longer than that.
await new Promise((r) => setTimeout(r, 2_100));

async function waitFor(check: (h: H) => boolean): Promise<number[]> {
  const doneAt = new Map<string, number>();
  while (doneAt.size < HOSTS) {
    for (const h of await api<H[]>("GET", "/v1/hosts")) if (!doneAt.has(h.name) && names.includes(h.name) && check(h)) doneAt.set(h.name, Date.now());
    await new Promise((r) => setTimeout(r, 5));
  }
  return names.map((n) => doneAt.get(n)!);
}

const sentAt: number[] = [];
const sockets = await Promise.all(names.map(async (_, i) => {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, addressOf(i), resolve));
  return s;
}));
const seen = waitFor((h) => h.emergency !== null);
for (const [i, name] of names.entries()) {
  sentAt[i] = Date.now();
  sockets[i]!.send(`[   14.2] nightshift-emergency: v1 host=${name} target=emergency.target failed=srv-data.mount`, controller.netconsolePort!, "127.0.0.1");
}
const emergencyAt = await seen;
for (const s of sockets) s.close();
const latencies = emergencyAt.map((t, i) => t - sentAt[i]!).sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;

const missingAt = await waitFor((h) => h.status === "missing");
const missingMs = missingAt.map((t) => t - disconnectedAt).sort((a, b) => a - b);
const missingP50 = missingMs[Math.floor(missingMs.length / 2)]!;
await controller.close();
fs.rmSync(dataDir, { recursive: true, force: true });

console.log(`hosts: ${HOSTS}`);
console.log(`netconsole: datagram -> host 'emergency' at the API: p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${latencies.at(-1)} ms`);
console.log(`baseline:   session end -> host 'missing' (liveness.missingAfter ${values["missing-after"]}): p50 ${missingP50} ms (and the cause unknown)`);
console.log(`ratio:      baseline / netconsole p50 = ${(missingP50 / Math.max(1, pct(0.5))).toFixed(0)}x; target: within 10 s of emergency.target (`
  + "the guest's part is measured by test/e2e/hypervisor-vm.test.ts)");
