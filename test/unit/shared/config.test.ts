/** The one configuration loader: file < environment < flags, strict schemas, one rule for durations, problems named FILE:LINE. */
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { ConfigError, configKeys, effectiveConfig, formatEffectiveConfig, loadConfig, MASKED, schemaDefault } from "../../../shared/config.js";
import { SchemaIndex, type JsonSchema, type RenamedKeys } from "../../../shared/config-issues.js";
import { formatDuration, parseDuration } from "../../../shared/duration.js";
import { ControllerConfigSchema, CONTROLLER_ENV_PREFIX, CONTROLLER_RENAMED } from "../../../controller/config.js";
import { AgentConfigSchema, AGENT_ENV_PREFIX, AGENT_RENAMED } from "../../../agent/config.js";
import { ProbeSettingsSchema, PROBE_SETTINGS_RENAMED } from "../../../agent/probes/settings.js";
import { CliConfigSchema } from "../../../cli/settings.js";
import { RunSpecSchema } from "../../../shared/runs.js";
import { MaintenancePreferenceSchema, WaveSpecSchema } from "../../../shared/windows.js";

let dir: string | undefined;
afterEach(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); dir = undefined; });

function yamlFile(text: string, name = "config.yaml"): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), "nstest-config-"));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const controller = (file?: string, env: Record<string, string> = {}) =>
  loadConfig({ schema: ControllerConfigSchema, envPrefix: CONTROLLER_ENV_PREFIX, file, env, renamed: CONTROLLER_RENAMED });
const agent = (file?: string, env: Record<string, string> = {}) =>
  loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, file, renamed: AGENT_RENAMED,
    env: { NIGHTSHIFT_AGENT_CONTROLLER: "wss://ctl:8650/v1/agent", ...env } });

/** The message of the error `fn` throws (a ConfigError), for exact assertions. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}
const problemLines = (err: Error) => err.message.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim());

describe("configuration", () => {
  it("names an environment variable for every key of both schemas", () => {
    const controllerEnv = configKeys(ControllerConfigSchema, CONTROLLER_ENV_PREFIX).map((k) => k.env);
    expect(controllerEnv).toEqual(expect.arrayContaining(["NIGHTSHIFT_CONTROLLER_LISTEN", "NIGHTSHIFT_CONTROLLER_TLS_CERT",
      "NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER", "NIGHTSHIFT_CONTROLLER_AGENTS_MAX_MESSAGE_BYTES"]));
    const agentEnv = configKeys(AgentConfigSchema, AGENT_ENV_PREFIX).map((k) => k.env);
    expect(agentEnv).toEqual(expect.arrayContaining(["NIGHTSHIFT_AGENT_CONTROLLER", "NIGHTSHIFT_AGENT_SPOOL_MAX_EVENTS",
      "NIGHTSHIFT_AGENT_PROBES_MOUNT_TIMEOUT", "NIGHTSHIFT_AGENT_PROBES_HA_GROUPS", "NIGHTSHIFT_AGENT_HEARTBEAT"]));
    expect(agentEnv.filter((e) => /_(SECONDS|MS|MINUTES|DAYS)$/.test(e))).toEqual([]);
    expect(controllerEnv.filter((e) => /_(SECONDS|MS|MINUTES|DAYS)$/.test(e))).toEqual([]);
  });

  it("the agent has no inventory interval of its own: the controller's welcome decides", () => {
    expect(configKeys(AgentConfigSchema, "").map((k) => k.path.join("."))).not.toContain("inventoryInterval");
    expect(configKeys(AgentConfigSchema, "").map((k) => k.path.join("."))).not.toContain("inventoryIntervalSeconds");
  });

  it("layers file < environment < flags, coercing each value to its key's type; durations are read as milliseconds", () => {
    const file = yamlFile("listen: 0.0.0.0:9000\ndataDir: /srv/ns\nliveness:\n  missingAfter: 30s\n");
    const config = loadConfig({
      schema: ControllerConfigSchema, envPrefix: CONTROLLER_ENV_PREFIX, file,
      env: { NIGHTSHIFT_CONTROLLER_LISTEN: "127.0.0.1:9001", NIGHTSHIFT_CONTROLLER_AGENTS_HEARTBEAT: "2500ms",
        NIGHTSHIFT_CONTROLLER_AGENTS_MAX_MESSAGE_BYTES: "65536" },
      overrides: [{ path: ["listen"], value: "127.0.0.1:9002", flag: "--listen" }, { path: ["dataDir"], value: undefined }],
    });
    expect(config.listen).toBe("127.0.0.1:9002");
    expect(config.dataDir).toBe("/srv/ns");
    expect(config.liveness.missingAfter).toBe(30_000);
    expect(config.agents.heartbeat).toBe(2_500);
    expect(config.agents.maxMessageBytes).toBe(65_536);
    expect(config.agents.inventoryInterval).toBe(300_000);
    expect(config.plans.reminder).toBe(86_400_000);
  });

  it("reads lists and maps from the environment", () => {
    const config = agent(undefined, {
      NIGHTSHIFT_AGENT_PROBES_NEVER_EMPTY_MOUNTS: "/srv/a, /srv/b",
      NIGHTSHIFT_AGENT_PROBES_HA_GROUPS: '{"dns":["dns1","dns2"]}',
    });
    expect(config.probes.neverEmptyMounts).toEqual(["/srv/a", "/srv/b"]);
    expect(config.probes.haGroups).toEqual({ dns: ["dns1", "dns2"] });
  });

  it("says which variable or key is wrong", () => {
    expect(configError(() => controller(undefined, { NIGHTSHIFT_CONTROLLER_AGENTS_MAX_MESSAGE_BYTES: "soon" })).message).toContain(
      'NIGHTSHIFT_CONTROLLER_AGENTS_MAX_MESSAGE_BYTES: agents.maxMessageBytes: expected a number, got "soon"');
    expect(() => controller(undefined, { NIGHTSHIFT_CONTROLLER_LISTEN: "8650" })).toThrow(/NIGHTSHIFT_CONTROLLER_LISTEN: listen: expected ADDR:PORT/);
    expect(() => controller(yamlFile("listen: [unclosed"))).toThrow(/config\.yaml:1:\d+: .* \(the configuration file is YAML\)$/);
    expect(() => controller("/nonexistent/controller.yaml")).toThrow("cannot read configuration file /nonexistent/controller.yaml: no such file");
    expect(() => controller(yamlFile("- listen\n"))).toThrow(/config\.yaml: expected a mapping of configuration keys/);
    expect(() => loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, env: {} })).toThrow(/\n {2}controller \(NIGHTSHIFT_AGENT_CONTROLLER\): missing/);
    // An empty file is every default.
    expect(controller(yamlFile("")).listen).toBe("127.0.0.1:8650");
  });

  it("lists every problem at once: flags and variables first, then the file's in its order, each with FILE:LINE and the key", () => {
    const file = yamlFile([
      "listen: 0.0.0.0:9000",      // 1
      "liveness:",                 // 2
      "  missingAfter: 90",        // 3
      "  checkIntervl: 5s",        // 4
      "agents:",                   // 5
      "  heartbeat: soon",         // 6
      "store: {synchronous: off}", // 7
    ].join("\n") + "\n", "controller.yaml");
    const err = configError(() => controller(file, { NIGHTSHIFT_CONTROLLER_PLANS_TICK: "5" }));
    expect(err.code).toBe("NS_ERR_CONFIG");
    expect(err.message).toMatch(new RegExp(`^invalid configuration \\(file ${file}, environment NIGHTSHIFT_CONTROLLER_\\*\\):\n`));
    expect(problemLines(err)).toEqual([
      "NIGHTSHIFT_CONTROLLER_PLANS_TICK: plans.tick: a bare number is not a duration: give its unit, like 5s or 5m",
      `${file}:3: liveness.missingAfter: expected a duration like 90s, 15m, 1h, 3d (text with a unit), got number 90`,
      `${file}:4: liveness.checkIntervl: unknown key "checkIntervl" (did you mean checkInterval?); known keys: missingAfter, checkInterval`,
      `${file}:6: agents.heartbeat: expected a duration like 90s, 15m, 1h, 3d`,
      `${file}:7: store.synchronous: must be one of full, normal, got "off"`,
    ]);
  });
});

describe("unknown keys", () => {
  it("are refused at the top and at every level, named with the file, the line and the likely key", () => {
    const file = yamlFile("controller: wss://c/v1/agent\nmaintenence:\n  guestCommands: [uptime]\nprobes:\n  criticalVm: [db1]\n", "agent.yaml");
    expect(problemLines(configError(() => agent(file)))).toEqual([
      expect.stringMatching(new RegExp(`^${file}:2: maintenence: unknown key "maintenence" \\(did you mean maintenance\\?\\); known keys: controller, tokenFile, `)),
      expect.stringMatching(new RegExp(`^${file}:5: probes\\.criticalVm: unknown key "criticalVm" \\(did you mean criticalVms\\?\\)`)),
    ]);
    const controllerFile = yamlFile("listn: 0.0.0.0:8650\n", "controller.yaml");
    expect(configError(() => controller(controllerFile)).message).toContain(
      `${controllerFile}:1: listn: unknown key "listn" (did you mean listen?); known keys: listen, dataDir, `);
  });

  it("an allowlist under a misspelt key is not silently empty", () => {
    const file = yamlFile("maintenance:\n  guestComands: [\"systemctl restart nginx\"]\n", "agent.yaml");
    expect(configError(() => agent(file)).message).toContain(`${file}:2: maintenance.guestComands: unknown key "guestComands" (did you mean guestCommands?)`);
  });

  it("a variable with the program's prefix must name a key", () => {
    const err = configError(() => agent(undefined, { NIGHTSHIFT_AGENT_HEARTBEET: "1s", NIGHTSHIFT_AGENT_BOGUS: "x" }));
    expect(problemLines(err)).toEqual([
      expect.stringMatching(/^NIGHTSHIFT_AGENT_BOGUS: unknown variable: every NIGHTSHIFT_AGENT_\* variable must name a configuration key/),
      expect.stringMatching(/^NIGHTSHIFT_AGENT_HEARTBEET: unknown variable \(did you mean NIGHTSHIFT_AGENT_HEARTBEAT\?\)/),
    ]);
  });

  it("every mapping of every schema an operator writes is strict, all the way down (records excepted)", () => {
    const schemas: Record<string, z.ZodType> = {
      agent: AgentConfigSchema, controller: ControllerConfigSchema, cli: CliConfigSchema, probes: ProbeSettingsSchema,
      runbook: RunSpecSchema, waves: WaveSpecSchema, windows: MaintenancePreferenceSchema,
    };
    for (const [name, schema] of Object.entries(schemas)) {
      const loose: string[] = [];
      const walk = (node: JsonSchema, at: string) => {
        if (node.properties && node.additionalProperties !== false) loose.push(at || "(top)");
        for (const [key, child] of Object.entries(node.properties ?? {})) walk(child, at ? `${at}.${key}` : key);
        for (const option of [...(node.anyOf ?? []), ...(node.oneOf ?? [])]) walk(option, at);
        if (node.items) walk(node.items, `${at}[]`);
        if (typeof node.additionalProperties === "object") walk(node.additionalProperties, `${at}.*`);
      };
      walk(SchemaIndex.of(schema).root, "");
      expect(loose, name).toEqual([]);
    }
  });
});

describe("durations", () => {
  it("take their unit everywhere; a bare number is refused in the file and in the environment", () => {
    expect(agent(undefined, { NIGHTSHIFT_AGENT_HEARTBEAT: "1s", NIGHTSHIFT_AGENT_RECONNECT_INITIAL_DELAY: "100ms" }))
      .toMatchObject({ heartbeat: 1_000, reconnect: { initialDelay: 100, maxDelay: 30_000 } });
    expect(() => agent(undefined, { NIGHTSHIFT_AGENT_HEARTBEAT: "1" }))
      .toThrow("NIGHTSHIFT_AGENT_HEARTBEAT: heartbeat: a bare number is not a duration: give its unit, like 1s or 1m");
    expect(() => agent(yamlFile("heartbeat: 15\n"))).toThrow(/:1: heartbeat: expected a duration like .*, got number 15/);
    expect(() => agent(undefined, { NIGHTSHIFT_AGENT_HEARTBEAT: "0s" })).toThrow(/heartbeat: must be more than 0s/);
    // Zero where the key says it means "off".
    expect(controller(undefined, { NIGHTSHIFT_CONTROLLER_PLANS_REMINDER: "0s" }).plans.reminder).toBe(0);
  });

  it("the controller's agent intervals stay within what agents take from a welcome (1s-1d, 1s-60s)", () => {
    expect(controller(undefined, { NIGHTSHIFT_CONTROLLER_AGENTS_INVENTORY_INTERVAL: "1s", NIGHTSHIFT_CONTROLLER_AGENTS_HEARTBEAT: "60s" }).agents)
      .toMatchObject({ inventoryInterval: 1_000, heartbeat: 60_000 });
    expect(() => controller(undefined, { NIGHTSHIFT_CONTROLLER_AGENTS_INVENTORY_INTERVAL: "500ms" })).toThrow(/inventoryInterval: must be at least 1s/);
    expect(() => controller(undefined, { NIGHTSHIFT_CONTROLLER_AGENTS_INVENTORY_INTERVAL: "2d" })).toThrow(/inventoryInterval: must be at most 1d/);
    expect(() => controller(undefined, { NIGHTSHIFT_CONTROLLER_AGENTS_HEARTBEAT: "900ms" })).toThrow(/heartbeat: must be at least 1s/);
    expect(() => controller(undefined, { NIGHTSHIFT_CONTROLLER_AGENTS_HEARTBEAT: "61s" })).toThrow(/heartbeat: must be at most 1m/);
  });

  it("no key name carries a unit", () => {
    for (const schema of [AgentConfigSchema, ControllerConfigSchema]) {
      const names = configKeys(schema, "").map((k) => k.path.join("."));
      expect(names.filter((n) => /(Seconds|Ms|Minutes|Days)$/.test(n))).toEqual([]);
    }
  });

  it("every duration default is written the way check-config prints it back", () => {
    for (const schema of [AgentConfigSchema, ControllerConfigSchema]) {
      for (const key of configKeys(schema, "").filter((k) => k.node.duration && k.node.default !== undefined)) {
        const text = schemaDefault(schema, key.path)!;
        expect(formatDuration(parseDuration(text)!), key.path.join(".")).toBe(text);
      }
    }
  });
});

describe("renamed keys", () => {
  it("are refused with what they became and the value converted", () => {
    const file = yamlFile([
      "controller: wss://c/v1/agent",   // 1
      "heartbeatSeconds: 15",           // 2
      "inventoryIntervalSeconds: 300",  // 3
      "reconnect:",                     // 4
      "  initialDelayMs: 250",          // 5
      "probes:",                        // 6
      "  maxVmUptimeDays: 60",          // 7
      "maintenance:",                   // 8
      "  group: ops",                   // 9
      "  estimatedMinutes: 45",         // 10
    ].join("\n") + "\n", "agent.yaml");
    expect(problemLines(configError(() => agent(file)))).toEqual([
      `${file}:2: heartbeatSeconds: renamed heartbeat (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write heartbeat: 15s`,
      `${file}:3: inventoryIntervalSeconds: no longer a key: the controller's agents.inventoryInterval decides how often an agent ` +
        "sends its inventory (its welcome says it); remove it",
      `${file}:5: reconnect.initialDelayMs: renamed initialDelay (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write initialDelay: 250ms`,
      `${file}:7: probes.maxVmUptimeDays: renamed maxVmUptime (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write maxVmUptime: 60d`,
      `${file}:10: maintenance.estimatedMinutes: renamed slotLength (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write slotLength: 45m`,
    ]);
    const old = yamlFile("plans:\n  reminderMinutes: 1440\n", "controller.yaml");
    expect(configError(() => controller(old)).message).toContain(`${old}:2: plans.reminderMinutes: renamed reminder (a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write reminder: 1d`);
  });

  it("an old variable says the new one and its value", () => {
    expect(configError(() => controller(undefined, { NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER_SECONDS: "90" })).message).toContain(
      "NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER_SECONDS: renamed NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER " +
      "(a duration with its unit, like 100ms, 30s, 15m, 2h, 3d): write NIGHTSHIFT_CONTROLLER_LIVENESS_MISSING_AFTER=90s");
    expect(configError(() => agent(undefined, { NIGHTSHIFT_AGENT_HEARTBEAT_SECONDS: "1" })).message).toContain(
      "write NIGHTSHIFT_AGENT_HEARTBEAT=1s");
  });

  it("name keys that exist, and are not keys themselves", () => {
    const check = (schema: z.ZodType, renamed: RenamedKeys) => {
      const keys = new Set(configKeys(schema, "").map((k) => k.path.join(".")));
      for (const [old, entry] of Object.entries(renamed)) {
        expect(keys.has(old), old).toBe(false);
        if ("to" in entry) expect(keys.has([...old.split(".").slice(0, -1), entry.to].join(".")), old).toBe(true);
      }
    };
    check(AgentConfigSchema, AGENT_RENAMED);
    check(ControllerConfigSchema, CONTROLLER_RENAMED);
    check(ProbeSettingsSchema, PROBE_SETTINGS_RENAMED);
  });
});

describe("the effective configuration (check-config)", () => {
  it("has every default, durations as text, and the admin token masked", () => {
    const config = controller(yamlFile("adminToken: 0123456789abcdef0123\nagents:\n  heartbeat: 2500ms\n"));
    const effective = effectiveConfig(ControllerConfigSchema, config);
    expect(effective).toMatchObject({
      listen: "127.0.0.1:8650", adminToken: MASKED,
      liveness: { missingAfter: "90s", checkInterval: "5s" },
      agents: { heartbeat: "2500ms", inventoryInterval: "5m" },
      plans: { reminder: "1d" },
    });
    expect(config.adminToken).toBe("0123456789abcdef0123");
  });

  it("loads back to the same configuration", () => {
    const config = agent(yamlFile("probes:\n  interval: 90s\n  haGroups: {dns: [dns1, dns2]}\nmaintenance:\n  group: ops\n  slotLength: 45m\n"));
    const text = formatEffectiveConfig("nightshift-agent", AgentConfigSchema, config);
    expect(text).toMatch(/^# nightshift-agent: the effective configuration/);
    expect(parseYaml(text)).toMatchObject({ controller: "wss://ctl:8650/v1/agent", probes: { interval: "90s" }, maintenance: { slotLength: "45m" } });
    expect(agent(yamlFile(text, "again.yaml"))).toEqual(config);
  });
});
