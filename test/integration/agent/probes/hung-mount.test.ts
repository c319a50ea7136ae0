/**
 * A real hung mount: a FUSE file system (bindfs) whose daemon is stopped with
 * SIGSTOP blocks statfs and readdir exactly like a hard NFS mount whose server
 * is gone. The probe runs in this process, through the real runner, as it does
 * in the agent, and must:
 *   - report the mount hung within twice the mount timeout;
 *   - keep this process's event loop answering meanwhile (event-loop delay and
 *     a WebSocket ping/pong round trip both under 50 ms);
 *   - leave at most one probe child per mount over repeated cycles, also when the
 *     child is stuck in uninterruptible sleep and survives SIGKILL;
 *   - report the mount up again after SIGCONT, with the stuck child reaped (no zombie).
 *
 * The D-state case: bindfs B serves mnt2 from mnt, which bindfs A serves. With A
 * stopped, B takes our statfs request and blocks in A; once the kernel has handed a
 * FUSE request to a daemon, the caller waits uninterruptibly, so SIGKILL cannot end
 * it until B answers, i.e. until A is continued.
 *
 * Needs bindfs (Debian package bindfs, which pulls in fuse) and /dev/fuse; runs as root.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { HostRoot } from "../../../../agent/probes/host-root.js";
import { liveCommands } from "../../../../agent/probes/live-commands.js";
import { MountChecker } from "../../../../agent/probes/mount-responsiveness.js";
import { parseMountInfo } from "../../../../agent/probes/mountinfo.js";
import { createMountsProbe } from "../../../../agent/probes/mounts.js";
import { runProbes } from "../../../../agent/probes/runner.js";
import { ProbeSettingsSchema } from "../../../../agent/probes/settings.js";
import { encodeMessage, parseAgentMessage } from "../../../../shared/protocol/codec.js";
import { checkAgentFrame, listRefused } from "../../../../shared/protocol/items.js";
import type { HealthReport } from "../../../../shared/protocol/findings.js";
import { AGENT_BIN } from "../../../helpers/run.js";
import { AgentProcess, tempAgentDir } from "../daemon/agent-process.js";

const TIMEOUT_MS = 500;
const CYCLES = 10;
const MAX_LAG_MS = 50;
const log = pino({ level: "silent" });

let base = "";
const daemons: ChildProcess[] = [];

function mounted(mp: string): boolean {
  return parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8")).entries.some((e) => e.mountPoint === mp);
}

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** bindfs in the foreground, as our child (so we know its pid and reap it). */
async function bindfs(src: string, mnt: string): Promise<ChildProcess> {
  const child = spawn("bindfs", ["-f", src, mnt], { stdio: ["ignore", "ignore", "pipe"] });
  daemons.push(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
  await waitFor(`bindfs on ${mnt} (${stderr})`, () => mounted(mnt));
  return child;
}

/** Processes whose parent is `parent` (this process), by name, from /proc: what the checker left behind. */
function childrenNamed(names: string[], parent = process.pid): { pid: number; comm: string; state: string }[] {
  const out: { pid: number; comm: string; state: string }[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, "utf8");
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const [state, ppid] = stat.slice(close + 2).split(" ");
    if (Number(ppid) === parent && names.includes(comm)) out.push({ pid: Number(d), comm, state: state! });
  }
  return out;
}

/** Of those, the ones probing `mountPoint` (an argument of stat -f / find). */
function probeChildrenFor(mountPoint: string, parent = process.pid): { pid: number; comm: string; state: string }[] {
  return childrenNamed(["stat", "find"], parent).filter((c) => {
    try {
      return readFileSync(`/proc/${c.pid}/cmdline`, "utf8").split("\0").includes(mountPoint);
    } catch {
      return false; // exited meanwhile
    }
  });
}

function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!;
  } catch {
    return null; // gone (and reaped)
  }
}

/** This process's responsiveness: event-loop delay, and ping/pong over a real local WebSocket. */
async function responsiveness() {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  await new Promise<void>((r, j) => { ws.once("open", () => r()); ws.once("error", j); });
  const rtts: number[] = [];
  let sentAt = 0;
  ws.on("pong", () => rtts.push(performance.now() - sentAt));
  const timer = setInterval(() => {
    sentAt = performance.now();
    ws.ping();
  }, 25);
  return {
    async stop() {
      clearInterval(timer);
      h.disable();
      ws.terminate();
      await new Promise((r) => wss.close(r));
      return { maxLagMs: h.max / 1e6, p99LagMs: h.percentile(99) / 1e6, pings: rtts.length, maxRttMs: Math.max(...rtts) };
    },
  };
}

/**
 * Just enough of a controller for the real agent: welcome on hello, ack for events,
 * health reports recorded; and a ping to the agent every 25 ms, its pong timed.
 */
async function controllerStandIn() {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const healths: { at: number; report: HealthReport }[] = [];
  const rtts: { at: number; ms: number }[] = [];
  const timers: NodeJS.Timeout[] = [];
  wss.on("connection", (ws) => {
    let sentAt = 0;
    ws.on("pong", () => rtts.push({ at: performance.now(), ms: performance.now() - sentAt }));
    timers.push(setInterval(() => {
      sentAt = performance.now();
      ws.ping();
    }, 25));
    ws.on("message", (data) => {
      const parsed = parseAgentMessage(data.toString());
      if (!parsed.ok) return;
      const { message: m, refused } = checkAgentFrame(parsed.message);
      if (refused.length > 0) throw new Error(`the agent sent refused items: ${listRefused(refused)}`);
      if (m.type === "hello") {
        ws.send(encodeMessage({ type: "welcome", sessionId: randomUUID(), host: m.host, inventoryIntervalSeconds: 300, heartbeatSeconds: 1 }));
      } else if (m.type === "events") {
        ws.send(encodeMessage({ type: "ack", ids: m.events.map((e) => e.id) }));
      } else if (m.type === "health") {
        healths.push({ at: performance.now(), report: m.report });
      }
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/agent`,
    healths,
    rtts,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

function settingsFor() {
  return ProbeSettingsSchema.parse({ mountTimeout: `${TIMEOUT_MS}ms`, probeTimeout: "10s" });
}

async function runOnce(probe: ReturnType<typeof createMountsProbe>, fstab: string): Promise<{ report: HealthReport; ms: number }> {
  const t0 = performance.now();
  const report = await runProbes([probe], { root: new HostRoot("/", fstab), commands: liveCommands(), settings: settingsFor(), libvirt: null, log, now: () => new Date() });
  return { report, ms: performance.now() - t0 };
}

const stateOf = (report: HealthReport, mp: string) => report.facts.mounts?.find((m) => m.mountPoint === mp)?.state;

beforeAll(() => {
  expect(existsSync("/usr/bin/bindfs"), "bindfs missing: apt-get install -y --no-install-recommends bindfs").toBe(true);
  expect(existsSync("/dev/fuse"), "/dev/fuse missing: FUSE is not available here").toBe(true);
  base = mkdtempSync(path.join(os.tmpdir(), "ns-hung-mount-"));
});

afterAll(async () => {
  // Continue every daemon first: unmounting or removing through a stopped FUSE mount would hang.
  for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill("SIGCONT");
  for (const mp of ["a/mnt2", "a/mnt", "b/mnt", "c/mnt"].map((p) => path.join(base, p)).filter(mounted)) {
    await new Promise<void>((r) => execFile("fusermount", ["-u", "-z", mp], { timeout: 5000 }, () => r()));
    if (mounted(mp)) await new Promise<void>((r) => execFile("umount", ["-l", mp], { timeout: 5000 }, () => r()));
  }
  for (const d of daemons) {
    if (d.exitCode !== null || d.signalCode !== null) continue;
    d.kill("SIGTERM");
    await Promise.race([new Promise((r) => d.once("exit", r)), new Promise((r) => setTimeout(r, 2000))]);
    if (d.exitCode === null && d.signalCode === null) d.kill("SIGKILL");
  }
  const stillMounted = ["a/mnt2", "a/mnt", "b/mnt", "c/mnt"].map((p) => path.join(base, p)).filter(mounted);
  if (base && stillMounted.length === 0) rmSync(base, { recursive: true, force: true });
  else if (base) console.error(`left ${base} in place: still mounted: ${stillMounted.join(", ")}`);
});

describe("hung FUSE mount (bindfs stopped with SIGSTOP)", () => {
  it("is reported hung within twice the timeout, the event loop stays responsive, one child per mount, up again after SIGCONT", async () => {
    const src = path.join(base, "b/src");
    const mnt = path.join(base, "b/mnt");
    mkdirSync(src, { recursive: true });
    mkdirSync(mnt, { recursive: true });
    writeFileSync(path.join(src, "disk.img"), "x");
    const fstab = path.join(base, "b/fstab");
    writeFileSync(fstab, `${src} ${mnt} fuse.bindfs defaults,nofail 0 0\n`);
    const daemon = await bindfs(src, mnt);
    const checker = new MountChecker({ log });
    const probe = createMountsProbe(checker);

    const healthy = await runOnce(probe, fstab);
    expect(healthy.report.probes[0]).toMatchObject({ name: "mounts", status: "ok" });
    expect(stateOf(healthy.report, mnt)).toBe("up");
    expect(healthy.report.facts.mounts?.find((m) => m.mountPoint === mnt)).toMatchObject({ fstype: "fuse", inFstab: true, network: true });

    daemon.kill("SIGSTOP");
    const meter = await responsiveness();
    const durations: number[] = [];
    const childCounts: number[] = [];
    const seenPids = new Set<number>();
    for (let i = 0; i < CYCLES; i++) {
      const { report, ms } = await runOnce(probe, fstab);
      durations.push(ms);
      expect(report.probes[0]!.status).toBe("ok");
      expect(stateOf(report, mnt)).toBe("hung");
      const hung = report.findings.find((f) => f.code === "NS_MOUNT_HUNG" && f.subject === mnt);
      expect(hung).toMatchObject({ severity: "critical", probe: "mounts" });
      expect(hung!.remedy).toContain(`fusermount -u -z ${mnt}`);
      // All probe children of this process, zombies included (only this FUSE mount exists yet).
      const kids = childrenNamed(["stat", "find"]);
      for (const k of kids) seenPids.add(k.pid);
      for (const c of checker.liveChildren()) if (c.pid) seenPids.add(c.pid);
      childCounts.push(kids.length);
      expect(checker.liveChildren().filter((c) => c.mountPoint === mnt).length).toBeLessThanOrEqual(1);
    }
    const r = await meter.stop();
    console.log(`[hung-mount] timeout ${TIMEOUT_MS} ms; hung reported after ${durations.map((d) => d.toFixed(0)).join(", ")} ms; ` +
      `max event-loop delay ${r.maxLagMs.toFixed(1)} ms (p99 ${r.p99LagMs.toFixed(1)}); ${r.pings} WebSocket pings, max RTT ${r.maxRttMs.toFixed(1)} ms; ` +
      `probe children after each cycle ${childCounts.join(",")}`);
    expect(Math.max(...durations)).toBeLessThan(2 * TIMEOUT_MS);
    expect(Math.min(...durations)).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(r.maxLagMs).toBeLessThan(MAX_LAG_MS);
    expect(r.pings).toBeGreaterThan(CYCLES * TIMEOUT_MS / 25 / 2);
    expect(r.maxRttMs).toBeLessThan(MAX_LAG_MS);
    expect(Math.max(...childCounts)).toBeLessThanOrEqual(1);

    const t0 = performance.now();
    daemon.kill("SIGCONT");
    let after: HealthReport;
    do {
      after = (await runOnce(probe, fstab)).report;
    } while (stateOf(after, mnt) !== "up" && performance.now() - t0 < 5000);
    const recoveryMs = performance.now() - t0;
    console.log(`[hung-mount] up again ${recoveryMs.toFixed(0)} ms after SIGCONT`);
    expect(stateOf(after, mnt)).toBe("up");
    expect(after.findings.filter((f) => f.subject === mnt)).toEqual([]);
    expect(recoveryMs).toBeLessThan(2 * TIMEOUT_MS);
    expect(checker.liveChildren()).toEqual([]);
    for (const pid of seenPids) expect(procState(pid), `pid ${pid}`).not.toBe("Z");
    expect(childrenNamed(["stat", "find"])).toEqual([]);
  }, 60_000);

  it("a probe child stuck in the kernel (D state, survives SIGKILL) is tracked, never stacked, and reaped after the mount answers", async () => {
    const src = path.join(base, "a/src");
    const mnt = path.join(base, "a/mnt");
    const mnt2 = path.join(base, "a/mnt2");
    for (const d of [src, mnt, mnt2]) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(src, "disk.img"), "x");
    const fstab = path.join(base, "a/fstab");
    writeFileSync(fstab, `${mnt} ${mnt2} fuse.bindfs defaults,nofail 0 0\n`);
    const lower = await bindfs(src, mnt);
    await bindfs(mnt, mnt2);
    const checker = new MountChecker({ log });
    const probe = createMountsProbe(checker);
    expect(stateOf((await runOnce(probe, fstab)).report, mnt2)).toBe("up");

    lower.kill("SIGSTOP");
    const meter = await responsiveness();
    const first = await runOnce(probe, fstab);
    expect(first.ms).toBeLessThan(2 * TIMEOUT_MS);
    expect(stateOf(first.report, mnt2)).toBe("hung");
    expect(stateOf(first.report, mnt)).toBe("hung"); // a FUSE mount fstab does not list is looked at too
    await new Promise((r) => setTimeout(r, 200));
    const stuck = checker.liveChildren().filter((c) => c.mountPoint === mnt2);
    expect(stuck).toHaveLength(1);
    expect(stuck[0]!.killedAt).not.toBeNull();
    const stuckPid = stuck[0]!.pid!;
    expect(procState(stuckPid)).toBe("D");

    const perCycle: { ms: number; mnt2Children: number; mntChildren: number }[] = [];
    for (let i = 1; i < CYCLES; i++) {
      const { report, ms } = await runOnce(probe, fstab);
      expect(stateOf(report, mnt2)).toBe("hung");
      expect(report.findings.find((f) => f.code === "NS_MOUNT_HUNG" && f.subject === mnt2)!.message).toContain(`pid ${stuckPid}`);
      const live = checker.liveChildren();
      perCycle.push({ ms, mnt2Children: probeChildrenFor(mnt2).length, mntChildren: probeChildrenFor(mnt).length });
      // The same stuck child, never a second one for mnt2.
      expect(live.filter((c) => c.mountPoint === mnt2).map((c) => c.pid)).toEqual([stuckPid]);
    }
    const r = await meter.stop();
    console.log(`[hung-mount D-state] stuck pid ${stuckPid} in state D; cycles took ${perCycle.map((c) => c.ms.toFixed(0)).join(", ")} ms; ` +
      `probe children per cycle for mnt2 ${perCycle.map((c) => c.mnt2Children).join(",")} and for mnt ${perCycle.map((c) => c.mntChildren).join(",")}; ` +
      `max event-loop delay ${r.maxLagMs.toFixed(1)} ms; max WebSocket RTT ${r.maxRttMs.toFixed(1)} ms`);
    // At most one per mount: the stuck one for mnt2 and the one just killed for mnt.
    expect(perCycle.map((c) => c.mnt2Children)).toEqual(perCycle.map(() => 1));
    expect(Math.max(...perCycle.map((c) => c.mntChildren))).toBeLessThanOrEqual(1);
    expect(r.maxLagMs).toBeLessThan(MAX_LAG_MS);
    expect(r.maxRttMs).toBeLessThan(MAX_LAG_MS);

    const t0 = performance.now();
    lower.kill("SIGCONT");
    await waitFor(`stuck pid ${stuckPid} to exit`, () => procState(stuckPid) === null);
    const reapedMs = performance.now() - t0;
    let after: HealthReport;
    do {
      after = (await runOnce(probe, fstab)).report;
    } while ((stateOf(after, mnt2) !== "up" || stateOf(after, mnt) !== "up") && performance.now() - t0 < 5000);
    const recoveryMs = performance.now() - t0;
    console.log(`[hung-mount D-state] stuck child gone ${reapedMs.toFixed(0)} ms after SIGCONT; both mounts up after ${recoveryMs.toFixed(0)} ms`);
    expect(stateOf(after, mnt2)).toBe("up");
    expect(stateOf(after, mnt)).toBe("up");
    expect(checker.liveChildren()).toEqual([]);
    expect(childrenNamed(["stat", "find"])).toEqual([]);
  }, 60_000);
  it("in the real agent process: the health report says hung, the agent keeps answering pings, children stay one per mount", async () => {
    expect(existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
    const src = path.join(base, "c/src");
    const mnt = path.join(base, "c/mnt");
    mkdirSync(src, { recursive: true });
    mkdirSync(mnt, { recursive: true });
    writeFileSync(path.join(src, "disk.img"), "x");
    const daemon = await bindfs(src, mnt);
    const controller = await controllerStandIn();
    const dirs = tempAgentDir("token-hung-mount");
    // No fstab line needed: the agent looks at every FUSE mount in its mountinfo.
    const agent = new AgentProcess({
      controller: controller.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir,
      env: { NIGHTSHIFT_AGENT_PROBES_MOUNT_TIMEOUT: `${TIMEOUT_MS}ms`, NIGHTSHIFT_AGENT_PROBES_INTERVAL: "1s", NIGHTSHIFT_AGENT_LOG_LEVEL: "info" },
    });
    const waitHealth = async (state: string, after: number, what: string) => {
      await waitFor(what, () => controller.healths.some((h) => h.at > after && stateOf(h.report, mnt) === state), 15_000)
        .catch((err: Error) => { throw new Error(`${err.message}; agent logs:\n${agent.dump()}`); });
      return controller.healths.find((h) => h.at > after && stateOf(h.report, mnt) === state)!;
    };
    try {
      await waitHealth("up", 0, "a health report with the mount up");

      const stoppedAt = performance.now();
      daemon.kill("SIGSTOP");
      const firstHung = await waitHealth("hung", stoppedAt, "a health report with the mount hung");
      expect(firstHung.report.findings.find((f) => f.code === "NS_MOUNT_HUNG" && f.subject === mnt)).toMatchObject({ severity: "critical", probe: "mounts" });
      // Several more probe rounds while it stays hung, watching the agent's children.
      const counts: number[] = [];
      const until = performance.now() + 5_000;
      while (performance.now() < until) {
        counts.push(probeChildrenFor(mnt, agent.pid).length);
        await new Promise((r) => setTimeout(r, 50));
      }
      const hungReports = controller.healths.filter((h) => h.at > stoppedAt && stateOf(h.report, mnt) === "hung").length;
      const during = controller.rtts.filter((r) => r.at > stoppedAt).map((r) => r.ms);

      const contAt = performance.now();
      daemon.kill("SIGCONT");
      const up = await waitHealth("up", contAt, "a health report with the mount up again");
      console.log(`[hung-mount agent] hung in a health report ${(firstHung.at - stoppedAt).toFixed(0)} ms after SIGSTOP ` +
        `(probe interval 1 s ±20 %, timeout ${TIMEOUT_MS} ms); ${hungReports} hung reports; ${during.length} pings during the hang, ` +
        `max pong RTT ${Math.max(...during).toFixed(1)} ms; agent's probe children for the mount, sampled every 50 ms: max ${Math.max(...counts)}; ` +
        `up again in a report ${(up.at - contAt).toFixed(0)} ms after SIGCONT`);
      expect(firstHung.at - stoppedAt).toBeLessThan(1_200 + 2 * TIMEOUT_MS + 500);
      expect(hungReports).toBeGreaterThanOrEqual(3);
      expect(during.length).toBeGreaterThan(100);
      expect(Math.max(...during)).toBeLessThan(MAX_LAG_MS);
      expect(Math.max(...counts)).toBeLessThanOrEqual(1);
      expect(up.report.findings.filter((f) => f.subject === mnt)).toEqual([]);
      await waitFor("no probe children left", () => childrenNamed(["stat", "find"], agent.pid).every((c) => c.state !== "Z"), 2000);
    } finally {
      daemon.kill("SIGCONT");
      await agent.stop();
      await controller.close();
      dirs.cleanup();
    }
  }, 90_000);
});

// If the worker exits without reaching afterAll (a crash), continue any daemon it stopped,
// so its mount does not stay hung for whoever comes next.
process.once("exit", () => {
  for (const d of daemons) {
    if (d.pid === undefined || d.exitCode !== null || d.signalCode !== null) continue;
    try {
      process.kill(d.pid, "SIGCONT");
    } catch {
      // already gone
    }
  }
});
