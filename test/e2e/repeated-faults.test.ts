/**
 * One maintenance run on a real guest while the controller is SIGKILLed again
 * and again: the controller and the agent as processes, one QEMU guest, an
 * internal snapshot with memory, a patch run in the guest by qemu-ga, a
 * reboot after it.
 *
 * The patch appends a line to /data/patch-count first, then takes a few
 * seconds, then writes v2 to /data/version. The controller is killed at
 * moments a seeded PRNG picks (NIGHTSHIFT_FAULT_SEED overrides the seed; the
 * schedule is printed), several times within the patch step, and restarted on
 * the same data directory and port each time. The agent stays up throughout.
 *
 * What must hold: the recorded outcome is the guest's real state (succeeded:
 * v2, one patch line, verify passes, a new boot; rolled back: v1 and no patch
 * line), the patch and the reboot ran at most once (the guest's count file and
 * the agent's log of step executions), and since the agent always had their
 * executions to answer from, nothing justified a rollback: the VM succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LibvirtConnection } from "../../agent/libvirt/connection.js";
import type { DomainRef } from "../../agent/libvirt/remote-types.js";
import { waitForGuestAgent } from "../../agent/maintenance/agent-ping.js";
import { ensureGuestBuilt, guestDomainXml, prepareGuestDisk } from "../helpers/guest.js";
import { testPrefix } from "../helpers/libvirt.js";
import { startController, type TestController } from "../helpers/controller.js";
import { controllerApi } from "../helpers/controller-api.js";
import { random } from "../helpers/fleet.js";
import { e2eLogs, guestShell, removeGuests, startE2eAgent, writeAgentConfig } from "../helpers/e2e-guests.js";
import { tempAgentDir, type AgentProcess } from "../integration/agent/daemon/agent-process.js";
import { runAgainst } from "../integration/cli/run-cli.js";
import type { EvidenceRecord, RunDetail } from "../../shared/runs.js";

const SEED = Number(process.env.NIGHTSHIFT_FAULT_SEED ?? 20261203);
const prefix = testPrefix("faults");
const hostName = `faults-${randomBytes(3).toString("hex")}`;
const GUEST = `${prefix}a`;
const PATCH_SECONDS = 10;
const PATCH = `echo started >> /data/patch-count && sync && sleep ${PATCH_SECONDS} && echo v2 > /data/version && sync`;
const VERIFY = "cat /data/health";
/** At most this many kills; fewer if the run finishes first. */
const MAX_KILLS = 14;
const CONTROLLER_CONFIG = {
  agents: { heartbeat: "1s" },
  // Long enough that no restart makes a step give up on the agent: that is another test's subject.
  runs: { agentLostTimeout: "60s" },
  retention: { schedule: "0 0 1 1 *" },
};

let conn: LibvirtConnection;
let controller: TestController;
let agent: AgentProcess;
let agentDir: ReturnType<typeof tempAgentDir>;
let dataDir: string;
let dom: DomainRef;

const guestSh = (command: string) => guestShell(conn, dom, command);
const { api } = controllerApi(() => controller);

async function runState(id: string): Promise<RunDetail | null> {
  const { status, json } = await api<RunDetail>("GET", `/v1/runs/${id}`).catch(() => ({ status: 0, json: null }));
  return status === 200 ? json : null;
}

beforeAll(async () => {
  const artifacts = await ensureGuestBuilt();
  conn = await LibvirtConnection.open({ uri: "qemu:///system" });
  const diskPath = await prepareGuestDisk(GUEST, artifacts);
  dom = await conn.domainCreate(await conn.domainDefineXML(guestDomainXml({ name: GUEST, kernel: artifacts.kernel,
    initrd: artifacts.initrd, diskPath })));
  await waitForGuestAgent(conn, dom, { timeoutMs: 30_000, intervalMs: 250 });
  await guestSh("echo ok > /data/health && rm -f /data/patch-count && sync");

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-faults-controller-"));
  controller = await startController({ dataDir, config: CONTROLLER_CONFIG });
  const enrolled = await runAgainst(controller, ["hosts", "enroll", hostName]);
  expect(enrolled.code).toBe(0);
  agentDir = tempAgentDir(enrolled.stdout.trim());
  const agentConfig = path.join(agentDir.dir, "agent.yaml");
  writeAgentConfig(agentConfig, [PATCH, VERIFY]);
  agent = startE2eAgent(controller, agentDir, hostName, agentConfig);
  await agent.waitForLibvirt();
  for (let i = 0; ; i++) {
    const { json: vms } = await api<{ name: string }[]>("GET", "/v1/vms");
    if (vms.some((v) => v.name === GUEST)) break;
    if (i > 200) throw new Error(`the agent's inventory never arrived\n${agent.dump().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await controller?.stop();
  await removeGuests(conn, prefix, [GUEST]);
  agentDir?.cleanup();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("a maintenance run while the controller is killed again and again", () => {
  it(`the outcome matches the guest and the patch runs once (seed ${SEED})`, { timeout: 150_000 }, async () => {
    const rnd = random(SEED);
    const bootId = await guestSh("cat /proc/sys/kernel/random/boot_id");
    const t0 = Date.now();
    const { status, json } = await api<{ run: RunDetail }>("POST", "/v1/runs", { spec: { vms: [GUEST], patch: { exec: PATCH },
      reboot: "always", verify: { exec: VERIFY, output: "ok" }, patchTimeout: "2m" } });
    expect(status).toBe(201);
    const runId = json.run.id;

    const kills: { atMs: number; phase: string }[] = [];
    let done: RunDetail | null = null;
    while (!done) {
      const waitMs = kills.length < MAX_KILLS ? Math.round(100 + rnd() * 1_900) : 120_000;
      const until = Date.now() + waitMs;
      while (Date.now() < until) {
        const run = await runState(runId);
        if (run?.state === "finished") {
          done = run;
          break;
        }
        if (Date.now() - t0 > 120_000) throw new Error(`run not finished after ${kills.length} kills\n${await e2eLogs(agent, controller, [GUEST])}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      if (done) break;
      const phase = (await runState(runId))?.vms[0]?.phase ?? "?";
      controller.process.kill("SIGKILL");
      await new Promise((r) => controller.process.once("exit", r));
      kills.push({ atMs: Date.now() - t0, phase });
      controller = await startController({ dataDir, port: controller.port, config: CONTROLLER_CONFIG });
    }
    const durationMs = Date.now() - t0;
    console.log(`seed ${SEED}: ${kills.length} kills (${kills.map((k) => `${k.atMs} ms in ${k.phase}`).join(", ")}); ` +
      `run ${done.vms[0]!.outcome} after ${durationMs} ms`);

    const { json: evidence } = await api<EvidenceRecord[]>("GET", `/v1/runs/${runId}/evidence`);
    // Each restart re-examined the VM in the phase the store had for it when the controller died.
    const resumedIn = evidence.filter((e) => e.step === "resume" && e.vm === GUEST).map((e) => /in phase (\w+)/.exec(e.output)?.[1]);
    // The run was asked to resume at least twice within the one patch step.
    expect(resumedIn.filter((p) => p === "patch").length, `resumed in: ${resumedIn.join(", ")}`).toBeGreaterThanOrEqual(2);

    // The record and the guest agree.
    const outcome = done.vms[0]!.outcome;
    const version = await guestSh("cat /data/version");
    const patchLines = Number(await guestSh("cat /data/patch-count 2>/dev/null | wc -l"));
    console.log(`guest: /data/version ${version}, /data/patch-count ${patchLines} line(s)`);
    if (outcome === "succeeded") {
      expect([version, patchLines]).toEqual(["v2", 1]);
      expect(await guestSh(VERIFY)).toBe("ok");
      expect(await guestSh("cat /proc/sys/kernel/random/boot_id")).not.toBe(bootId);
    } else if (outcome === "rolled-back") {
      expect([version, patchLines]).toEqual(["v1", 0]);
    } else {
      throw new Error(`outcome ${outcome} (${done.vms[0]!.reason}): the guest is neither patched nor known to be original`);
    }

    // The patch and the reboot ran at most once: one execution each in the agent, each asked for under one id.
    for (const phase of ["patch", "reboot"]) {
      const ofPhase = (l: Record<string, unknown>) => String(l.stepId ?? "").includes(`:${phase}:`);
      const executions = agent.logs.filter((l) => l.msg === "step started" && ofPhase(l) && (phase === "patch" || l.kind === "reboot"));
      console.log(`${phase} executions in the agent: ${executions.length}`);
      expect(executions.length, phase).toBeLessThanOrEqual(1);
      const askedIds = new Set(agent.logs.filter((l) => ofPhase(l) && (phase === "patch" || l.kind === "reboot")).map((l) => l.stepId));
      expect(askedIds.size, `${phase} step ids: ${[...askedIds].join(", ")}`).toBeLessThanOrEqual(1);
    }

    // The agent never restarted: it could always answer for the patch, so nothing called for a rollback.
    expect(done.vms[0]!.reason).toBeNull();
    expect(outcome).toBe("succeeded");
    expect(evidence.filter((e) => e.step === "rollback")).toEqual([]);
  });
});
