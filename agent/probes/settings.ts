/** What the operator tells the probes: thresholds and marks that software cannot guess. */
import { z } from "zod";

export const ProbeSettingsSchema = z.object({
  /** Per-probe wall-clock limit. */
  probeTimeoutMs: z.number().positive().default(10_000),
  /** A mount that does not answer statfs/readdir within this is hung. */
  mountTimeoutMs: z.number().positive().default(3_000),
  /** Mount points that must never be empty (an empty one means the wrong thing is mounted, or nothing). */
  neverEmptyMounts: z.array(z.string()).default([]),
  /** VMs running longer than this without a reboot get a precautionary-reboot finding. */
  maxVmUptimeDays: z.number().positive().default(90),
  /** Critical VMs and HA groups by VM name, in addition to <metadata> in the domain XML. */
  criticalVms: z.array(z.string()).default([]),
  haGroups: z.record(z.string(), z.array(z.string())).default({}),
  /**
   * Findings of one code a probe lists one by one (one per fstab line, per mount
   * point); the rest of that code are summarised in one. A damaged fstab would
   * otherwise give one finding per line, tens of thousands.
   */
  findingsPerCode: z.number().int().positive().default(20),
  /** Probes to turn off (or on) by name, over their default. */
  disabledProbes: z.array(z.string()).default([]),
  enabledProbes: z.array(z.string()).default([]),
});
export type ProbeSettings = z.infer<typeof ProbeSettingsSchema>;
