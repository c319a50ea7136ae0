/**
 * libvirt does not replay the events of a time nobody listened: while the
 * agent itself is down, what happened to the VMs is unknown. The history must
 * say so when the agent starts again ("down from A to B"), whether it was
 * killed or stopped, and say it once, across reconnects.
 */
import { pollFor } from "../../../helpers/poll.js";
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { startController, type TestController } from "../../../helpers/controller.js";
import { controllerApi } from "../../../helpers/controller-api.js";
import { AGENT_BIN } from "../../../helpers/run.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface EventInfo { kind: string; event: string | null; time: string; receivedAt: string; data: Record<string, unknown> | null }

async function setup(host: string) {
  expect(fs.existsSync(AGENT_BIN), `${AGENT_BIN} missing: run npm run build`).toBe(true);
  const controller: TestController = await startController();
  cleanups.push(() => controller.stop());
  const { ok } = controllerApi(() => controller);
  const { token } = await ok<{ token: string }>("POST", "/v1/hosts", { name: host }, 201);
  const dirs = tempAgentDir(token);
  cleanups.push(() => dirs.cleanup());
  const start = () => {
    const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir,
      env: { NIGHTSHIFT_AGENT_HOST: host } });
    cleanups.push(() => { void agent.stop(); });
    return agent;
  };
  const downtimes = async () => (await ok<EventInfo[]>("GET", `/v1/events?host=${host}`))
    .filter((e) => e.kind === "host" && e.event === "agent-down");
  const welcomed = (agent: AgentProcess) => agent.waitForLog((l) => l.msg === "connected to the controller", "welcome", 15_000);
  return { start, downtimes, welcomed };
}


describe("agent downtime in the history", () => {
  it("an agent SIGKILLed and started again records the gap once, from its last sign of life to its start", async () => {
    const { start, downtimes, welcomed } = await setup("downtime-kill");
    const first = start();
    await welcomed(first);
    expect(await downtimes()).toEqual([]);
    const killAskedAt = Date.now();
    first.kill("SIGKILL");
    await first.exited;
    // The marker may be written between the clock read above and the signal's delivery: the
    // upper bound is the moment the process is known dead.
    const deadAt = Date.now();
    await new Promise((r) => setTimeout(r, 1_500));
    const restartedAt = Date.now();
    const second = start();
    await welcomed(second);
    const [gap] = await pollFor(async () => { const d = await downtimes(); return d.length > 0 ? d : null; }, "agent-down recorded");
    const data = gap!.data as { downAt: string; upAt: string; clean: boolean; eventsUnknown: boolean };
    expect(data.clean).toBe(false);
    expect(data.eventsUnknown).toBe(true);
    // The last sign of life is at most one marker interval (10 s) before the kill.
    expect(Date.parse(data.downAt)).toBeLessThanOrEqual(deadAt);
    expect(Date.parse(data.downAt)).toBeGreaterThan(killAskedAt - 11_000);
    expect(Date.parse(data.upAt)).toBeGreaterThanOrEqual(restartedAt - 50);
    expect(Date.parse(data.upAt)).toBeLessThan(Date.now());

    // A reconnect of the same process does not record it again.
    await second.stop();
    const third = start();
    await welcomed(third);
    const all = await pollFor(async () => { const d = await downtimes(); return d.length >= 2 ? d : null; }, "second gap recorded");
    await new Promise((r) => setTimeout(r, 500));
    expect((await downtimes()).length).toBe(2);
    const clean = all[1]!.data as { clean: boolean; downAt: string };
    // Stopped with SIGTERM: the marker was written at the stop, so the gap starts there.
    expect(clean.clean).toBe(true);
  }, 60_000);

  it("a first start (no earlier run in the state directory) records no gap", async () => {
    const { start, downtimes, welcomed } = await setup("downtime-first");
    const agent = start();
    await welcomed(agent);
    await new Promise((r) => setTimeout(r, 500));
    expect(await downtimes()).toEqual([]);
  }, 30_000);
});
