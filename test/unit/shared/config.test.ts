import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, configKeys, loadConfig } from "../../../shared/config.js";
import { ControllerConfigSchema, CONTROLLER_ENV_PREFIX } from "../../../controller/config.js";
import { AgentConfigSchema, AGENT_ENV_PREFIX } from "../../../agent/config.js";

let dir: string | undefined;
afterEach(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); dir = undefined; });

function yamlFile(text: string): string {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nstest-config-"));
  const file = path.join(dir, "config.yaml");
  fs.writeFileSync(file, text);
  return file;
}

describe("configuration", () => {
  it("names an environment variable for every key of both schemas", () => {
    const controller = configKeys(ControllerConfigSchema, CONTROLLER_ENV_PREFIX).map((k) => k.env);
    expect(controller).toEqual(expect.arrayContaining(["NIGHTSHIFT_CONTROLLER_LISTEN", "NIGHTSHIFT_CONTROLLER_TLS_CERT",
      "NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER_SECONDS", "NIGHTSHIFT_CONTROLLER_AGENTS_MAX_MESSAGE_BYTES"]));
    const agent = configKeys(AgentConfigSchema, AGENT_ENV_PREFIX).map((k) => k.env);
    expect(agent).toEqual(expect.arrayContaining(["NIGHTSHIFT_AGENT_CONTROLLER", "NIGHTSHIFT_AGENT_SPOOL_MAX_EVENTS",
      "NIGHTSHIFT_AGENT_PROBES_MOUNT_TIMEOUT_MS", "NIGHTSHIFT_AGENT_PROBES_HA_GROUPS"]));
  });

  it("layers file < environment < flags, coercing each value to its key's type", () => {
    const file = yamlFile("listen: 0.0.0.0:9000\ndataDir: /srv/ns\nliveness:\n  missingAfterSeconds: 30\n");
    const config = loadConfig({
      schema: ControllerConfigSchema, envPrefix: CONTROLLER_ENV_PREFIX, file,
      env: { NIGHTSHIFT_CONTROLLER_LISTEN: "127.0.0.1:9001", NIGHTSHIFT_CONTROLLER_AGENTS_HEARTBEAT_SECONDS: "2.5" },
      overrides: [{ path: ["listen"], value: "127.0.0.1:9002" }, { path: ["dataDir"], value: undefined }],
    });
    expect(config.listen).toBe("127.0.0.1:9002");
    expect(config.dataDir).toBe("/srv/ns");
    expect(config.liveness.missingAfterSeconds).toBe(30);
    expect(config.agents.heartbeatSeconds).toBe(2.5);
    expect(config.agents.inventoryIntervalSeconds).toBe(300);
  });

  it("reads lists and maps from the environment", () => {
    const config = loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, env: {
      NIGHTSHIFT_AGENT_CONTROLLER: "wss://ctl:8650/v1/agent",
      NIGHTSHIFT_AGENT_PROBES_NEVER_EMPTY_MOUNTS: "/srv/a, /srv/b",
      NIGHTSHIFT_AGENT_PROBES_HA_GROUPS: '{"dns":["dns1","dns2"]}',
    } });
    expect(config.probes.neverEmptyMounts).toEqual(["/srv/a", "/srv/b"]);
    expect(config.probes.haGroups).toEqual({ dns: ["dns1", "dns2"] });
  });

  it("says which variable or key is wrong", () => {
    const load = (env: Record<string, string>, file?: string) => () =>
      loadConfig({ schema: ControllerConfigSchema, envPrefix: CONTROLLER_ENV_PREFIX, env, file });
    expect(load({ NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER_SECONDS: "soon" })).toThrow(
      /NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER_SECONDS="soon" is not a number/);
    expect(load({ NIGHTSHIFT_CONTROLLER_LISTEN: "8650" })).toThrow(/listen: expected ADDR:PORT/);
    expect(load({}, yamlFile("listen: [unclosed"))).toThrow(/is not valid YAML/);
    expect(load({}, "/nonexistent/controller.yaml")).toThrow(ConfigError);
    expect(() => loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, env: {} })).toThrow(/controller:/);
  });
});
