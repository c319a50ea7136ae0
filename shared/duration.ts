/**
 * Durations, one convention for every config key, spec key and flag that is a
 * time: a number with its unit, "100ms", "30s", "15m", "2h", "3d", "1w". A bare
 * number is refused everywhere (is "30" seconds or minutes?), and key names
 * carry no unit (`heartbeat: 15s`, not `heartbeatSeconds: 15`).
 */
import { z } from "zod";
import { ISO_TIME_FORMS, parseIsoTime } from "./iso-time.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Examples for messages. */
export const DURATION_EXAMPLES = "90s, 15m, 1h, 3d";

/** Milliseconds, or null for anything that is not a number with a unit. */
export function parseDuration(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/i.exec(text);
  if (!match) return null;
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2]!.toLowerCase()]!);
  // Four hundred nines are a number to JavaScript (Infinity), not a duration.
  return Number.isSafeInteger(ms) ? ms : null;
}

/** "30", " 2.5 ": a number someone meant as a duration and left the unit off. */
export function isBareNumber(text: string): boolean {
  return /^\s*\d+(\.\d+)?\s*$/.test(text);
}

/** The inverse of parseDuration in the largest unit that keeps it whole (weeks are written as days): 90000 -> "90s", 86400000 -> "1d". */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"] as const) {
    if (ms !== 0 && ms % UNIT_MS[unit]! === 0) return `${ms / UNIT_MS[unit]!}${unit}`;
  }
  return ms === 0 ? "0s" : `${ms}ms`;
}

/** Why `value` is not a duration (for a message), or null when it is one. */
export function durationProblem(value: string, examples = DURATION_EXAMPLES): string | null {
  if (parseDuration(value) !== null) return null;
  if (isBareNumber(value)) {
    const n = value.trim();
    return `a bare number is not a duration: give its unit, like ${n}s or ${n}m`;
  }
  return `expected a duration like ${examples}`;
}

/**
 * A duration key of a spec (runbook, plan, windows): text with a unit, kept as
 * written (the API stores and returns it). Marked `duration` for the issue
 * formatter and the docs.
 */
export function durationText(what: string, examples = DURATION_EXAMPLES) {
  return z.string().superRefine((value, ctx) => {
    const problem = durationProblem(value, examples);
    if (problem) ctx.addIssue({ code: "custom", message: `${what}: ${problem}` });
  }).meta({ duration: true });
}

export interface DurationLimits {
  /** Zero is allowed (it means "off" where the key says so); otherwise a duration must be above 0. */
  zero?: boolean;
  /** The smallest allowed, in ms. */
  min?: number;
  /** The largest allowed, in ms. */
  max?: number;
}

/**
 * A duration key of a daemon's configuration: written "15s" in the file, the
 * environment or a flag, read as milliseconds. `z.encode` gives the text back
 * (`check-config` prints it).
 */
export function duration(limits: DurationLimits = {}) {
  const text = z.string().superRefine((value, ctx) => {
    const problem = durationProblem(value);
    if (problem) {
      ctx.addIssue({ code: "custom", message: problem });
      return;
    }
    const ms = parseDuration(value)!;
    if (ms === 0 && !limits.zero) ctx.addIssue({ code: "custom", message: "must be more than 0s" });
    else if (limits.min !== undefined && ms < limits.min) ctx.addIssue({ code: "custom", message: `must be at least ${formatDuration(limits.min)}` });
    if (limits.max !== undefined && ms > limits.max) ctx.addIssue({ code: "custom", message: `must be at most ${formatDuration(limits.max)}` });
  });
  return z.codec(text, z.number().int().min(0), {
    decode: (value) => parseDuration(value)!,
    encode: (ms) => formatDuration(ms),
  }).meta({ duration: true });
}

/** What `parseSince` takes, for error messages. */
export const SINCE_FORMS = `a duration back from now (90s, 15m, 1h, 2d, 1w; with its unit) or ${ISO_TIME_FORMS}`;

/** `--since` values: a duration back from now, or an absolute ISO 8601 time (see iso-time.ts). Returns epoch ms. */
export function parseSince(text: string, now = Date.now()): number | null {
  const duration = parseDuration(text);
  if (duration !== null) return now - duration;
  return parseIsoTime(text);
}
