/**
 * `kill -HUP` (logrotate, an operator's reflex, `systemctl reload`) must not
 * end either daemon: systemd's Restart=on-failure does not bring back a
 * process killed by SIGHUP. The agent reloads its allowlists and probe
 * settings and logs what changed; the controller logs that it reloads nothing.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import { startController, type TestController } from "../../../helpers/controller.js";
import { controllerApi } from "../../../helpers/controller-api.js";
import type { RunDetail } from "../../../../shared/runs.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const HOST = "sighup-host";
// test:///default holds one running domain, "test" (the pre-check's VM check refuses it: not snapshotable, no guest agent).
const VM = "test";

describe("SIGHUP", () => {
  it("the agent keeps running and applies a changed guest-command allowlist; a broken file keeps the old config", async () => {
    const controller: TestController = await startController({ config: { agents: { heartbeat: "1s" } } });
    cleanups.push(() => controller.stop());
    const { ok } = controllerApi(() => controller);
    const { token } = await ok<{ token: string }>("POST", "/v1/hosts", { name: HOST }, 201);
    const dirs = tempAgentDir(token);
    cleanups.push(() => dirs.cleanup());
    const configFile = path.join(dirs.dir, "agent.yaml");
    const writeConfig = (guestCommands: string[]) =>
      fs.writeFileSync(configFile, toYaml({ host: HOST, maintenance: { guestCommands } }));
    writeConfig(["true"]);
    const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir,
      args: ["--config", configFile] });
    cleanups.push(() => { void agent.stop(); });
    await agent.waitForLog((l) => l.msg === "connected to the controller", "welcome", 15_000);
    for (let i = 0; i < 100 && (await ok<{ name: string }[]>("GET", "/v1/vms")).length === 0; i++) await new Promise((r) => setTimeout(r, 50));

    const skipReason = async (): Promise<string> => {
      const { run } = await ok<{ run: RunDetail }>("POST", "/v1/runs",
        { spec: { vms: [`${HOST}/${VM}`], patch: { exec: "apt-get -y upgrade" }, verify: { exec: "true" } } }, 201);
      for (let i = 0; i < 200; i++) {
        const detail = await ok<RunDetail>("GET", `/v1/runs/${run.id}`);
        if (detail.state === "finished") return detail.vms[0]!.reason ?? "";
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("run did not finish");
    };
    expect(await skipReason()).toMatch(/does not allow guest command "apt-get -y upgrade"/);

    writeConfig(["true", "apt-get -y upgrade"]);
    agent.kill("SIGHUP");
    const reloaded = await agent.waitForLog((l) => l.msg.startsWith("configuration reloaded"), "reload");
    expect(reloaded.changed).toEqual(["maintenance.guestCommands"]);
    expect(agent.running).toBe(true);
    // Allowed now: the pre-check passes the allowlist and stops at the next check, the VM itself.
    const reason = await skipReason();
    expect(reason).not.toMatch(/does not allow/);
    expect(reason).toMatch(/^pre-check VM: /);

    fs.writeFileSync(configFile, "maintenance: [unclosed\n");
    agent.kill("SIGHUP");
    const refused = await agent.waitForLog((l) => l.msg.startsWith("configuration not reloaded"), "refused reload");
    expect(refused.code).toBe("NS_ERR_CONFIG");
    await new Promise((r) => setTimeout(r, 300));
    expect(agent.running).toBe(true);
    expect(await skipReason()).not.toMatch(/does not allow/);
  }, 60_000);

  it("the controller keeps running and says it reloads nothing", async () => {
    const controller = await startController();
    cleanups.push(() => controller.stop());
    controller.process.kill("SIGHUP");
    const deadline = Date.now() + 5_000;
    while (!controller.logs().includes("SIGHUP") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(controller.logs()).toMatch(/SIGHUP.*restart/);
    expect(controller.process.exitCode).toBeNull();
    expect((await fetch(`${controller.url}/readyz`)).status).toBe(200);
  }, 30_000);
});
