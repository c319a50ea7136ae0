/**
 * The agent's configuration as an operator meets it: a real `nightshift-agent
 * run` with a misspelt or renamed key does not start and says which key in
 * which file (an allowlist under a misspelt key would otherwise be silently
 * empty); `nightshift-agent check-config` prints what it would run with, or
 * every problem, and what it prints is a configuration the agent runs with.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { AGENT_BIN } from "../../../helpers/run.js";
import { ProtocolPeer } from "../../../helpers/protocol-peer.js";
import { AgentProcess, tempAgentDir } from "./agent-process.js";

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-agent-config-")); });
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The binary with only the variables given among NIGHTSHIFT_AGENT_*. */
function agent(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NIGHTSHIFT_AGENT_")));
  const result = spawnSync(process.execPath, [AGENT_BIN, ...args], { encoding: "utf8", timeout: 15_000, env: { ...clean, ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

describe("an agent started with a misspelt key", () => {
  it("exits 1 at start, naming the key, the file and line, and the key it was meant to be", () => {
    const config = file("agent.yaml", [
      "controller: ws://127.0.0.1:1/v1/agent",
      "maintenence:",
      "  guestCommands: [\"systemctl restart nginx\"]",
      "",
    ].join("\n"));
    const stateDir = path.join(dir, "state");
    const result = agent(["run", "--config", config, "--state-dir", stateDir, "--token-file", path.join(dir, "agent.token")]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(`nightshift-agent: invalid configuration (file ${config}, flags):\n` +
      `  ${config}:2: maintenence: unknown key "maintenence" (did you mean maintenance?); known keys: controller, tokenFile, host, ` +
      "libvirt, stateDir, heartbeat, reconnect, spool, tls, probes, netconsole, maintenance, log\n" +
      "Keys, defaults and variables: docs/configuration.md; nightshift-agent check-config prints the effective configuration (NS_ERR_CONFIG)\n");
    // Refused before anything: no spool, no alive marker.
    expect(fs.existsSync(stateDir)).toBe(false);
  });

  it("a misspelt key inside a section, an old key name and an old variable are each named with the fix", () => {
    const config = file("agent.yaml", "maintenance:\n  guestComands: [uptime]\nprobes:\n  intervalSeconds: 300\n");
    const result = agent(["run", "--config", config, "--controller", "ws://127.0.0.1:1/v1/agent"], { NIGHTSHIFT_AGENT_HEARTBEAT_SECONDS: "1" });
    expect(result.status).toBe(1);
    expect(result.stderr.split("\n").slice(1, 4)).toEqual([
      "  NIGHTSHIFT_AGENT_HEARTBEAT_SECONDS: renamed NIGHTSHIFT_AGENT_HEARTBEAT (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): " +
        "write NIGHTSHIFT_AGENT_HEARTBEAT=1s",
      `  ${config}:2: maintenance.guestComands: unknown key "guestComands" (did you mean guestCommands?); ` +
        "known keys: guestCommands, allowAnyGuestCommand, hooks, maxRunningSteps, maxQueuedSteps, group, roles, slotLength",
      `  ${config}:4: probes.intervalSeconds: renamed interval (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write interval: 5m`,
    ]);
  });
});

describe("nightshift-agent check-config", () => {
  it("prints the effective configuration: defaults, the file, variables and flags", () => {
    const config = file("agent.yaml", "controller: wss://ctl:8650/v1/agent\nprobes:\n  mountTimeout: 1500ms\nmaintenance:\n  group: ops\n  slotLength: 45m\n");
    const result = agent(["check-config", "--config", config, "--uri", "test:///default"], { NIGHTSHIFT_AGENT_HEARTBEAT: "1s" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(parseYaml(result.stdout)).toMatchObject({
      controller: "wss://ctl:8650/v1/agent", tokenFile: "/etc/nightshift/agent.token", libvirt: { uri: "test:///default" },
      heartbeat: "1s", reconnect: { initialDelay: "500ms", maxDelay: "30s" },
      probes: { interval: "5m", probeTimeout: "10s", mountTimeout: "1500ms", maxVmUptime: "90d" },
      maintenance: { group: "ops", slotLength: "45m", guestCommands: [], allowAnyGuestCommand: false, hooks: [] },
    });
  });

  it("exits 1 with every problem, and with the missing controller named with its flag", () => {
    const config = file("agent.yaml", "heartbeat: 15\nreconnect: {maxDelay: forever}\n");
    const result = agent(["check-config", "--config", config]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr.split("\n").slice(1, 4)).toEqual([
      "  controller (--controller or NIGHTSHIFT_AGENT_CONTROLLER): missing",
      `  ${config}:1: heartbeat: expected a duration like 90s, 15m, 1h, 3d (text with a unit), got number 15`,
      `  ${config}:2: reconnect.maxDelay: expected a duration like 90s, 15m, 1h, 3d, got "forever"`,
    ]);
  });

  it("what it prints is a configuration the agent runs with", async () => {
    const TOKEN = "test-token-check-config";
    const peer = await ProtocolPeer.start({ token: TOKEN, heartbeatSeconds: 1 });
    cleanups.push(() => peer.close());
    const dirs = tempAgentDir(TOKEN);
    cleanups.push(() => dirs.cleanup());
    const source = file("agent.yaml", `controller: ${peer.url}\ntokenFile: ${dirs.tokenFile}\nstateDir: ${dirs.stateDir}\n` +
      "libvirt: {uri: \"test:///default\"}\nmaintenance: {guestCommands: [uptime]}\n");
    const printed = agent(["check-config", "--config", source]);
    expect(printed.status).toBe(0);
    const effective = file("effective.yaml", printed.stdout);
    const running = new AgentProcess({ controller: peer.url, tokenFile: dirs.tokenFile, stateDir: dirs.stateDir, args: ["--config", effective] });
    cleanups.push(async () => { await running.stop(); });
    await running.waitForLog((l) => l.msg === "connected to the controller", "welcome", 15_000);
  });
});
