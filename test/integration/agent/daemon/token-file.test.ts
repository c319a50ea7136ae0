/** An agent token file others can read is used, and the agent's log says so with the fix. */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { ProtocolPeer } from "../../../helpers/protocol-peer.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";

const TOKEN = "test-token-exposed";
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function agentWithTokenMode(mode: number) {
  const peer = await ProtocolPeer.start({ token: TOKEN, heartbeatSeconds: 1 });
  cleanups.push(() => peer.close());
  const dirs = tempAgentDir(TOKEN);
  cleanups.push(() => dirs.cleanup());
  fs.chmodSync(dirs.tokenFile, mode);
  const agent = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir });
  cleanups.push(async () => { await agent.stop(); });
  await agent.waitForLog((l) => l.msg === "connected to the controller", "welcome", 15_000);
  return { agent, tokenFile: dirs.tokenFile };
}

describe("agent token file mode", () => {
  it("0644: connects, and warns once with NS_ERR_FILE_MODE, the file and chmod 600", async () => {
    const { agent, tokenFile } = await agentWithTokenMode(0o644);
    const warnings = agent.logs.filter((l) => l.code === "NS_ERR_FILE_MODE");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain(tokenFile);
    expect(warnings[0]!.msg).toContain("mode 0644");
    expect(warnings[0]!.msg).toContain(`chmod 600 ${tokenFile}`);
  });

  it("0600: no warning", async () => {
    const { agent } = await agentWithTokenMode(0o600);
    expect(agent.logs.filter((l) => l.code === "NS_ERR_FILE_MODE")).toEqual([]);
  });
});
