/**
 * Maintenance windows and waves: what a group accepts (MaintenancePreference),
 * how a large update is rolled out (WaveSpec, one/few/many), and the machine
 * model the planner works on (PlanMachine). One definition for the config
 * files, the API and the CLI; the planning itself is in controller/planning/.
 *
 * Times of day are wall-clock times in the group's IANA zone; dates are
 * calendar dates in that zone. How wall-clock times map to instants around
 * daylight-saving changes is documented in controller/planning/time-windows.ts.
 */
import { z } from "zod";
import { durationText, parseDuration } from "./duration.js";
import { NightshiftError } from "./errors.js";
import { FailureBudgetSchema } from "./runs.js";

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const zoneCache = new Map<string, boolean>();

/** True for a time zone name this Node's Intl knows (IANA names such as Europe/Berlin, or UTC). */
export function isValidTimeZone(zone: string): boolean {
  let known = zoneCache.get(zone);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: zone });
      known = true;
    } catch {
      known = false;
    }
    zoneCache.set(zone, known);
  }
  return known;
}

export const TimeZoneSchema = z.string().min(1).refine(isValidTimeZone,
  { message: "unknown time zone: expected an IANA name like Europe/Berlin, America/New_York or UTC" });

/** A wall-clock time "HH:MM", 00:00 to 23:59. */
export const TimeOfDaySchema = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "expected a time of day HH:MM (00:00 to 23:59)");

function isCalendarDate(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return false;
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** A calendar date "YYYY-MM-DD" (in the zone of whatever it belongs to). */
export const CalendarDateSchema = z.string().refine(isCalendarDate, { message: "expected a date YYYY-MM-DD" });

/** Durations with their unit ("48h"), kept as written; a bare number is refused. */
const duration = (what: string) => durationText(what, "90s, 15m, 48h, 3d");

/**
 * A weekly window. `days` are the days on which the window *opens*; an `end`
 * at or before `start` means the window closes on the next day (22:00-04:00),
 * and `end` equal to `start` means a whole day.
 */
export const WeeklyWindowSchema = z.object({
  days: z.array(z.enum(WEEKDAYS)).min(1).refine((days) => new Set(days).size === days.length, { message: "a day is listed twice" }),
  start: TimeOfDaySchema,
  end: TimeOfDaySchema,
}).strict();
export type WeeklyWindow = z.output<typeof WeeklyWindowSchema>;

/**
 * A blackout: one date, or an inclusive range of dates, in the group's zone.
 * Every instant of a blacked-out local day (00:00 to the next 00:00) is
 * closed; a window occurrence that reaches into such a day is cut short.
 */
export const BlackoutSchema = z.union([
  CalendarDateSchema,
  z.object({ from: CalendarDateSchema, to: CalendarDateSchema }).strict()
    .refine((range) => range.from <= range.to, { message: "blackout from is after to" }),
]);
export type Blackout = z.output<typeof BlackoutSchema>;

/**
 * What one group (a customer, a team) accepts: when disruptive work may happen
 * to its machines, which dates are off limits, and how much notice it gets.
 *
 * ```yaml
 * group: acme
 * timezone: Europe/Berlin
 * windows:
 *   - { days: [tue, thu], start: "02:00", end: "05:00" }
 * blackouts: ["2025-12-24", { from: "2025-12-27", to: "2026-01-02" }]
 * notice: 48h
 * ```
 */
export const MaintenancePreferenceSchema = z.object({
  group: z.string().min(1).max(128),
  timezone: TimeZoneSchema,
  /** No windows at all means the group's machines are never placed (the reason says so). */
  windows: z.array(WeeklyWindowSchema).default([]),
  blackouts: z.array(BlackoutSchema).default([]),
  /** The earliest a slot may start is the time it is assigned plus this. */
  notice: duration("notice").default("0s"),
}).strict();
export type MaintenancePreferenceInput = z.input<typeof MaintenancePreferenceSchema>;
export type MaintenancePreference = z.output<typeof MaintenancePreferenceSchema>;

/** A list of preferences, at most one per group. */
export const MaintenancePreferencesSchema = z.array(MaintenancePreferenceSchema).superRefine((prefs, ctx) => {
  const seen = new Set<string>();
  for (const [i, pref] of prefs.entries()) {
    if (seen.has(pref.group)) ctx.addIssue({ code: "custom", path: [i, "group"], message: `group ${pref.group} has two preferences` });
    seen.add(pref.group);
  }
});

/** The notice period of a preference in milliseconds. */
export function noticeMs(pref: Pick<MaintenancePreference, "notice">): number {
  return parseDuration(pref.notice) ?? 0;
}

/**
 * A machine as the planner sees it. `host` is a VM's hypervisor, and for a host
 * its own id. `tested` means the machine has verify checks (a failure is found
 * and rolled back by the software). `estimatedMinutes` is how long its slot is.
 * `haGroup` (one) and `haGroups` (several, as in a domain's <metadata>) are
 * merged into `haGroups`: two machines sharing one are never in maintenance at once.
 */
export const PlanMachineSchema = z.object({
  id: z.string().min(1),
  kind: z.enum(["vm", "host"]),
  name: z.string().min(1),
  host: z.string().min(1),
  group: z.string().min(1),
  roles: z.array(z.string().min(1)).default([]),
  tested: z.boolean().default(false),
  haGroup: z.string().min(1).optional(),
  haGroups: z.array(z.string().min(1)).default([]),
  estimatedMinutes: z.number().positive().max(7 * 24 * 60),
}).strict()
  .refine((m) => m.kind === "vm" || m.host === m.id, { message: "a host's host is its own id", path: ["host"] })
  .transform(({ haGroup, haGroups, ...rest }) => ({
    ...rest,
    haGroups: haGroup === undefined || haGroups.includes(haGroup) ? haGroups : [...haGroups, haGroup],
  }));
export type PlanMachineInput = z.input<typeof PlanMachineSchema>;
export type PlanMachine = z.output<typeof PlanMachineSchema>;

/**
 * When a wave starts or ends: an absolute ISO-8601 date-time with an offset
 * ("2025-03-03T06:00:00+01:00"), or a time in the plan's weeks in the spec's
 * time zone: "DAY HH:MM" in the plan's first week, "week N DAY HH:MM" in its
 * N-th. The plan's first week is the Monday-to-Sunday week (in the spec's zone)
 * that holds the plan's start date.
 */
export const WAVE_TIME_PATTERN = /^(?:week\s+([1-9]\d?)\s+)?(mon|tue|wed|thu|fri|sat|sun)\s+([01]\d|2[0-3]):([0-5]\d)$/i;
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

export const WaveTimeSchema = z.string().refine(
  (text) => WAVE_TIME_PATTERN.test(text.trim()) || (ISO_WITH_OFFSET.test(text) && !Number.isNaN(Date.parse(text))),
  { message: 'expected "DAY HH:MM" (mon 06:00), "week N DAY HH:MM" (week 2 tue 00:00) or an ISO date-time with offset' },
);

/**
 * One selection rule of a wave. A machine matches when it has `role` (any
 * machine if omitted), is of `kind` and `tested` as given (either if omitted)
 * and no earlier wave or rule took it. Without `count` or `percent` the rule
 * takes every match; with them it takes that many: `percent` of the in-scope
 * machines matching the rule's filters (all of them, including those earlier
 * waves took), rounded up — so "30" in two waves means 30 % each time, not 30 %
 * in total. Counted rules prefer machines whose group has a window in the wave
 * and spread their picks across groups and hosts.
 */
export const WaveSelectSchema = z.object({
  role: z.string().min(1).optional(),
  kind: z.enum(["vm", "host"]).optional(),
  tested: z.boolean().optional(),
  count: z.number().int().min(1).optional(),
  percent: z.number().gt(0).max(100).optional(),
}).strict().refine((rule) => rule.count === undefined || rule.percent === undefined, { message: "give count or percent, not both" });
export type WaveSelect = z.output<typeof WaveSelectSchema>;

export const WaveSchema = z.object({
  name: z.string().min(1).max(128),
  start: WaveTimeSchema,
  /** Defaults to the next wave's start; the last wave must have one. */
  end: WaveTimeSchema.optional(),
  /** For execution: failed VMs (a count or a percentage of the wave's VMs) after which the plan pauses. */
  failureBudget: FailureBudgetSchema.optional(),
  /** Machines in maintenance at once during this wave (overrides the spec's maxParallel). */
  maxParallel: z.number().int().min(1).optional(),
  select: z.array(WaveSelectSchema).min(1),
}).strict();
export type Wave = z.output<typeof WaveSchema>;

/**
 * A declarative rollout: ordered waves, each a time range and the machines it
 * takes. A machine belongs to the first wave (in order) with a rule that takes
 * it; machines no wave takes are reported as not selected. Wave ranges must be
 * in order and must not overlap, so everything of one wave ends before the next
 * starts.
 */
export const WaveSpecSchema = z.object({
  name: z.string().min(1).max(200).default("plan"),
  /** The zone of relative wave times ("tue 00:00"). */
  timezone: TimeZoneSchema.default("UTC"),
  /** Machines in maintenance at once across the plan, and on one hypervisor. */
  maxParallel: z.number().int().min(1).default(10),
  maxParallelPerHost: z.number().int().min(1).default(2),
  /** A hypervisor's slot starts only after every slot of its VMs in this plan has ended. */
  hostsAfterVms: z.boolean().default(true),
  waves: z.array(WaveSchema).min(1),
}).strict().superRefine((spec, ctx) => {
  const names = new Set<string>();
  for (const [i, wave] of spec.waves.entries()) {
    if (names.has(wave.name)) ctx.addIssue({ code: "custom", path: ["waves", i, "name"], message: `wave name ${wave.name} is used twice` });
    names.add(wave.name);
  }
  const last = spec.waves.length - 1;
  // No waves at all is min(1)'s issue; zod still runs this refinement then.
  if (last >= 0 && spec.waves[last]!.end === undefined) ctx.addIssue({ code: "custom", path: ["waves", last, "end"], message: "the last wave needs an end" });
});
export type WaveSpecInput = z.input<typeof WaveSpecSchema>;
export type WaveSpec = z.output<typeof WaveSpecSchema>;

export class WaveSpecError extends NightshiftError {
  constructor(message: string) {
    super("NS_ERR_WAVE_SPEC", message);
  }
}

/** Validates a parsed spec (from YAML or JSON); every problem is named with its path. */
export function parseWaveSpec(value: unknown): WaveSpec {
  const result = WaveSpecSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(spec)"}: ${issue.message}`);
  throw new WaveSpecError(`wave spec: ${problems.join("; ")}`);
}
