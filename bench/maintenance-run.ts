/**
 * Maintenance-run benchmark on real guests: the time from run start to all
 * VMs verified, through nightshift (controller and agent as processes, the
 * run started with POST /v1/runs and polled until finished) and through the
 * manual procedure operators run today (bench/virsh-maintenance.sh: the same
 * steps one VM at a time with virsh), side by side, for N = 1, 4, 8 guests.
 *
 *   npm run bench:runs                         # N = 1, 4, 8; 3 rounds each
 *   npm run bench:runs -- --rounds 5 1 4 8
 *
 * Both sides do the same work per VM: check it runs and its guest agent
 * answers, `cat /data/version` before, an internal snapshot with memory, the
 * patch `echo vK > /data/version && sync` (K new for every run), then
 * `cat /data/version` again. nightshift also runs its other pre-checks
 * (allowed commands, free space for the snapshot, logged-in users) and checks
 * state and guest agent once more before the verify command. nightshift runs
 * with maxParallel 4, maxParallelPerHost 4, canary 0.
 *
 * nightshift's verify runs before the patch as well (pre-check), so its
 * expected output is a pattern (v<digits>); the benchmark reads
 * /data/version in every guest after every run, untimed, and fails unless
 * it is the new value. The snapshots both sides took are deleted after each
 * run, untimed. The guests (nsbench-run-<random>-1..8) are booted once and
 * reused; they, their disks, the controller and the agent are removed at the
 * end, also on failure or Ctrl-C.
 *
 * Per-VM overhead = (the VM's finishedAt - startedAt) - (the sum of its
 * evidence lines' durations): the controller's own time between the steps it
 * had the agent execute.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LibvirtConnection } from "../agent/libvirt/connection.js";
import { GuestAgent } from "../agent/libvirt/guest-agent.js";
import type { DomainRef } from "../agent/libvirt/remote-types.js";
import { waitForGuestAgent } from "../agent/maintenance/agent-ping.js";
import type { EvidenceRecord, RunDetail, RunSpecInput } from "../shared/runs.js";
import { ensureGuestBuilt, guestConsoleLogPath, guestDiskPath, guestDomainXml, prepareGuestDisk, removeGuestDisk } from "../test/helpers/guest.js";
import { removeDomainsWithPrefix } from "../test/helpers/libvirt.js";
import { api, sleep, startAgent, startController, type Controller, type NodeChild } from "./maintenance-run-procs.js";

const URI = "qemu:///system";
const here = path.dirname(fileURLToPath(import.meta.url));
// dist/bench/ -> the repository root, where the shell script lives.
const VIRSH_SCRIPT = path.resolve(here, "..", "..", "bench", "virsh-maintenance.sh");
const VERIFY = "cat /data/version";
const patchFor = (version: string) => `echo ${version} > /data/version && sync`;
const RUN_TIMEOUT_MS = 10 * 60_000;

const { values, positionals } = parseArgs({ options: { rounds: { type: "string", default: "3" } }, allowPositionals: true });
const rounds = Number(values.rounds);
const parsedSizes = positionals.map(Number).filter((n) => Number.isInteger(n) && n > 0);
const sizes = parsedSizes.length > 0 ? parsedSizes : [1, 4, 8];
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, not ${values.rounds}`);
const maxN = Math.max(...sizes);

const tag = randomBytes(3).toString("hex");
const PREFIX = `nsbench-run-${tag}-`;
const HOST = `nsbench-run-${tag}`;
const names = Array.from({ length: maxN }, (_, i) => `${PREFIX}${i + 1}`);
// One version per run, both sides counted (a warm-up run each, then the rounds); the agent must list every patch.
let nextVersion = 2;
const lastVersion = nextVersion + 2 * (1 + sizes.length * rounds);

// --- what cleanup needs to find ----------------------------------------------

let controller: Controller | undefined;
let agent: NodeChild | undefined;
let virshChild: ChildProcess | undefined;
let workDir: string | undefined;
let cleaning: Promise<void> | undefined;
let interrupted = false;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    if (virshChild && virshChild.exitCode === null && virshChild.signalCode === null) virshChild.kill("SIGTERM");
    await agent?.stop().catch(() => undefined);
    await controller?.process.stop().catch(() => undefined);
    // A fresh connection: the benchmark's own may be the thing that broke.
    try {
      const conn = await LibvirtConnection.open({ uri: URI });
      try {
        await removeDomainsWithPrefix(conn, PREFIX);
      } finally {
        await conn.connectClose();
      }
    } catch (err) {
      process.stderr.write(`cleanup: removing the ${PREFIX}* domains failed: ${String(err)}\n`);
    }
    for (const name of names) {
      await removeGuestDisk(guestDiskPath(name));
      fs.rmSync(guestConsoleLogPath(name), { force: true });
    }
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    interrupted = true;
    process.stderr.write(`${signal}: cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

// --- guests ------------------------------------------------------------------

async function bootGuests(conn: LibvirtConnection): Promise<Map<string, DomainRef>> {
  const artifacts = await ensureGuestBuilt();
  const doms = new Map<string, DomainRef>();
  for (const name of names) {
    const diskPath = await prepareGuestDisk(name, artifacts);
    const dom = await conn.domainDefineXML(guestDomainXml({ name, kernel: artifacts.kernel, initrd: artifacts.initrd, diskPath }));
    doms.set(name, await conn.domainCreate(dom));
  }
  for (const name of names) await waitForGuestAgent(conn, doms.get(name)!, { timeoutMs: 120_000, intervalMs: 250 });
  return doms;
}

async function readVersion(conn: LibvirtConnection, dom: DomainRef): Promise<string> {
  const r = await new GuestAgent(conn, dom).exec({ path: "/bin/sh", args: ["-c", VERIFY], timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new Error(`${dom.name}: ${VERIFY} exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Untimed, after every run: each guest shows the new version and has the one
 * snapshot, internal with memory; the snapshot goes, so every run starts clean.
 */
async function checkAndClean(conn: LibvirtConnection, doms: DomainRef[], version: string): Promise<void> {
  for (const dom of doms) {
    const found = await readVersion(conn, dom);
    if (found !== version) throw new Error(`${dom.name}: /data/version is '${found}' after the run, expected '${version}'`);
    const snaps = await conn.domainListAllSnapshots(dom);
    if (snaps.length !== 1) throw new Error(`${dom.name}: ${snaps.length} snapshots after the run, expected 1`);
    for (const snap of snaps) {
      // Both sides must have taken the same kind: internal, with the running VM's memory.
      const xml = await conn.domainSnapshotGetXMLDesc(snap);
      if (!/<memory\s+snapshot=['"]internal['"]/.test(xml)) throw new Error(`${dom.name}: snapshot ${snap.name} has no memory: ${xml}`);
      await conn.domainSnapshotDelete(snap, 0);
    }
  }
}

// --- the two sides -----------------------------------------------------------

interface NightshiftResult {
  wallMs: number;
  /** Per VM: (finishedAt - startedAt) - sum of its evidence durations. */
  overheadMs: number[];
  /** Sum of all evidence durations: time in steps the agent and the guests executed. */
  stepMs: number;
}

async function nightshiftRun(c: Controller, vms: string[], version: string): Promise<NightshiftResult> {
  const spec: RunSpecInput = {
    name: `bench ${version}`, vms, patch: { exec: patchFor(version) },
    verify: { exec: VERIFY, outputPattern: "v[0-9]+" },
    maxParallel: 4, maxParallelPerHost: 4, canary: 0,
  };
  const t0 = performance.now();
  const { run } = await api<{ run: RunDetail }>(c, "POST", "/v1/runs", { spec });
  let detail: RunDetail;
  for (;;) {
    detail = await api<RunDetail>(c, "GET", `/v1/runs/${run.id}`);
    if (detail.state === "finished") break;
    const gone = c.process.gone ?? agent?.gone;
    if (gone || performance.now() - t0 > RUN_TIMEOUT_MS) {
      throw new Error(`run ${run.id}: ${gone ?? "not finished in time"}: ${JSON.stringify(detail.vms)}\n` +
        `agent log:\n${agent?.logs().slice(-4000)}\ncontroller log:\n${c.process.logs().slice(-4000)}`);
    }
    await sleep(50);
  }
  const wallMs = performance.now() - t0;
  const failed = detail.vms.filter((v) => v.outcome !== "succeeded");
  if (failed.length > 0) {
    throw new Error(`run ${run.id}: not all VMs succeeded: ${failed.map((v) => `${v.vm} ${v.outcome}: ${v.reason}`).join("; ")}`);
  }
  const evidence = await api<EvidenceRecord[]>(c, "GET", `/v1/runs/${run.id}/evidence`);
  const overheadMs = detail.vms.map((v) => {
    const steps = evidence.filter((e) => e.vm === v.vm).reduce((sum, e) => sum + e.durationMs, 0);
    return Date.parse(v.finishedAt!) - Date.parse(v.startedAt!) - steps;
  });
  return { wallMs, overheadMs, stepMs: evidence.reduce((sum, e) => sum + e.durationMs, 0) };
}

async function virshRun(vms: string[], version: string): Promise<number> {
  const t0 = performance.now();
  const child = spawn("bash", [VIRSH_SCRIPT, ...vms], {
    env: { ...process.env, VERSION: version, SNAPSHOT: `manual-${version}`, LIBVIRT_DEFAULT_URI: URI },
    stdio: ["ignore", "ignore", "pipe"],
  });
  virshChild = child;
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (c: string) => { stderr += c; });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (status) => resolve(status));
  });
  const wallMs = performance.now() - t0;
  virshChild = undefined;
  if (code !== 0) throw new Error(`${VIRSH_SCRIPT} exited ${code}: ${stderr.trim()}`);
  return wallMs;
}

// --- report ------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const sec = (ms: number) => (ms / 1000).toFixed(2);
const spread = (xs: number[]) => `${sec(median(xs))} (${sec(Math.min(...xs))}-${sec(Math.max(...xs))})`;

// --- main --------------------------------------------------------------------

const results = new Map<number, { ns: NightshiftResult[]; virshMs: number[] }>(sizes.map((n) => [n, { ns: [], virshMs: [] }]));
let memory = { controllerMB: NaN, agentMB: NaN };
let exitCode = 0;
const conn = await LibvirtConnection.open({ uri: URI });
try {
  process.stderr.write(`booting ${maxN} guests (${PREFIX}1..${maxN})\n`);
  const doms = await bootGuests(conn);
  const domList = names.map((n) => doms.get(n)!);
  for (const dom of domList) {
    const v = await readVersion(conn, dom);
    if (!/^v[0-9]+$/.test(v)) throw new Error(`${dom.name}: /data/version is '${v}' at start`);
  }

  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "nsbench-run-"));
  const dataDir = path.join(workDir, "controller");
  fs.mkdirSync(dataDir);
  controller = await startController(dataDir);
  const { token } = await api<{ token: string }>(controller, "POST", "/v1/hosts", { name: HOST });
  const tokenFile = path.join(workDir, "agent.token");
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const configFile = path.join(workDir, "agent.yaml");
  const commands = [VERIFY];
  for (let k = nextVersion; k <= lastVersion; k++) commands.push(patchFor(`v${k}`));
  fs.writeFileSync(configFile, ["maintenance:", "  guestCommands:", ...commands.map((c) => `    - ${JSON.stringify(c)}`), ""].join("\n"));
  agent = startAgent({ controllerUrl: controller.agentUrl, host: HOST, tokenFile, stateDir: path.join(workDir, "agent-state"), configFile });
  for (let i = 0; ; i++) {
    const hosts = await api<{ name: string; connected: boolean }[]>(controller, "GET", "/v1/hosts");
    const vms = await api<{ name: string }[]>(controller, "GET", "/v1/vms");
    if (hosts.some((h) => h.name === HOST && h.connected) && names.every((n) => vms.some((v) => v.name === n))) break;
    if (agent.gone || i > 300) throw new Error(`agent not connected with its inventory (${agent.gone ?? "30 s"}):\n${agent.logs()}`);
    await sleep(100);
  }

  // A warm-up run on each side (untimed): the first run pays for loading and JIT, not for maintenance.
  process.stderr.write("warm-up\n");
  for (const side of ["nightshift", "virsh"] as const) {
    const version = `v${nextVersion++}`;
    if (side === "nightshift") await nightshiftRun(controller, names.slice(0, 1), version);
    else await virshRun(names.slice(0, 1), version);
    await checkAndClean(conn, domList.slice(0, 1), version);
  }

  for (let round = 1; round <= rounds; round++) {
    for (const n of sizes) {
      const entry = results.get(n)!;
      // Alternate which side goes first, so slow drift of the machine does not favour one.
      const order = round % 2 === 1 ? ["nightshift", "virsh"] as const : ["virsh", "nightshift"] as const;
      for (const side of order) {
        const version = `v${nextVersion++}`;
        if (side === "nightshift") {
          const r = await nightshiftRun(controller, names.slice(0, n), version);
          entry.ns.push(r);
          process.stderr.write(`round ${round} N=${n} nightshift ${sec(r.wallMs)} s\n`);
        } else {
          const ms = await virshRun(names.slice(0, n), version);
          entry.virshMs.push(ms);
          process.stderr.write(`round ${round} N=${n} virsh loop ${sec(ms)} s\n`);
        }
        await checkAndClean(conn, domList.slice(0, n), version);
      }
    }
  }
  memory = { controllerMB: controller.process.peakRssMB(), agentMB: agent.peakRssMB() };
} catch (err) {
  exitCode = 1;
  // Once interrupted, the children are going away under the run: that error says nothing.
  if (!interrupted) process.stderr.write(`benchmark failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
} finally {
  await conn.connectClose().catch(() => undefined);
  await cleanup();
}

const headers = ["VMs", `nightshift s (median, min-max of ${rounds})`, "virsh loop s (median, min-max)", "speed-up (x)",
  "overhead/VM ms median", "overhead/VM ms max", "guest-side s (sum of steps)"];
const rows: string[][] = [];
for (const n of sizes) {
  const { ns, virshMs } = results.get(n)!;
  if (ns.length === 0 || virshMs.length === 0) continue;
  const nsMs = ns.map((r) => r.wallMs);
  const overhead = ns.flatMap((r) => r.overheadMs);
  rows.push([String(n), spread(nsMs), spread(virshMs), (median(virshMs) / median(nsMs)).toFixed(2),
    median(overhead).toFixed(0), Math.max(...overhead).toFixed(0), sec(median(ns.map((r) => r.stepMs)))]);
}
if (rows.length > 0) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [headers, ...rows]) console.log(row.map((c, i) => c.padStart(widths[i]!)).join("  "));
  console.log("nightshift: maxParallel 4, maxParallelPerHost 4, canary 0; virsh loop: one VM at a time; " +
    "guest-side = sum of the run's evidence durations over all VMs (median)");
  console.log(`controller peak RSS (VmHWM) ${memory.controllerMB.toFixed(1)} MB, agent peak RSS (VmHWM) ${memory.agentMB.toFixed(1)} MB`);
}
process.exit(exitCode);
