/**
 * An agent that cannot reach its controller says why and what to change,
 * as the CLI does: a wrong path, the wrong scheme, nothing listening.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startController, type TestController } from "../../../helpers/controller.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";

let controller: TestController;
const dirs = tempAgentDir("nsh_not-a-real-token");

beforeAll(async () => {
  controller = await startController();
});

afterAll(async () => {
  await controller.stop();
  dirs.cleanup();
});

async function firstFailure(url: string): Promise<string> {
  const agent = new AgentProcess({ controller: url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir });
  try {
    const line = await agent.waitForLog((l) => l.code === "NS_ERR_CONTROLLER_UNREACHABLE" || l.code === "NS_ERR_CONTROLLER_REJECTED",
      "a failed connection attempt", 15_000);
    return line.msg;
  } finally {
    await agent.stop();
  }
}

describe("agent link errors", () => {
  it("a wrong path: HTTP 404 with the agent endpoint's path", async () => {
    const msg = await firstFailure(`${controller.agentUrl.replace("/v1/agent", "/v1/agents")}`);
    expect(msg).toContain("HTTP 404");
    expect(msg).toContain("/v1/agent");
    expect(msg).toMatch(/set controller to ws:\/\/127\.0\.0\.1:\d+\/v1\/agent/);
  }, 30_000);

  it("wss:// to a controller without TLS: says it does not speak TLS and to use ws://", async () => {
    const msg = await firstFailure(controller.agentUrl.replace(/^ws:/, "wss:"));
    expect(msg).toMatch(/does not speak TLS/);
    expect(msg).toContain("ws://");
    expect(msg).not.toMatch(/wrong version number/i);
  }, 30_000);

  it("nothing listening: connection refused, is the controller running", async () => {
    const msg = await firstFailure("ws://127.0.0.1:9/v1/agent");
    expect(msg).toMatch(/connection refused \(is nightshift-controller running and listening there\?\)/);
  }, 30_000);
});
