/**
 * Findings: what the agent's probes found wrong (or worth knowing) on a host,
 * with a stable code, a severity, the thing concerned and a concrete remedy.
 * Codes are listed with their meaning and remedy in the README; never reuse
 * a code for another meaning.
 */
import { z } from "zod";

export const SEVERITIES = ["critical", "warning", "info"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const FindingSchema = z.object({
  /** Stable, e.g. NS_FSTAB_NETWORK_NO_NOFAIL. */
  code: z.string().regex(/^NS_[A-Z0-9_]+$/).max(64),
  severity: z.enum(SEVERITIES),
  /** What it is about: a mount point, an fstab line, a VM, a unit. Unique with `code` per host. */
  subject: z.string().min(1).max(512),
  message: z.string().max(2048),
  /** What to do; for an fstab entry, the corrected line. */
  remedy: z.string().max(2048),
  /** The probe that produced it. */
  probe: z.string().max(64),
});
export type Finding = z.infer<typeof FindingSchema>;

/** How one probe's run went. "not-applicable" (nothing to look at here) is not a failure. */
export const ProbeRunSchema = z.object({
  name: z.string().max(64),
  status: z.enum(["ok", "not-applicable", "failed", "timeout"]),
  durationMs: z.number().nonnegative(),
  detail: z.string().max(1024).optional(),
});
export type ProbeRun = z.infer<typeof ProbeRunSchema>;

/** A mount's health as the mounts probe saw it. */
export const MountFactSchema = z.object({
  mountPoint: z.string().max(4096),
  fstype: z.string().max(64),
  source: z.string().max(4096),
  state: z.enum(["up", "hung", "missing", "empty"]),
  /** Whether fstab lists it. */
  inFstab: z.boolean(),
  network: z.boolean(),
});
export type MountFact = z.infer<typeof MountFactSchema>;

export const SystemdFactSchema = z.object({
  /** `systemctl is-system-running`: running, degraded, maintenance, starting, ...; "absent" without systemd. */
  state: z.string().max(32),
  failedUnits: z.array(z.string().max(256)).max(1000),
  /** The previous boot entered emergency or rescue mode (null: unknown, e.g. no persistent journal). */
  previousBootEmergency: z.boolean().nullable(),
});
export type SystemdFact = z.infer<typeof SystemdFactSchema>;

export const MAX_PROBE_RUNS = 100;
export const MAX_FINDINGS = 10_000;
export const MAX_MOUNTS = 10_000;

/** Everything one run of the probes produced: findings plus facts for metrics. */
export const HealthReportSchema = z.object({
  collectedAt: z.iso.datetime({ offset: true }),
  probes: z.array(ProbeRunSchema).max(MAX_PROBE_RUNS),
  findings: z.array(FindingSchema).max(MAX_FINDINGS),
  mounts: z.array(MountFactSchema).max(MAX_MOUNTS),
  systemd: SystemdFactSchema.nullable(),
});
export type HealthReport = z.infer<typeof HealthReportSchema>;

/** A report as the controller receives it: the lists' items and the systemd fact are checked one by one (items.ts). */
export const HealthReportEnvelopeSchema = z.object({
  collectedAt: z.iso.datetime({ offset: true }),
  probes: z.array(z.unknown()).max(MAX_PROBE_RUNS),
  findings: z.array(z.unknown()).max(MAX_FINDINGS),
  mounts: z.array(z.unknown()).max(MAX_MOUNTS),
  systemd: z.unknown(),
});
export type HealthReportEnvelope = z.infer<typeof HealthReportEnvelopeSchema>;
