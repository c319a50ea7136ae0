/** What the operator tells the probes: thresholds and marks that software cannot guess. */
import { z } from "zod";
import type { RenamedKeys } from "../../shared/config-issues.js";
import { duration } from "../../shared/duration.js";

export const ProbeSettingsSchema = z.strictObject({
  probeTimeout: duration().prefault("10s").describe("Per-probe wall-clock limit; a probe still running then is reported `timeout`."),
  mountTimeout: duration().prefault("3s").describe("A mount that does not answer statfs/readdir within this is hung."),
  neverEmptyMounts: z.array(z.string()).default([])
    .describe("Mount points that must never be empty (an empty one means the wrong thing is mounted, or nothing)."),
  maxVmUptime: duration().prefault("90d").describe("VMs running longer than this without a reboot get a precautionary-reboot finding."),
  criticalVms: z.array(z.string()).default([]).describe("Critical VMs by name, in addition to <metadata> in the domain XML."),
  haGroups: z.record(z.string(), z.array(z.string())).default({})
    .describe("HA groups by name, each a list of VM names (`{dns: [dns1, dns2]}`), in addition to <metadata> in the domain XML."),
  findingsPerCode: z.number().int().positive().default(20).describe(
    "Findings of one code a probe lists one by one (one per fstab line, per mount point); the rest of that code are " +
    "summarised in one. A damaged fstab would otherwise give one finding per line, tens of thousands."),
  disabledProbes: z.array(z.string()).default([]).describe("Probes to turn off by name."),
  enabledProbes: z.array(z.string()).default([]).describe("Probes that are off by default to turn on by name."),
});
/** Durations in milliseconds. */
export type ProbeSettings = z.output<typeof ProbeSettingsSchema>;

/** Keys of earlier versions, relative to the settings. */
export const PROBE_SETTINGS_RENAMED: RenamedKeys = {
  probeTimeoutMs: { to: "probeTimeout", unit: "ms" },
  mountTimeoutMs: { to: "mountTimeout", unit: "ms" },
  maxVmUptimeDays: { to: "maxVmUptime", unit: "d" },
};
