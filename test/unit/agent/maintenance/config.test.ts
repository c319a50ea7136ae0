import { describe, expect, it } from "vitest";
import { configKeys, loadConfig } from "../../../../shared/config.js";
import { AGENT_ENV_PREFIX, AgentConfigSchema } from "../../../../agent/config.js";

const base = { NIGHTSHIFT_AGENT_CONTROLLER: "wss://ctl:8650/v1/agent" };

describe("agent config: maintenance", () => {
  it("allows nothing by default", () => {
    const config = loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, env: base });
    expect(config.maintenance).toEqual({ guestCommands: [], allowAnyGuestCommand: false, hooks: [], maxRunningSteps: 1_000, maxQueuedSteps: 4_100 });
  });

  it("takes every key from the environment; commands with commas as a JSON list", () => {
    expect(configKeys(AgentConfigSchema, AGENT_ENV_PREFIX).map((k) => k.env)).toEqual(expect.arrayContaining([
      "NIGHTSHIFT_AGENT_MAINTENANCE_GUEST_COMMANDS", "NIGHTSHIFT_AGENT_MAINTENANCE_ALLOW_ANY_GUEST_COMMAND", "NIGHTSHIFT_AGENT_MAINTENANCE_HOOKS",
    ]));
    const config = loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, env: { ...base,
      NIGHTSHIFT_AGENT_MAINTENANCE_GUEST_COMMANDS: '["apt-get update && apt-get -y upgrade", "printf a,b"]',
      NIGHTSHIFT_AGENT_MAINTENANCE_ALLOW_ANY_GUEST_COMMAND: "false",
      NIGHTSHIFT_AGENT_MAINTENANCE_HOOKS: "/etc/nightshift/hooks/pre, /etc/nightshift/hooks/post",
      NIGHTSHIFT_AGENT_MAINTENANCE_MAX_RUNNING_STEPS: "16",
      NIGHTSHIFT_AGENT_MAINTENANCE_MAX_QUEUED_STEPS: "0",
    } });
    expect(config.maintenance).toEqual({
      guestCommands: ["apt-get update && apt-get -y upgrade", "printf a,b"],
      allowAnyGuestCommand: false,
      hooks: ["/etc/nightshift/hooks/pre", "/etc/nightshift/hooks/post"],
      maxRunningSteps: 16,
      maxQueuedSteps: 0,
    });
  });

  it("refuses step caps of zero running or above 10,000", () => {
    for (const [key, value] of [["MAX_RUNNING_STEPS", "0"], ["MAX_RUNNING_STEPS", "10001"], ["MAX_QUEUED_STEPS", "-1"], ["MAX_QUEUED_STEPS", "1.5"]] as const) {
      expect(() => loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, env: { ...base, [`NIGHTSHIFT_AGENT_MAINTENANCE_${key}`]: value } }),
        `${key}=${value}`).toThrow(new RegExp(`NIGHTSHIFT_AGENT_MAINTENANCE_${key}`));
    }
  });

  it("refuses relative hook paths", () => {
    expect(() => loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, env: { ...base,
      NIGHTSHIFT_AGENT_MAINTENANCE_HOOKS: "hooks/pre" } })).toThrow(/NIGHTSHIFT_AGENT_MAINTENANCE_HOOKS: maintenance\.hooks\[0\]: must be an absolute path/);
  });
});
