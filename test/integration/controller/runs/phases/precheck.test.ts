/**
 * A pre-check the agent refuses tells the operator the agent's own reason
 * (a hook file that is group-writable needs `chmod go-w`, not another line in
 * the config). Real controller and agent processes; test:///default.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import { startController } from "../../../../helpers/controller.js";
import { controllerApi } from "../../../../helpers/controller-api.js";
import type { RunDetail } from "../../../../../shared/runs.js";
import { AgentProcess, tempAgentDir } from "../../../agent/daemon/agent-process.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const HOST = "precheck-host";

async function skipReasonFor(patch: Record<string, string>, maintenance: Record<string, unknown>): Promise<string> {
  const controller = await startController({ config: { agents: { heartbeatSeconds: 1 } } });
  cleanups.push(() => controller.stop());
  const { ok } = controllerApi(() => controller);
  const { token } = await ok<{ token: string }>("POST", "/v1/hosts", { name: HOST }, 201);
  const dirs = tempAgentDir(token);
  cleanups.push(() => dirs.cleanup());
  const configFile = path.join(dirs.dir, "agent.yaml");
  fs.writeFileSync(configFile, toYaml({ host: HOST, maintenance }));
  const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, args: ["--config", configFile] });
  cleanups.push(async () => { await agent.stop(); });
  await agent.waitForLog((l) => l.msg === "connected to the controller", "welcome", 15_000);
  for (let i = 0; i < 100 && (await ok<unknown[]>("GET", "/v1/vms")).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  const { run } = await ok<{ run: RunDetail }>("POST", "/v1/runs", { spec: { vms: [`${HOST}/test`], patch, verify: { exec: "true" } } }, 201);
  for (let i = 0; i < 200; i++) {
    const detail = await ok<RunDetail>("GET", `/v1/runs/${run.id}`);
    if (detail.state === "finished") return detail.vms[0]!.reason ?? "";
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("run did not finish");
}

describe("pre-check refusals carry the agent's reason", () => {
  it("a listed hook that is group-writable: the reason says chmod go-w, not 'add it to the config'", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ns-precheck-hook-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.chmodSync(dir, 0o755);
    const hook = path.join(dir, "patch-vm");
    fs.writeFileSync(hook, "#!/bin/sh\nexit 0\n");
    fs.chmodSync(hook, 0o775);
    const reason = await skipReasonFor({ hook }, { hooks: [hook], guestCommands: ["true"] });
    expect(reason).toMatch(/group- or world-writable/);
    expect(reason).toMatch(/chmod go-w/);
    expect(reason).not.toMatch(/add them to its config/);
  }, 60_000);

  it("a guest command that is not listed: the reason names maintenance.guestCommands", async () => {
    const reason = await skipReasonFor({ exec: "apt-get -y upgrade" }, { guestCommands: ["true"] });
    expect(reason).toMatch(/guest command `apt-get -y upgrade` is not allowed by this agent's config/);
    expect(reason).toMatch(/maintenance\.guestCommands/);
  }, 60_000);
});
