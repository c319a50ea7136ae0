/**
 * A damaged /etc/fstab must reach the controller as findings, not as a
 * connection that flaps: `nightshift-agent run` as a process, pointed at a
 * 10 MB fstab of random bytes (probes.fstab), against a real controller
 * process. The health report must be stored (visible in GET /v1/findings),
 * and the agent must stay on its one connection (the controller closes
 * frames above 4 MiB with 1009, and the agent would reconnect and resend).
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_MESSAGE_BYTES } from "../../../../shared/protocol/messages.js";
import { startController, type TestController } from "../../../helpers/controller.js";
import { controllerApi } from "../../../helpers/controller-api.js";
import { garbageBytes, writeFstab } from "../../../helpers/fstab-files.js";
import { AgentProcess, tempAgentDir, type LogLine } from "./agent-process.js";

interface FindingJson { code: string; severity: string; subject: string; message: string; remedy: string; probe: string }

let controller: TestController;
const cleanups: (() => Promise<unknown> | void)[] = [];
const api = controllerApi(() => controller);

beforeAll(async () => {
  controller = await startController({ config: { agents: { heartbeat: "1s" } } });
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await controller?.stop();
});

/** A host of its own (enrolled, token file, state directory) with an agent reading `fstab` (written into its directory). */
async function startAgent(name: string, content: string | Buffer): Promise<{ agent: AgentProcess; host: string; fstab: string }> {
  const host = `nstest-fstab-${randomBytes(3).toString("hex")}`;
  const { token } = await api.ok<{ token: string }>("POST", "/v1/hosts", { name: host }, 201);
  const dirs = tempAgentDir(token);
  cleanups.push(() => dirs.cleanup());
  const fstab = writeFstab(dirs.dir, name, content);
  const agent = new AgentProcess({
    controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir,
    env: { NIGHTSHIFT_AGENT_HOST: host, NIGHTSHIFT_AGENT_PROBES_FSTAB: fstab, NIGHTSHIFT_AGENT_LOG_LEVEL: "info" },
  });
  cleanups.push(() => agent.stop());
  return { agent, host, fstab };
}

const connects = (agent: AgentProcess) => agent.logs.filter((l) => l.msg === "connected to the controller").length;
const closes = (agent: AgentProcess) => agent.logs.filter((l) => typeof l.closeCode === "number");

async function storedFindings(agent: AgentProcess, host: string, timeoutMs: number): Promise<FindingJson[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const findings = await api.ok<FindingJson[]>("GET", `/v1/findings?host=${host}`);
    if (findings.some((f) => f.probe === "fstab")) return findings;
    if (Date.now() > deadline) {
      const codes = closes(agent).map((l) => l.closeCode);
      throw new Error(`no fstab findings stored for ${host} within ${timeoutMs} ms: ${connects(agent)} connections, closed with ${JSON.stringify(codes)}; ` +
        `the agent's reports: ${JSON.stringify(agent.logs.filter((l) => l.msg === "host health probed"))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("health report of a host with a damaged fstab", { timeout: 90_000 }, () => {
  it("a 10 MB fstab of random bytes is stored as a bounded set of findings, on one connection that stays up", async () => {
    const { agent, host, fstab } = await startAgent("fstab-garbage", garbageBytes(10 * 1024 * 1024, 5));
    const started = Date.now();
    const findings = await storedFindings(agent, host, 30_000);
    const storedMs = Date.now() - started;
    // Stay a while: a report the controller refuses shows as close 1009 and a reconnect within a second.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const report = agent.logs.find((l): l is LogLine & { findings: number; bytes: number } => l.msg === "host health probed");
    console.log(`10 MB garbage fstab: stored after ${storedMs} ms; ${findings.length} findings stored ` +
      `(${findings.filter((f) => f.probe === "fstab").length} fstab); report ${report?.bytes} bytes; ` +
      `${connects(agent)} connection(s), closes ${JSON.stringify(closes(agent).map((l) => l.closeCode))} in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    expect(closes(agent)).toEqual([]);
    expect(connects(agent)).toBe(1);
    expect(report?.sent).toBe(true);
    expect(report!.bytes).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);

    const fstabFindings = findings.filter((f) => f.probe === "fstab");
    const tooLarge = fstabFindings.find((f) => f.code === "NS_FSTAB_TOO_LARGE");
    expect(tooLarge).toMatchObject({ severity: "critical", subject: "fstab" });
    expect(tooLarge!.message).toContain(`${fstab} is 10485760 bytes`);
    const unparseable = fstabFindings.filter((f) => f.code === "NS_FSTAB_UNPARSEABLE");
    const summary = unparseable.find((f) => f.subject === "more lines");
    expect(summary?.message).toMatch(/^\d+ unparseable lines, first at line \d+;/);
    // One by one up to the cap, then the summary: per code at most 21.
    const perCode = new Map<string, number>();
    for (const f of fstabFindings) perCode.set(f.code, (perCode.get(f.code) ?? 0) + 1);
    for (const [code, n] of perCode) expect(n, code).toBeLessThanOrEqual(21);
    expect(controller.logs()).toContain("health report stored");
  });

  it("a report still too large after the probes' caps (65,000 mount facts) is cut by the agent to fit, and says so", async () => {
    // Within the read bound: 65,000 short lines, each a mount point of its own, none mounted.
    const lines = Array.from({ length: 65_000 }, (_, i) => `a /m/${String(i).padStart(5, "0")} ext4\n`).join("");
    const { agent, host } = await startAgent("fstab-many-mount-points", lines);
    const started = Date.now();
    const findings = await storedFindings(agent, host, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const report = agent.logs.find((l): l is LogLine & { findings: number; bytes: number } => l.msg === "host health probed");
    const cut = agent.logs.find((l) => l.msg.startsWith("the health report did not fit the protocol"));
    const droppedMounts = (cut?.droppedFacts as { mounts?: number } | undefined)?.mounts;
    console.log(`65,000 mount points: stored after ${Date.now() - started} ms; report ${report?.bytes} bytes (${String(cut?.originalBytes)} before the cut, ` +
      `${String(droppedMounts)} mount facts dropped); ${connects(agent)} connection(s), closes ${JSON.stringify(closes(agent).map((l) => l.closeCode))}`);

    expect(closes(agent)).toEqual([]);
    expect(connects(agent)).toBe(1);
    expect(report!.bytes).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(cut).toMatchObject({ droppedFindings: 0 });
    // Above the frame limit as it came; cut to the schema's 10,000 mount facts, which fit.
    expect(cut!.originalBytes).toBeGreaterThan(MAX_MESSAGE_BYTES);
    expect(droppedMounts).toBe(55_000);
    const notice = findings.find((f) => f.code === "NS_HEALTH_REPORT_TRUNCATED");
    expect(notice).toMatchObject({ severity: "warning", subject: "health report", probe: "health-report" });
    expect(notice!.message).toContain(`${String(droppedMounts)} of 65000 mount facts`);
    // The findings themselves all arrived: the mounts probe's, capped per code, among them.
    expect(findings.filter((f) => f.code === "NS_MOUNT_NOT_MOUNTED")).toHaveLength(21);
  });
});
