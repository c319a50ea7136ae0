/**
 * A real controller process with one enrolled host and a real agent process
 * for it (libvirt's test:///default through the daemon), its YAML config
 * written to a file the test may rewrite; resolves once the agent was
 * welcomed and its inventory stored. `cleanups` gets what to undo, in order.
 */
import fs from "node:fs";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import { startController, type StartControllerOptions, type TestController } from "./controller.js";
import { controllerApi } from "./controller-api.js";
import { pollFor } from "./poll.js";
import type { RunDetail, RunSpecInput } from "../../shared/runs.js";
import { AgentProcess, tempAgentDir } from "../integration/agent/daemon/agent-process.js";

export interface AgentOnController {
  controller: TestController;
  agent: AgentProcess;
  api: ReturnType<typeof controllerApi>;
  configFile: string;
  /** Rewrites the agent's config file (host included); the agent reads it at its next start or SIGHUP. */
  writeConfig(config: Record<string, unknown>): void;
  /** Starts a run and waits for it to finish; the first VM's outcome reason. */
  runReason(spec: RunSpecInput): Promise<string>;
}

export async function agentOnController(host: string, agentConfig: Record<string, unknown>,
  cleanups: (() => Promise<void> | void)[], controllerOptions: StartControllerOptions = { config: { agents: { heartbeat: "1s" } } }): Promise<AgentOnController> {
  const controller = await startController(controllerOptions);
  cleanups.push(() => controller.stop());
  const api = controllerApi(() => controller);
  const { token } = await api.ok<{ token: string }>("POST", "/v1/hosts", { name: host }, 201);
  const dirs = tempAgentDir(token);
  cleanups.push(() => dirs.cleanup());
  const configFile = path.join(dirs.dir, "agent.yaml");
  const writeConfig = (config: Record<string, unknown>) => fs.writeFileSync(configFile, toYaml({ host, ...config }));
  writeConfig(agentConfig);
  const agent = new AgentProcess({ controller: controller.agentUrl, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, args: ["--config", configFile] });
  cleanups.push(async () => { await agent.stop(); });
  await agent.waitForLog((l) => l.msg === "connected to the controller", "welcome", 15_000);
  await pollFor(async () => ((await api.ok<unknown[]>("GET", "/v1/vms")).length > 0 ? true : null), "the agent's inventory stored", 5_000);
  const runReason = async (spec: RunSpecInput): Promise<string> => {
    const { run } = await api.ok<{ run: RunDetail }>("POST", "/v1/runs", { spec }, 201);
    const done = await pollFor(async () => {
      const detail = await api.ok<RunDetail>("GET", `/v1/runs/${run.id}`);
      return detail.state === "finished" ? detail : null;
    }, `run ${run.id} finished`);
    return done.vms[0]!.reason ?? "";
  };
  return { controller, agent, api, configFile, writeConfig, runReason };
}
