/** SIGHUP: what applies at once (allowlists, probe settings) and what waits for a restart (the probe interval, the rest). */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../../shared/config.js";
import { AGENT_ENV_PREFIX, AgentConfigSchema } from "../../../../agent/config.js";
import { applyReload } from "../../../../agent/daemon/config-reload.js";

const load = (env: Record<string, string>) =>
  loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, env: { NIGHTSHIFT_AGENT_CONTROLLER: "wss://c/v1/agent", ...env } });

describe("applyReload", () => {
  it("applies the allowlists and probe settings in place; the probe interval and the heartbeat need a restart", () => {
    const current = load({});
    const fresh = load({ NIGHTSHIFT_AGENT_MAINTENANCE_GUEST_COMMANDS: "uptime", NIGHTSHIFT_AGENT_PROBES_PROBE_TIMEOUT: "20s",
      NIGHTSHIFT_AGENT_PROBES_INTERVAL: "1m", NIGHTSHIFT_AGENT_HEARTBEAT: "5s" });
    expect(applyReload(current, fresh)).toEqual({
      changed: ["maintenance.guestCommands", "probes.probeTimeout"],
      needRestart: ["heartbeat", "probes.interval"],
    });
    expect(current.maintenance.guestCommands).toEqual(["uptime"]);
    expect(current.probes.probeTimeout).toBe(20_000);
    expect(current.probes.interval).toBe(300_000);
    expect(current.heartbeat).toBe(15_000);
  });
});
