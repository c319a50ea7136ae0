/** The agent config's maintenance membership for its own hypervisor (maintenance.group, .roles, .slotLength). */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../shared/config.js";
import { AGENT_ENV_PREFIX, AgentConfigSchema, hostMaintenance } from "../../../agent/config.js";
import { HelloSchema } from "../../../shared/protocol/messages.js";

const base = { NIGHTSHIFT_AGENT_CONTROLLER: "wss://ctl:8650/v1/agent" };
const load = (env: Record<string, string>) => loadConfig({ schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, env: { ...base, ...env } });

describe("agent config: the host's maintenance membership", () => {
  it("none by default: hello carries no membership", () => {
    expect(hostMaintenance(load({}))).toBeUndefined();
  });

  it("a group alone: no roles, the controller's slot length; with roles and a slot length as given (minutes in hello), repeated roles once", () => {
    expect(hostMaintenance(load({ NIGHTSHIFT_AGENT_MAINTENANCE_GROUP: "ops" }))).toEqual({ group: "ops", roles: [] });
    const full = hostMaintenance(load({ NIGHTSHIFT_AGENT_MAINTENANCE_GROUP: "ops", NIGHTSHIFT_AGENT_MAINTENANCE_ROLES: '["hypervisor","storage","hypervisor"]',
      NIGHTSHIFT_AGENT_MAINTENANCE_SLOT_LENGTH: "45m" }));
    expect(full).toEqual({ group: "ops", roles: ["hypervisor", "storage"], estimatedMinutes: 45 });
    const hello = { v: 1, type: "hello", host: "hv1", hostname: "hv1", agentVersion: "0", libvirtVersion: "9.0.0", libvirtUri: "qemu:///system", maintenance: full };
    expect(HelloSchema.parse(hello).maintenance).toEqual(full);
  });

  it("refuses roles or a slot length without a group, names with white space, slots that are not positive or have no unit", () => {
    expect(() => load({ NIGHTSHIFT_AGENT_MAINTENANCE_ROLES: "hypervisor" })).toThrow(/maintenance\.group \(NIGHTSHIFT_AGENT_MAINTENANCE_GROUP\): needed when maintenance\.roles is set/);
    expect(() => load({ NIGHTSHIFT_AGENT_MAINTENANCE_SLOT_LENGTH: "30m" })).toThrow(/maintenance\.group \(NIGHTSHIFT_AGENT_MAINTENANCE_GROUP\): needed when maintenance\.slotLength is set/);
    expect(() => load({ NIGHTSHIFT_AGENT_MAINTENANCE_GROUP: "two words" })).toThrow(/maintenance\.group: must be a name without white space/);
    expect(() => load({ NIGHTSHIFT_AGENT_MAINTENANCE_GROUP: "ops", NIGHTSHIFT_AGENT_MAINTENANCE_SLOT_LENGTH: "0m" }))
      .toThrow(/NIGHTSHIFT_AGENT_MAINTENANCE_SLOT_LENGTH: maintenance\.slotLength: must be more than 0s/);
    expect(() => load({ NIGHTSHIFT_AGENT_MAINTENANCE_GROUP: "ops", NIGHTSHIFT_AGENT_MAINTENANCE_SLOT_LENGTH: "45" }))
      .toThrow(/maintenance\.slotLength: a bare number is not a duration: give its unit, like 45s or 45m/);
    expect(() => load({ NIGHTSHIFT_AGENT_MAINTENANCE_GROUP: "ops", NIGHTSHIFT_AGENT_MAINTENANCE_SLOT_LENGTH: "8d" }))
      .toThrow(/maintenance\.slotLength: must be at most 7d/);
  });
});
