/**
 * `kill -HUP` (logrotate, an operator's reflex, `systemctl reload`) must not
 * end either daemon: systemd's Restart=on-failure does not bring back a
 * process killed by SIGHUP. The agent reloads its allowlists and probe
 * settings and logs what changed; the controller logs that it reloads nothing.
 */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { startController } from "../../../helpers/controller.js";
import { agentOnController } from "../../../helpers/agent-on-controller.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const HOST = "sighup-host";
// test:///default holds one running domain, "test" (the pre-check's VM check refuses it: not snapshotable, no guest agent).
const VM = "test";

describe("SIGHUP", () => {
  it("the agent keeps running and applies a changed guest-command allowlist; a broken file keeps the old config", async () => {
    const { agent, writeConfig, configFile, runReason } = await agentOnController(HOST, { maintenance: { guestCommands: ["true"] } }, cleanups);
    const skipReason = () => runReason({ vms: [`${HOST}/${VM}`], patch: { exec: "apt-get -y upgrade" }, verify: { exec: "true" } });
    expect(await skipReason()).toMatch(/guest command `apt-get -y upgrade` is not allowed by this agent's config/);

    writeConfig({ maintenance: { guestCommands: ["true", "apt-get -y upgrade"] } });
    agent.kill("SIGHUP");
    const reloaded = await agent.waitForLog((l) => l.msg.startsWith("configuration reloaded"), "reload");
    expect(reloaded.changed).toEqual(["maintenance.guestCommands"]);
    expect(agent.running).toBe(true);
    // Allowed now: the pre-check passes the allowlist and stops at the next check, the VM itself.
    const reason = await skipReason();
    expect(reason).not.toMatch(/not allowed/);
    expect(reason).toMatch(/^pre-check VM: /);

    fs.writeFileSync(configFile, "maintenance: [unclosed\n");
    agent.kill("SIGHUP");
    const refused = await agent.waitForLog((l) => l.msg.startsWith("configuration not reloaded"), "refused reload");
    expect(refused.code).toBe("NS_ERR_CONFIG");
    await new Promise((r) => setTimeout(r, 300));
    expect(agent.running).toBe(true);
    expect(await skipReason()).not.toMatch(/not allowed/);
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
