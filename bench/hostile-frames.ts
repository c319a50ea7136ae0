/**
 * An enrolled host that attacks the controller with big, deeply nested JSON
 * frames, and what that costs everyone else: the real controller as a child
 * process (temp data dir, loopback), a prober timing GET /v1/hosts the whole
 * time, the controller's RSS read from /proc.
 *
 *   npm run bench:hostile -- [--frames 10] [--mib 3.8] [--shape array|object|wide|many-wide] [--after-hello]
 *
 * Phases: baseline (3 s of probes), attack (the frames, sent back to back
 * from a child process; when the controller closes the connection the
 * attacker reconnects and goes on until every frame was answered or closed
 * on), settle (2 s). Printed: RSS before, peak during, after; API
 * p50/p95/max per phase; how the frames were answered.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { ControllerProcess } from "./controller-load-children.js";
import { memoryStatus, RssSampler } from "./controller-load-proc.js";
import { hostileJson, type HostileShape } from "../test/helpers/hostile-json.js";

const { values: flags } = parseArgs({
  options: {
    frames: { type: "string", default: "10" },
    mib: { type: "string", default: "3.8" },
    shape: { type: "string", default: "array" },
    "after-hello": { type: "boolean", default: false },
    // Internal: this file forked as the attacker, so its CPU use (masking 38 MiB) does not stall the prober's clock.
    attacker: { type: "string" },
  },
});
const FRAMES = Number(flags.frames);
const BYTES = Math.floor(Number(flags.mib) * 2 ** 20);
const SHAPE = flags.shape as HostileShape;
const AFTER_HELLO = flags["after-hello"];
const HOST = "hv-hostile";

interface Latencies {
  samples: number[];
}

/** GET /v1/hosts one after another until `stop` says so. */
async function probe(controller: ControllerProcess, stop: () => boolean, into: Latencies): Promise<void> {
  while (!stop()) {
    const t0 = performance.now();
    const res = await fetch(`${controller.url}/v1/hosts`, { headers: { Authorization: `Bearer ${controller.adminToken}` } });
    await res.arrayBuffer();
    into.samples.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}

function summary(l: Latencies): string {
  const s = [...l.samples].sort((a, b) => a - b);
  return `${s.length} requests, p50 ${quantile(s, 0.5).toFixed(1)} ms, p95 ${quantile(s, 0.95).toFixed(1)} ms, max ${(s.at(-1) ?? NaN).toFixed(1)} ms`;
}

interface Outcome {
  answers: Record<string, number>;
  connections: number;
}

/**
 * Sends `count` frames back to back, counting each as handled when the
 * controller answered it (an `error`) or closed the connection on it; after a
 * close it reconnects and sends the rest.
 */
async function attack(url: string, token: string, count: number, payload: string): Promise<Outcome> {
  const answers: Record<string, number> = {};
  const note = (what: string) => { answers[what] = (answers[what] ?? 0) + 1; };
  let handled = 0;
  let connections = 0;
  while (handled < count) {
    const ws = new WebSocket(`${url.replace("http", "ws")}/v1/agent`, { headers: { Authorization: `Bearer ${token}` }, maxPayload: 2 ** 20 });
    const opened = await new Promise<boolean>((resolve) => {
      ws.once("open", () => resolve(true));
      ws.once("unexpected-response", (_req, res) => { note(`upgrade ${res.statusCode}`); resolve(false); });
      ws.once("error", () => resolve(false));
    });
    if (!opened) {
      ws.terminate();
      // The previous connection is still being let go (409): try again shortly.
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    connections++;
    let closeCode = 0;
    const closed = new Promise<void>((resolve) => ws.once("close", (code) => { closeCode = code; note(`close ${code}`); resolve(); }));
    if (AFTER_HELLO) {
      ws.send(JSON.stringify({ v: 1, type: "hello", host: HOST, hostname: HOST, agentVersion: "0.1.0", libvirtVersion: "9.0.0", libvirtUri: "qemu:///system" }));
      await new Promise<void>((resolve) => ws.once("message", () => resolve()));
    }
    const toSend = count - handled;
    let answered = 0;
    const allAnswered = new Promise<void>((resolve) => {
      ws.on("message", (data) => {
        const message = JSON.parse(data.toString()) as { type: string; code?: string };
        note(message.type === "error" ? `error ${message.code}` : message.type);
        if (++answered === toSend) resolve();
      });
      void closed.then(resolve);
    });
    for (let i = 0; i < toSend && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(payload);
      // Back to back, but not faster than the socket drains: the attacker's own memory is not the subject.
      while (ws.bufferedAmount > BYTES && ws.readyState === WebSocket.OPEN) await new Promise((r) => setTimeout(r, 5));
    }
    await allAnswered;
    ws.close();
    await closed;
    // A close for a frame (1009) handles it even if its error message was the last thing sent.
    handled += Math.max(answered, closeCode === 1009 ? 1 : 0);
  }
  return { answers, connections };
}

const mb = (n: number) => `${n.toFixed(0)} MB`;

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-hostile-"));
  // Each frame refused before hello costs the attacker a reconnect: far more sessions per minute than agents.maxSessions allows.
  process.env.NIGHTSHIFT_CONTROLLER_AGENTS_MAX_SESSIONS ??= "100000";
  const controller = await ControllerProcess.start(dataDir, null);
  try {
    const { token } = await controller.api<{ token: string }>("POST", "/v1/hosts", { name: HOST });
    for (let i = 0; i < 20; i++) await controller.api("POST", "/v1/hosts", { name: `hv-${i}` });
    console.log(`${FRAMES} frames of ${(Buffer.byteLength(hostileJson(SHAPE, BYTES)) / 2 ** 20).toFixed(2)} MiB, shape ${SHAPE}, ${AFTER_HELLO ? "after" : "before"} hello`);

    const baseline: Latencies = { samples: [] };
    let phase: "baseline" | "attack" | "settle" = "baseline";
    const baselineEnd = Date.now() + 3_000;
    await probe(controller, () => Date.now() > baselineEnd, baseline);
    const before = memoryStatus(controller.pid);

    const sampler = new RssSampler(controller.pid, 20);
    sampler.takePeak();
    const during: Latencies = { samples: [] };
    phase = "attack";
    const prober = probe(controller, () => phase !== "attack", during);
    const t0 = Date.now();
    const outcome = await forkAttacker(controller.url, token);
    const attackMs = Date.now() - t0;
    phase = "settle";
    await prober;
    const peak = sampler.takePeak();
    const settle: Latencies = { samples: [] };
    const settleEnd = Date.now() + 2_000;
    await probe(controller, () => Date.now() > settleEnd, settle);
    const after = memoryStatus(controller.pid);
    sampler.stop();

    console.log(`attack took ${attackMs} ms over ${outcome.connections} connection(s); answers: ${Object.entries(outcome.answers).map(([k, v]) => `${k} x${v}`).join(", ")}`);
    console.log(`controller RSS: before ${mb(before.rssMB)}, peak during attack ${mb(peak)}, after ${mb(after.rssMB)} (VmHWM ${mb(after.peakRssMB)})`);
    console.log(`GET /v1/hosts baseline: ${summary(baseline)}`);
    console.log(`GET /v1/hosts during attack: ${summary(during)}`);
    console.log(`GET /v1/hosts after: ${summary(settle)}`);
    console.log(controller.gone ?? "controller still running");
  } finally {
    await controller.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Runs the attack in a child process (this file again, --attacker URL TOKEN) and returns what it saw. */
function forkAttacker(url: string, token: string): Promise<Outcome> {
  const args = ["--frames", String(FRAMES), "--mib", String(flags.mib), "--shape", SHAPE, ...(AFTER_HELLO ? ["--after-hello"] : []), "--attacker", `${url} ${token}`];
  const child = fork(fileURLToPath(import.meta.url), args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("message", (outcome) => resolve(outcome as Outcome));
    child.once("exit", (code) => reject(new Error(`the attacker exited with ${code} before reporting`)));
  });
}

if (flags.attacker) {
  const [url, token] = flags.attacker.split(" ") as [string, string];
  process.send!(await attack(url, token, FRAMES, hostileJson(SHAPE, BYTES)));
  process.disconnect();
} else {
  await main();
}
