/**
 * The densest frames an honest agent can send pass the pre-parse shape check
 * (json-shape.ts, with the protocol's limits): every schema bound at its
 * maximum, as many entries as MAX_MESSAGE_BYTES holds. If a schema bound grows
 * (more roles, more HA groups), this says whether MAX_JSON_ENTRIES must too.
 */
import { describe, expect, it } from "vitest";
import { encodeMessage, parseAgentMessage } from "../../../../shared/protocol/codec.js";
import { MAX_FINDINGS, MAX_MOUNT_FACTS, MAX_PROBE_RUNS, SYSTEMD_FACT_LIMITS } from "../../../../shared/protocol/findings.js";
import {
  AgentMessageSchema, MAX_DISKS_PER_DOMAIN, MAX_DOMAINS_PER_INVENTORY, MAX_EVENTS_PER_BATCH, MAX_JSON_ENTRIES, MAX_MAINTENANCE_HA_GROUPS,
  MAX_MAINTENANCE_ROLES, MAX_MESSAGE_BYTES, type Domain, type DomainDisk,
} from "../../../../shared/protocol/messages.js";

const UUID = "00000000-0000-0000-0000-000000000000";
/** A disk with target `i` (3 characters, so every disk is as long): targets are unique within a VM. */
const disk = (i = 0): DomainDisk => ({ target: String(i).padStart(3, "0"), bus: null, device: "", type: "", source: null, driverType: null, readonly: false, shareable: false });

/** Entries of all arrays and objects of a parsed value. */
function entries(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  const children = Array.isArray(value) ? value : Object.values(value as object);
  return children.reduce((n: number, child) => n + entries(child), children.length);
}

function expectPasses(message: Parameters<typeof encodeMessage>[0]): { bytes: number; entries: number } {
  const text = encodeMessage(message);
  expect(AgentMessageSchema.safeParse(JSON.parse(text)).success, "a valid message").toBe(true);
  expect(text.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  const parsed = parseAgentMessage(text);
  expect(parsed.ok ? "ok" : `${parsed.kind}: ${parsed.detail}`).toBe("ok");
  return { bytes: text.length, entries: entries(JSON.parse(text)) };
}

describe("the densest honest frames pass the shape check", () => {
  it("an inventory of 5,000 VMs with every role and HA group, the rest of 4 MiB in disks", () => {
    const domains: Domain[] = Array.from({ length: MAX_DOMAINS_PER_INVENTORY }, (_, i) => ({
      name: `v${i}`, uuid: UUID, id: null, state: "", stateReason: "", autostart: false, persistent: false, vcpus: 0, memoryKiB: 0,
      maxMemoryKiB: 0, disks: [],
      maintenance: { group: "g", roles: Array<string>(MAX_MAINTENANCE_ROLES).fill("r"), tested: false,
        haGroups: Array<string>(MAX_MAINTENANCE_HA_GROUPS).fill("h") },
    }));
    const inventory = { type: "inventory" as const, collectedAt: new Date(0).toISOString(), domains };
    const diskBytes = JSON.stringify(disk()).length + 1;
    let room = Math.floor((MAX_MESSAGE_BYTES - encodeMessage(inventory).length) / diskBytes);
    for (const d of domains) {
      const n = Math.min(MAX_DISKS_PER_DOMAIN, room);
      d.disks = Array.from({ length: n }, (_, i) => disk(i));
      room -= n;
      if (room === 0) break;
    }
    const { bytes, entries: n } = expectPasses(inventory);
    console.log(`densest inventory: ${bytes} bytes, ${n} entries (limit ${MAX_JSON_ENTRIES})`);
    // It is as dense as claimed in messages.ts: the limit sits just above it.
    expect(n).toBeGreaterThan(580_000);
    expect(bytes).toBeGreaterThan(MAX_MESSAGE_BYTES - diskBytes);
  });

  it("a health report with every finding, mount, probe run and failed unit, and a full events batch", () => {
    const report = {
      collectedAt: new Date(0).toISOString(),
      probes: Array.from({ length: MAX_PROBE_RUNS }, () => ({ name: "", status: "ok" as const, durationMs: 0, detail: "" })),
      findings: Array.from({ length: MAX_FINDINGS }, () => ({ code: "NS_X", severity: "info" as const, subject: "s", message: "", remedy: "", probe: "" })),
      facts: {
        mounts: Array.from({ length: MAX_MOUNT_FACTS }, () => ({ mountPoint: "", fstype: "", source: "", state: "up" as const, inFstab: false, network: false })),
        systemd: { state: "", failedUnits: Array<string>(SYSTEMD_FACT_LIMITS.failedUnits).fill(""), previousBootEmergency: null },
        kernel: { running: "", newestInstalled: null, rebootNeeded: false },
      },
    };
    console.log(`fullest health report: ${JSON.stringify(expectPasses({ type: "health", report }))}`);
    const events = Array.from({ length: MAX_EVENTS_PER_BATCH }, (_, i) => ({
      id: `event-${String(i).padStart(6, "0")}`, time: new Date(0).toISOString(), domain: "d", uuid: UUID, kind: "lifecycle" as const,
      event: "", detail: "", state: "", reason: "",
    }));
    console.log(`fullest events batch: ${JSON.stringify(expectPasses({ type: "events", events }))}`);
  });
});
