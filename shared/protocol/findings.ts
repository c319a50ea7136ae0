/**
 * Findings: what the agent's probes found wrong (or worth knowing) on a host,
 * with a stable code, a severity, the thing concerned and a concrete remedy.
 * Codes are listed with their meaning and remedy in the README; never reuse
 * a code for another meaning.
 */
import { z } from "zod";

export const SEVERITIES = ["critical", "warning", "info"] as const;

/** The schema's bounds, for the agent to fit its reports to (agent/daemon/health-fit.ts). */
export const FINDING_LIMITS = { code: 64, subject: 512, message: 2048, remedy: 2048, probe: 64 } as const;
export const PROBE_RUN_LIMITS = { name: 64, detail: 1024 } as const;
export const MOUNT_FACT_LIMITS = { mountPoint: 4096, fstype: 64, source: 4096 } as const;
export const SYSTEMD_FACT_LIMITS = { state: 32, failedUnits: 1000, unit: 256 } as const;
export const MAX_PROBE_RUNS = 100;
export const MAX_FINDINGS = 10_000;
export const MAX_MOUNT_FACTS = 10_000;
export type Severity = (typeof SEVERITIES)[number];

export const FindingSchema = z.object({
  /** Stable, e.g. NS_FSTAB_NETWORK_NO_NOFAIL. */
  code: z.string().regex(/^NS_[A-Z0-9_]+$/).max(FINDING_LIMITS.code),
  severity: z.enum(SEVERITIES),
  /** What it is about: a mount point, an fstab line, a VM, a unit. Unique with `code` per host. */
  subject: z.string().min(1).max(FINDING_LIMITS.subject),
  message: z.string().max(FINDING_LIMITS.message),
  /** What to do; for an fstab entry, the corrected line. */
  remedy: z.string().max(FINDING_LIMITS.remedy),
  /** The probe that produced it. */
  probe: z.string().max(FINDING_LIMITS.probe),
});
export type Finding = z.infer<typeof FindingSchema>;

/** How one probe's run went. "not-applicable" (nothing to look at here) is not a failure. */
export const ProbeRunSchema = z.object({
  name: z.string().max(PROBE_RUN_LIMITS.name),
  status: z.enum(["ok", "not-applicable", "failed", "timeout"]),
  durationMs: z.number().nonnegative(),
  detail: z.string().max(PROBE_RUN_LIMITS.detail).optional(),
});
export type ProbeRun = z.infer<typeof ProbeRunSchema>;

/** A mount's health as the mounts probe saw it. */
export const MountFactSchema = z.object({
  mountPoint: z.string().max(MOUNT_FACT_LIMITS.mountPoint),
  fstype: z.string().max(MOUNT_FACT_LIMITS.fstype),
  source: z.string().max(MOUNT_FACT_LIMITS.source),
  state: z.enum(["up", "hung", "missing", "empty"]),
  /** Whether fstab lists it. */
  inFstab: z.boolean(),
  network: z.boolean(),
});
export type MountFact = z.infer<typeof MountFactSchema>;

export const SystemdFactSchema = z.object({
  /** `systemctl is-system-running`: running, degraded, maintenance, starting, ...; "absent" without systemd. */
  state: z.string().max(SYSTEMD_FACT_LIMITS.state),
  failedUnits: z.array(z.string().max(SYSTEMD_FACT_LIMITS.unit)).max(SYSTEMD_FACT_LIMITS.failedUnits),
  /** The previous boot entered emergency or rescue mode (null: unknown, e.g. no persistent journal). */
  previousBootEmergency: z.boolean().nullable(),
});
export type SystemdFact = z.infer<typeof SystemdFactSchema>;

/** Everything one run of the probes produced: findings plus facts for metrics. */
export const HealthReportSchema = z.object({
  collectedAt: z.iso.datetime({ offset: true }),
  probes: z.array(ProbeRunSchema).max(MAX_PROBE_RUNS),
  findings: z.array(FindingSchema).max(MAX_FINDINGS),
  mounts: z.array(MountFactSchema).max(MAX_MOUNT_FACTS),
  systemd: SystemdFactSchema.nullable(),
});
export type HealthReport = z.infer<typeof HealthReportSchema>;

/**
 * `text` cut to at most `max` UTF-16 code units (what the schema's max()
 * counts), with "…" when cut, never between the halves of a surrogate pair.
 */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** A finding within the schema's string bounds (an empty subject becomes "-"). */
export function clipFinding<F extends Omit<Finding, "probe"> & { probe?: string }>(f: F): F {
  return {
    ...f,
    code: f.code.slice(0, FINDING_LIMITS.code),
    subject: clipText(f.subject, FINDING_LIMITS.subject) || "-",
    message: clipText(f.message, FINDING_LIMITS.message),
    remedy: clipText(f.remedy, FINDING_LIMITS.remedy),
    ...(f.probe === undefined ? {} : { probe: clipText(f.probe, FINDING_LIMITS.probe) }),
  };
}

/** A report as the controller receives it: the lists' items and the systemd fact are checked one by one (items.ts). */
export const HealthReportEnvelopeSchema = z.object({
  collectedAt: z.iso.datetime({ offset: true }),
  probes: z.array(z.unknown()).max(MAX_PROBE_RUNS),
  findings: z.array(z.unknown()).max(MAX_FINDINGS),
  mounts: z.array(z.unknown()).max(MAX_MOUNT_FACTS),
  systemd: z.unknown(),
});
export type HealthReportEnvelope = z.infer<typeof HealthReportEnvelopeSchema>;
