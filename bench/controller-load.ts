/**
 * Controller load benchmark: the real controller as a child process, a fleet
 * of simulated agents over real WebSocket connections on loopback in another
 * (bench/load-agents.ts), so the controller's CPU and RSS are its own.
 *
 *   npm run build && node dist/bench/controller-load.js [--agents 1000] [--vms 20] [--stream-seconds 15]
 *       [--batch 20] [--inflight 2] [--poison 0] [--poison-kind duplicate-disk|null-domain] [--cpu-prof] [--data-parent DIR]
 *
 * Enrolment: N hosts through POST /v1/hosts (timed, not part of convergence).
 * Phase 1, convergence: every agent connects at once, says hello, waits for
 * welcome and sends a VM inventory; measured from the first connect until
 * GET /v1/status (polled every 50 ms) shows vms.total = agents x vms.
 * Phase 2, events: every agent streams lifecycle/reboot/agent-lifecycle event
 * batches with at most `inflight` unacked; the controller acks only after its
 * transaction committed, so events acked per second is events stored per second.
 *
 * `--poison P` adds P hostile agents (bench/load-poison.ts) that, during the
 * stream window, keep sending an inventory the controller answers with an
 * `error` (`--poison-kind`), `inflight` at a time: the events/s of the honest
 * fleet beside them is what one hostile agent costs everyone else.
 *
 * It fails loudly if the controller lost, duplicated or refused anything: VM
 * count and every VM's disks and final state, events stored = events acked +
 * the controller's own host events, no `error` message, no dropped connection.
 * `--cpu-prof` profiles the controller and prints a flame summary per phase.
 *
 * Exit status: 0 all targets met, 1 a correctness failure or crash, 3 a performance target missed.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { monoMs, type ExpectedVm, type HostCredentials, type PoisonKind } from "./controller-load-ipc.js";
import { AgentsProcess, ControllerProcess } from "./controller-load-children.js";
import { CpuMeter, ioWritten, listenDrops, memoryStatus, RssSampler, type CpuSpan } from "./controller-load-proc.js";
import { formatChecks, formatFigures, mb, pct, sec, type Check, type Row } from "./controller-load-report.js";
import { formatSummary, summarizeProfile } from "./controller-load-profile.js";

const TARGETS = { convergeMs: 10_000, eventsPerSecond: 5_000, peakRssMB: 400 };
const POLL_MS = 50;

const { values: flags } = parseArgs({
  options: {
    agents: { type: "string", default: "1000" },
    vms: { type: "string", default: "20" },
    "stream-seconds": { type: "string", default: "15" },
    batch: { type: "string", default: "20" },
    inflight: { type: "string", default: "2" },
    poison: { type: "string", default: "0" },
    "poison-kind": { type: "string", default: "duplicate-disk" },
    "cpu-prof": { type: "boolean", default: false },
    "data-parent": { type: "string", default: os.tmpdir() },
  },
});
const positive = (name: string, text: string | undefined) => {
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${name} ${text}: expected a positive number`);
  return n;
};
const params = {
  agents: positive("agents", flags.agents), vms: positive("vms", flags.vms), streamSeconds: positive("stream-seconds", flags["stream-seconds"]),
  batch: positive("batch", flags.batch), inflight: positive("inflight", flags.inflight), cpuProf: flags["cpu-prof"] ?? false,
};
const POISON_KINDS: readonly PoisonKind[] = ["duplicate-disk", "null-domain"];
const poisonKind = flags["poison-kind"] as PoisonKind;
if (!POISON_KINDS.includes(poisonKind)) throw new Error(`--poison-kind ${poisonKind}: expected ${POISON_KINDS.join(" or ")}`);
const poisonCount = Number(flags.poison);
if (!(Number.isInteger(poisonCount) && poisonCount >= 0)) throw new Error(`--poison ${flags.poison}: expected 0 or a positive integer`);
const N = params.agents;
const expectedVms = N * params.vms;

interface Status {
  hosts: { total: number; up: number };
  agentsConnected: number;
  vms: { total: number };
  eventsStored: number;
}

interface HostListing {
  name: string;
  status: string;
  connected: boolean;
  vms: number;
}

interface VmListing {
  host: string;
  name: string;
  uuid: string;
  state: string;
  disks: unknown[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function enroll(ctl: ControllerProcess, count: number, prefix: string): Promise<HostCredentials[]> {
  const hosts: HostCredentials[] = new Array<HostCredentials>(count);
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < count) {
      const i = next++;
      const name = `${prefix}${String(i).padStart(5, "0")}`;
      hosts[i] = { name, token: (await ctl.api<{ token: string }>("POST", "/v1/hosts", { name })).token };
    }
  }));
  return hosts;
}

function compareVms(expected: ExpectedVm[], actual: VmListing[]): Check[] {
  const byKey = new Map(actual.map((v) => [`${v.host}/${v.uuid}`, v]));
  let missing = 0;
  let wrongDisks = 0;
  let wrongState = 0;
  const examples: string[] = [];
  for (const e of expected) {
    const a = byKey.get(`${e.host}/${e.uuid}`);
    if (!a || a.name !== e.name) {
      missing++;
      if (examples.length < 3) examples.push(`${e.host}/${e.name} missing`);
    } else {
      if (a.disks.length !== e.disks) wrongDisks++;
      if (a.state !== e.state) {
        wrongState++;
        if (examples.length < 3) examples.push(`${e.host}/${e.name} is ${a.state}, agent last said ${e.state}`);
      }
    }
  }
  const extra = actual.length - (expected.length - missing);
  const sent = expected.reduce((n, e) => n + e.disks, 0);
  const stored = actual.reduce((n, a) => n + a.disks.length, 0);
  const ex = examples.length ? ` (${examples.join("; ")})` : "";
  return [
    { what: "every VM stored once, none extra", pass: missing === 0 && extra === 0, detail: `${actual.length} listed, ${missing} missing, ${extra} extra${ex}` },
    { what: "every VM's disks stored", pass: wrongDisks === 0 && stored === sent, detail: `${stored} of ${sent} disks, ${wrongDisks} VMs differ` },
    { what: "every VM's state = its last lifecycle event", pass: wrongState === 0, detail: `${wrongState} VMs differ` },
  ];
}

function perSecondCell(xs: number[]): string {
  if (xs.length === 0) return "n/a";
  const sorted = xs.slice().sort((a, b) => a - b);
  return `${sorted[0]} / ${sorted[Math.floor(sorted.length / 2)]} / ${sorted[sorted.length - 1]}`;
}

function cpuCell(s: CpuSpan): string {
  return `${s.seconds.toFixed(2)} s (${pct(s.utilisation)})`;
}

/** Kills what `run` started; also called on SIGINT/SIGTERM, so children never outlive the driver. */
const cleanup: (() => void)[] = [];

async function run(dataDir: string): Promise<number> {
  const profDir = path.join(dataDir, "prof");
  const ctl = await ControllerProcess.start(path.join(dataDir, "controller"), params.cpuProf ? profDir : null);
  cleanup.push(() => ctl.kill());
  let agents: AgentsProcess | null = null;
  try {
    const rssIdle = memoryStatus(ctl.pid).rssMB;
    const tEnroll = monoMs();
    const hosts = await enroll(ctl, N, "hv");
    const poisonHosts = await enroll(ctl, poisonCount, "px");
    const enrollMs = monoMs() - tEnroll;
    const rssEnrolled = memoryStatus(ctl.pid).rssMB;

    agents = AgentsProcess.start();
    cleanup.push(() => agents!.kill());
    agents.send({ type: "config", config: {
      url: ctl.url.replace(/^http/, "ws") + "/v1/agent", hosts, vmsPerAgent: params.vms, eventsPerBatch: params.batch, inflight: params.inflight,
      poison: { hosts: poisonHosts, kind: poisonKind, inflight: params.inflight },
    } });
    await agents.next("ready", 60_000, () => ctl.gone);

    const cpu = { ctl: new CpuMeter(ctl.pid), agents: new CpuMeter(agents.pid), machine: new CpuMeter(null) };
    const driverCpu = new Map<string, number>();
    const mark = (name: string) => {
      const at = monoMs();
      cpu.ctl.mark(name, at);
      cpu.agents.mark(name, at);
      cpu.machine.mark(name, at);
      const u = process.cpuUsage();
      driverCpu.set(name, (u.user + u.system) / 1e6);
      return at;
    };
    const rss = new RssSampler(ctl.pid);
    cleanup.push(() => rss.stop());

    // Phase 1: convergence.
    const dropsBefore = listenDrops();
    rss.takePeak();
    const p1Start = mark("p1-start");
    agents.send({ type: "connect" });
    let convergedAt = 0;
    let allConnectedAt = 0;
    let polls = 0;
    let slowestPollMs = 0;
    for (;;) {
      const t = monoMs();
      const s = await ctl.api<Status>("GET", "/v1/status");
      const at = monoMs();
      polls++;
      slowestPollMs = Math.max(slowestPollMs, at - t);
      if (!allConnectedAt && s.agentsConnected === N + poisonCount) allConnectedAt = at;
      if (s.vms.total > expectedVms) throw new Error(`the controller holds ${s.vms.total} VMs, more than the ${expectedVms} the fleet has`);
      if (s.vms.total === expectedVms) {
        convergedAt = at;
        break;
      }
      if (agents.failures.length > 0) throw new Error(`agents failed while connecting: ${agents.failures.slice(0, 5).join(" | ")}`);
      if (at - p1Start > 120_000) throw new Error(`not converged after 120 s: ${s.vms.total} of ${expectedVms} VMs, ${s.agentsConnected} agents connected`);
      await sleep(Math.max(0, t + POLL_MS - monoMs()));
    }
    mark("p1-end");
    const p1Rss = rss.takePeak();
    const hwmAfterP1 = memoryStatus(ctl.pid).peakRssMB;
    const connect = (await agents.next("connected", 60_000, () => ctl.gone)).report;
    const dropsAfter = listenDrops();
    const convergeMs = convergedAt - connect.t0;

    const hostList = await ctl.api<HostListing[]>("GET", "/v1/hosts");
    const honestHosts = new Set(hosts.map((h) => h.name));
    const badHosts = hostList.filter((h) => honestHosts.has(h.name) && (h.status !== "up" || !h.connected || h.vms !== params.vms));
    const checks: Check[] = [{
      what: "every host up, connected, with all its VMs", pass: hostList.length === N + poisonCount && badHosts.length === 0,
      detail: `${hostList.length} hosts, ${badHosts.length} not up/connected/complete${badHosts[0] ? ` (e.g. ${JSON.stringify(badHosts[0])})` : ""}`,
    }];

    // Phase 2: events.
    const io = new Map<string, ReturnType<typeof ioWritten>>();
    agents.onWindowEdge = (edge) => {
      if (edge === "window-start") rss.takePeak();
      mark(edge);
      io.set(edge, ioWritten(ctl.pid));
    };
    agents.send({ type: "stream", seconds: params.streamSeconds });
    const stream = (await agents.next("streamed", (params.streamSeconds + 120) * 1000, () => ctl.gone)).report;
    const p2Rss = rss.takePeak();
    const windowS = (stream.windowEnd - stream.windowStart) / 1000;
    const eventsPerSecond = stream.eventsAckedInWindow / windowS;

    const peakRss = memoryStatus(ctl.pid).peakRssMB;
    const dbFiles = ["nightshift.db", "nightshift.db-wal"].map((f) => {
      const file = path.join(dataDir, "controller", f);
      return fs.existsSync(file) ? fs.statSync(file).size / 2 ** 20 : 0;
    });
    const after = await ctl.api<Status>("GET", "/v1/status");
    // The controller's own history entries so far: `enrolled` and `connected` for every host.
    const hostEvents = 2 * (N + poisonCount);
    checks.push(
      { what: "every event sent was acked", pass: stream.eventsAckedTotal === stream.eventsSent, detail: `${stream.eventsAckedTotal} of ${stream.eventsSent}` },
      { what: "events stored = acked + host events", pass: after.eventsStored === stream.eventsAckedTotal + hostEvents,
        detail: `${after.eventsStored} stored, ${stream.eventsAckedTotal} acked + ${hostEvents} host events` },
      { what: "every agent still connected", pass: after.agentsConnected === N + poisonCount, detail: `${after.agentsConnected} of ${N + poisonCount}` },
    );
    agents.send({ type: "expected" });
    const expected = await agents.next("expected", 60_000, () => ctl.gone);
    checks.push(...compareVms(expected.vms, await ctl.api<VmListing[]>("GET", "/v1/vms")));
    // The verification's own GET /v1/vms (every VM with its disks in one JSON body) is not part of the load.
    const peakRssWithVerification = memoryStatus(ctl.pid).peakRssMB;

    agents.send({ type: "close" });
    await agents.next("closed", 30_000).catch(() => agents!.kill());
    const exitCode = await ctl.stop();
    checks.push(
      { what: "no error from the controller, no dropped connection", pass: agents.failures.length === 0,
        detail: agents.failures.length ? `${agents.failures.length}: ${agents.failures.slice(0, 3).join(" | ")}` : "none" },
      { what: "controller logged no errors, stopped cleanly", pass: ctl.logs.errors === 0 && exitCode === 0,
        detail: `${ctl.logs.errors} errors, ${ctl.logs.warnings} warnings, exit ${exitCode}` },
    );

    const c1 = cpu.ctl.span("p1-start", "p1-end");
    const c2 = cpu.ctl.span("window-start", "window-end");
    const a1 = cpu.agents.span("p1-start", "p1-end");
    const a2 = cpu.agents.span("window-start", "window-end");
    const m1 = cpu.machine.span("p1-start", "p1-end");
    const m2 = cpu.machine.span("window-start", "window-end");
    const driver = (from: string, to: string) => driverCpu.get(to)! - driverCpu.get(from)!;
    const others = (m: CpuSpan, c: CpuSpan, a: CpuSpan, d: number, wallS: number) => {
      const s = Math.max(0, m.seconds - c.seconds - a.seconds - d);
      return `${s.toFixed(2)} s (${pct(s / wallS)})`;
    };
    const p1WallS = (convergedAt - p1Start) / 1000;

    const rows: Row[] = [
      { what: `enrol ${N} hosts (POST /v1/hosts, 16 at a time)`, value: sec(enrollMs) },
      { what: "phase 1: all WebSockets open", value: sec(connect.allOpenAt - connect.t0) },
      { what: "phase 1: all welcomes received", value: sec(connect.allWelcomedAt - connect.t0) },
      { what: "phase 1: all agents connected (status)", value: sec(allConnectedAt - connect.t0) },
      { what: `phase 1: converged (vms.total = ${expectedVms})`, value: sec(convergeMs), target: `< ${sec(TARGETS.convergeMs)}`, pass: convergeMs < TARGETS.convergeMs },
      { what: "phase 1: status polls / slowest poll", value: `${polls} / ${slowestPollMs.toFixed(0)} ms` },
      { what: "phase 1: TCP listen overflows / drops", value: `${dropsAfter.overflows - dropsBefore.overflows} / ${dropsAfter.drops - dropsBefore.drops}` },
      { what: "phase 2: events stored per second", value: eventsPerSecond.toFixed(0), target: `>= ${TARGETS.eventsPerSecond}`, pass: eventsPerSecond >= TARGETS.eventsPerSecond },
      { what: "phase 2: events per whole second min / median / max", value: perSecondCell(stream.perSecond) },
      ...(poisonCount > 0 ? [{
        what: `phase 2: ${poisonCount} poisoning agent(s), ${poisonKind}: inventories sent / answered`,
        value: `${stream.poison.sent} / ${stream.poison.answered} (${Object.entries(stream.poison.answers).map(([c, n]) => `${c} ${n}`).join(", ") || "no answer"})`,
      }] : []),
      { what: "phase 2: events acked in window / total", value: `${stream.eventsAckedInWindow} / ${stream.eventsAckedTotal}` },
      { what: "phase 2: ack latency p50 / p90 / p99 / max", value: `${stream.ackLatencyMs.p50.toFixed(0)} / ${stream.ackLatencyMs.p90.toFixed(0)} / ${stream.ackLatencyMs.p99.toFixed(0)} / ${stream.ackLatencyMs.max.toFixed(0)} ms` },
      { what: "phase 2: controller write(2) / block-layer writes", value: (() => {
        const a = io.get("window-start")!;
        const b = io.get("window-end")!;
        return `${(b.wcharMB - a.wcharMB).toFixed(0)} MB / ${(b.diskMB - a.diskMB).toFixed(0)} MB`;
      })() },
      { what: "phase 2: controller CPU / write(2) bytes per event stored", value: (() => {
        const a = io.get("window-start")!;
        const b = io.get("window-end")!;
        const perEvent = (x: number) => x / Math.max(stream.eventsAckedInWindow, 1);
        return `${(perEvent(c2.seconds) * 1e6).toFixed(1)} µs / ${((perEvent(b.wcharMB - a.wcharMB)) * 1024).toFixed(1)} KB`;
      })() },
      { what: "after phase 2: database / WAL file size", value: `${mb(dbFiles[0]!)} / ${mb(dbFiles[1]!)}` },
      { what: "controller peak RSS (VmHWM, both phases)", value: mb(peakRss), target: `< ${TARGETS.peakRssMB} MB`, pass: peakRss < TARGETS.peakRssMB },
      { what: "controller RSS idle / enrolled / VmHWM after phase 1", value: `${mb(rssIdle)} / ${mb(rssEnrolled)} / ${mb(hwmAfterP1)}` },
      { what: "controller peak RSS sampled in phase 1 / phase 2", value: `${mb(p1Rss)} / ${mb(p2Rss)}` },
      { what: "controller VmHWM after the bench's GET /v1/vms", value: mb(peakRssWithVerification) },
      { what: "controller CPU phase 1 (% of one core)", value: cpuCell(c1) },
      { what: "controller CPU phase 2", value: cpuCell(c2) },
      { what: "agents process CPU phase 1", value: cpuCell(a1) },
      { what: "agents process CPU phase 2", value: cpuCell(a2) },
      { what: "driver (status polls) CPU phase 1 / 2", value: `${driver("p1-start", "p1-end").toFixed(2)} s / ${driver("window-start", "window-end").toFixed(2)} s` },
      { what: "other processes on the machine phase 1", value: others(m1, c1, a1, driver("p1-start", "p1-end"), p1WallS) },
      { what: "other processes on the machine phase 2", value: others(m2, c2, a2, driver("window-start", "window-end"), windowS) },
    ];

    console.log(`\ncontroller load benchmark: ${N} agents x ${params.vms} VMs, event batches of ${params.batch}, ` +
      `at most ${params.inflight} unacked per agent, ${params.streamSeconds} s stream window (measured ${windowS.toFixed(2)} s)` +
      (poisonCount > 0 ? `, ${poisonCount} poisoning agent(s) sending ${poisonKind} inventories` : ""));
    console.log(`parameters: --agents ${N} --vms ${params.vms} --stream-seconds ${params.streamSeconds} --batch ${params.batch} ` +
      `--inflight ${params.inflight}${poisonCount > 0 ? ` --poison ${poisonCount} --poison-kind ${poisonKind}` : ""}${params.cpuProf ? " --cpu-prof" : ""}`);
    console.log(`machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB, Node ${process.version}, ` +
      `load average before ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; controller log level warn; data dir on ${dataDir}\n`);
    console.log(formatFigures(rows));
    console.log(`\nphase 2 events acked per whole second: ${stream.perSecond.join(" ")}\n`);
    console.log(formatChecks(checks));
    if (ctl.logs.sample.length) console.log(`\ncontroller warnings/errors (first ${ctl.logs.sample.length}):\n  ${ctl.logs.sample.join("\n  ")}`);

    if (params.cpuProf) {
      const file = fs.readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
      if (!file) {
        console.log("\nno .cpuprofile was written (did the controller stop gracefully?)");
      } else {
        const full = path.join(profDir, file);
        const kept = path.join(os.tmpdir(), `controller-load-${Date.now()}.cpuprofile`);
        fs.copyFileSync(full, kept);
        console.log(`\ncontroller CPU profile kept at ${kept}\n`);
        console.log(formatSummary("phase 1 (convergence)", summarizeProfile(full, p1Start, convergedAt)));
        console.log("");
        console.log(formatSummary("phase 2 (event window)", summarizeProfile(full, stream.windowStart, stream.windowEnd)));
      }
    }

    if (checks.some((c) => !c.pass)) {
      console.log("\nFAIL: the controller lost, duplicated or refused something (see the checks above)");
      return 1;
    }
    return rows.some((r) => r.pass === false) ? 3 : 0;
  } finally {
    for (const f of cleanup.splice(0).reverse()) f();
  }
}

const dataDir = fs.mkdtempSync(path.join(flags["data-parent"] ?? os.tmpdir(), "ns-controller-load-"));
const removeDataDir = () => fs.rmSync(dataDir, { recursive: true, force: true });
const abort = (status: number) => {
  for (const f of cleanup.splice(0).reverse()) f();
  removeDataDir();
  process.exit(status);
};
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => abort(130));
process.on("uncaughtException", (err) => {
  console.error(`\nFAIL: ${err.stack ?? err.message}`);
  abort(1);
});
let status = 1;
try {
  status = await run(dataDir);
} catch (err) {
  console.error(`\nFAIL: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
} finally {
  removeDataDir();
}
process.exit(status);
