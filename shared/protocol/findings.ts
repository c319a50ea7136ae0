/**
 * Findings: what the agent's probes found wrong (or worth knowing) on a host,
 * with a stable code, a severity, the thing concerned and a concrete remedy.
 * Codes are listed with their meaning and remedy in the README; never reuse
 * a code for another meaning. A health report carries them with each probe's
 * run and the probes' facts (shared/facts/), each under its probe's name.
 */
import { z } from "zod";
import { clipText } from "./clip.js";
import { FactsSchema } from "../facts/index.js";

export { clipText } from "./clip.js";
export { MAX_MOUNT_FACTS, MOUNT_FACT_LIMITS, MountFactSchema, type MountFact } from "../facts/mounts.js";
export { SYSTEMD_FACT_LIMITS, SystemdFactSchema, type SystemdFact } from "../facts/systemd.js";
export type { Facts } from "../facts/index.js";

export const SEVERITIES = ["critical", "warning", "info"] as const;

/** The schema's bounds, for the agent to fit its reports to (agent/daemon/health-fit.ts). */
export const FINDING_LIMITS = { code: 64, subject: 512, message: 2048, remedy: 2048, probe: 64 } as const;
export const PROBE_RUN_LIMITS = { name: 64, detail: 1024 } as const;
export const MAX_PROBE_RUNS = 100;
export const MAX_FINDINGS = 10_000;
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

/** Everything one run of the probes produced: findings, plus each probe's fact under its name. */
export const HealthReportSchema = z.object({
  collectedAt: z.iso.datetime({ offset: true }),
  probes: z.array(ProbeRunSchema).max(MAX_PROBE_RUNS),
  findings: z.array(FindingSchema).max(MAX_FINDINGS),
  facts: FactsSchema,
});
export type HealthReport = z.infer<typeof HealthReportSchema>;

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

/** How many facts a report may carry: one per probe run at most. */
const MAX_FACTS = MAX_PROBE_RUNS;

/**
 * A report as the controller receives it: its lists' items and each fact are
 * checked one by one (items.ts). `mounts` and `systemd` are where agents before
 * facts were keyed by probe sent those two facts; read only when `facts` is absent.
 */
export const HealthReportEnvelopeSchema = z.object({
  collectedAt: z.iso.datetime({ offset: true }),
  probes: z.array(z.unknown()).max(MAX_PROBE_RUNS),
  findings: z.array(z.unknown()).max(MAX_FINDINGS),
  facts: z.record(z.string().max(PROBE_RUN_LIMITS.name), z.unknown())
    .refine((facts) => Object.keys(facts).length <= MAX_FACTS, { message: `at most ${MAX_FACTS} facts` }).optional(),
  mounts: z.array(z.unknown()).optional(),
  systemd: z.unknown().optional(),
});
export type HealthReportEnvelope = z.infer<typeof HealthReportEnvelopeSchema>;
