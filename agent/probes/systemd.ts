/**
 * Probe "systemd": the init system's view of the host.
 *
 * - `systemctl is-system-running`: degraded, maintenance (emergency/rescue now),
 *   starting/initializing, stopping. Its exit code is non-zero for every state but
 *   "running", so the state is read from stdout whatever the exit code.
 * - `systemctl list-units --state=failed --no-legend --plain`: failed units; a failed
 *   *.mount unit gets its own finding with its fstab line.
 * - The journal of the previous boot: did it reach emergency.target / rescue.target
 *   (also when booted with `systemd.unit=emergency.target`), and which jobs failed
 *   before that? Read with matches so the output stays small:
 *     journalctl -b -1 -o json _PID=1 UNIT=emergency.target UNIT=rescue.target
 *                             UNIT=emergency.service UNIT=rescue.service
 *   then, when one was found, the last 20 failed jobs up to that moment:
 *     journalctl -b -1 -o json -r -n 20 --until=@SECONDS _PID=1
 *                             JOB_RESULT=failed JOB_RESULT=dependency JOB_RESULT=timeout
 *   Without a persistent journal there is no previous boot to read: previousBootEmergency
 *   is null and the run's detail says why.
 *
 * Without systemd as init (no /run/systemd/system, the test sd_booted() makes) the probe
 * is "not-applicable" with state "absent": no command is run, nothing is logged.
 *
 * Host trees (test/fixtures/hosts/<case>/, recorded-commands.ts): run/systemd/system/ must
 * exist for systemd to count as present, and commands/ holds the recorded output of
 *   systemctl-is-system-running        stdout of `systemctl is-system-running` (e.g. "degraded")
 *   systemctl-list-units-failed        stdout of `systemctl list-units --state=failed --no-legend
 *                                      --plain` (absent: none failed)
 *   journalctl-previous-boot           JSON lines of the first journalctl query above, and may
 *                                      hold the second's too (absent: no persistent journal)
 *   journalctl-previous-boot-failures  JSON lines of the second (absent: none beyond the first's);
 *                                      failures after the emergency are ignored either way
 */
import { lstat, readFile } from "node:fs/promises";
import { SYSTEMD_FACT, type SystemdFact } from "../../shared/facts/systemd.js";
import type { HostCommand } from "./commands.js";
import type { HostRoot } from "./host-root.js";
import type { Probe, ProbeContext, ProbeFinding, ProbeOutput } from "./types.js";

const SYSTEMCTL_TIMEOUT_MS = 5_000;
const JOURNAL_TIMEOUT_MS = 8_000;
const FAILURES_BEFORE_EMERGENCY = 20;
const MAX_FAILED_UNITS = 1000;

const EMERGENCY_UNITS = ["emergency.target", "rescue.target", "emergency.service", "rescue.service"];

// --- parsing (pure) ------------------------------------------------------------

/** The state word `systemctl is-system-running` printed ("unknown" when it printed nothing). */
export function parseSystemState(stdout: string): string {
  return stdout.trim().split(/\s+/)[0]?.slice(0, 32) || "unknown";
}

/** Unit names out of `list-units --no-legend --plain` (first column). */
export function parseFailedUnits(stdout: string): string[] {
  const units: string[] = [];
  for (const line of stdout.split("\n")) {
    // Without --plain, systemd prefixes "●"; tolerate it.
    const name = line.replace(/^[\s●*]+/, "").split(/\s+/)[0] ?? "";
    if (/^[^\s/]+\.[a-z]+$/.test(name) && !units.includes(name)) units.push(name.slice(0, 256));
  }
  return units.slice(0, MAX_FAILED_UNITS);
}

export interface JournalEntry {
  unit: string | null;
  message: string;
  jobType: string | null;
  jobResult: string | null;
  /** __REALTIME_TIMESTAMP in microseconds, or null. */
  realtimeUs: number | null;
}

function journalField(value: unknown): string | null {
  if (typeof value === "string") return value;
  // Binary fields are arrays of bytes; repeated fields arrays of strings.
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "number")) return Buffer.from(value as number[]).toString("utf8");
    const first: unknown = value[0];
    return typeof first === "string" ? first : null;
  }
  return null;
}

/** journalctl -o json output (one object per line); unreadable lines are skipped. */
export function parseJournalJson(text: string): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const ts = Number(journalField(obj.__REALTIME_TIMESTAMP));
    entries.push({
      unit: journalField(obj.UNIT),
      message: journalField(obj.MESSAGE) ?? "",
      jobType: journalField(obj.JOB_TYPE),
      jobResult: journalField(obj.JOB_RESULT),
      realtimeUs: Number.isFinite(ts) && ts > 0 ? ts : null,
    });
  }
  return entries;
}

export interface PreviousBoot {
  /** Null: the previous boot did not enter emergency or rescue mode. */
  entered: { mode: "emergency" | "rescue"; unit: string; at: Date | null } | null;
  /** Jobs that failed up to that moment, oldest first (at most 20). */
  failures: { unit: string; result: string; message: string }[];
}

function isEmergencyEntry(e: JournalEntry): boolean {
  if (!e.unit || !EMERGENCY_UNITS.includes(e.unit)) return false;
  if (e.jobType !== null && e.jobType !== "start") return false;
  // "Reached target emergency.target - Emergency Mode." / "Started emergency.service - Emergency Shell."
  return e.jobResult === "done" || /^(Reached target|Started)\b/.test(e.message);
}

export function analyzePreviousBoot(entries: readonly JournalEntry[]): PreviousBoot {
  const sorted = [...entries].sort((a, b) => (a.realtimeUs ?? 0) - (b.realtimeUs ?? 0));
  const hit = sorted.find(isEmergencyEntry);
  if (!hit) return { entered: null, failures: [] };
  const limitUs = hit.realtimeUs === null ? Infinity : hit.realtimeUs + 1_000_000;
  const failures = sorted
    .filter((e) => e.unit && e.jobResult && ["failed", "dependency", "timeout"].includes(e.jobResult) && (e.realtimeUs ?? 0) <= limitUs)
    .slice(-FAILURES_BEFORE_EMERGENCY)
    .map((e) => ({ unit: e.unit!, result: e.jobResult!, message: e.message }));
  return {
    entered: {
      mode: hit.unit!.startsWith("rescue") ? "rescue" : "emergency",
      unit: hit.unit!,
      at: hit.realtimeUs === null ? null : new Date(hit.realtimeUs / 1000),
    },
    failures,
  };
}

/** The mount point a mount unit stands for ("srv-nfs\x2ddata.mount" -> "/srv/nfs-data"), as systemd-escape --path. */
export function mountPointOfUnit(unit: string): string {
  const body = unit.replace(/\.mount$/, "");
  if (body === "-") return "/";
  return "/" + body.split("-").map((part) => part.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))).join("/");
}

/** The fstab line (1-based number and text) that mounts `mountPoint`, if any. */
export function fstabLineFor(fstab: string, mountPoint: string): { lineNo: number; raw: string } | null {
  const lines = fstab.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const field = trimmed.split(/\s+/)[1];
    if (!field) continue;
    const decoded = field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    const normal = decoded.length > 1 ? decoded.replace(/\/+$/, "") : decoded;
    if (normal === mountPoint) return { lineNo: i + 1, raw: trimmed };
  }
  return null;
}

// --- findings (pure) -------------------------------------------------------------

function listUnits(units: readonly string[], budget = 1500): string {
  let text = "";
  for (let i = 0; i < units.length; i++) {
    const next = (i === 0 ? "" : ", ") + units[i];
    if (text.length + next.length > budget) return `${text} and ${units.length - i} more`;
    text += next;
  }
  return text;
}

export function systemdFindings(state: string, failedUnits: readonly string[], previous: PreviousBoot | null,
  fstab: string | null): ProbeFinding[] {
  const findings: ProbeFinding[] = [];
  if (state === "degraded") {
    findings.push({
      code: "NS_SYSTEMD_DEGRADED", severity: "warning", subject: "systemd",
      message: failedUnits.length > 0
        ? `systemd reports the system degraded: ${failedUnits.length} failed unit(s): ${listUnits(failedUnits)}`
        : "systemd reports the system degraded (no failed unit was listed)",
      remedy: "Look at each failed unit (`systemctl --failed`, `systemctl status UNIT`, `journalctl -b -u UNIT`), fix it "
        + "and restart it, or `systemctl reset-failed UNIT` once it is understood; a degraded host is not a clean baseline for a change.",
    });
  } else if (state === "maintenance") {
    findings.push({
      code: "NS_SYSTEMD_MAINTENANCE", severity: "critical", subject: "systemd",
      message: "The host is in emergency or rescue mode now (systemctl is-system-running: maintenance): services and VMs are not started.",
      remedy: "Log in on the console, read `journalctl -b -p err` to find what failed (often an fstab entry), fix it, then `systemctl default` or reboot.",
    });
  } else if (state === "starting" || state === "initializing") {
    findings.push({
      code: "NS_SYSTEMD_STARTING", severity: "info", subject: "systemd",
      message: `The host is still booting (systemctl is-system-running: ${state}).`,
      remedy: "Wait until boot finishes; if it stays here, `systemctl list-jobs` shows what it waits for.",
    });
  } else if (state === "stopping") {
    findings.push({
      code: "NS_SYSTEMD_STOPPING", severity: "info", subject: "systemd",
      message: "The host is shutting down (systemctl is-system-running: stopping).",
      remedy: "Do not start any change on this host until it is back up.",
    });
  }

  for (const unit of failedUnits.filter((u) => u.endsWith(".mount"))) {
    const mountPoint = mountPointOfUnit(unit);
    const line = fstab === null ? null : fstabLineFor(fstab, mountPoint);
    findings.push({
      code: "NS_SYSTEMD_FAILED_MOUNT_UNIT", severity: "critical", subject: unit,
      message: `Mount unit ${unit} failed: ${mountPoint} is not mounted`
        + (line ? ` (/etc/fstab line ${line.lineNo}: ${line.raw})` : " (no /etc/fstab line mounts it)") + ".",
      remedy: `See why: \`systemctl status ${unit}\` and \`journalctl -b -u ${unit}\`; `
        + (line ? `check /etc/fstab line ${line.lineNo} (device or server present, options; \`nofail\` if boot must not wait for it), ` : "")
        + `then \`systemctl start ${unit}\`.`,
    });
  }

  if (previous?.entered) {
    const { mode, unit, at } = previous.entered;
    const causes = previous.failures.map((f) => `${f.unit} (${f.result})`);
    const firstCause = previous.failures.find((f) => f.result !== "dependency") ?? previous.failures[0];
    findings.push({
      code: "NS_BOOT_PREVIOUS_EMERGENCY", severity: "warning", subject: "previous-boot",
      message: `The previous boot entered ${mode} mode (${unit}${at ? ` at ${at.toISOString()}` : ""})`
        + (causes.length > 0 ? `; failed before it: ${listUnits(causes, 1200)}.` : "; no failed job was logged before it.")
        + " The next reboot may stop there again unless the cause was fixed.",
      remedy: (firstCause ? `Read \`journalctl -b -1 -u ${firstCause.unit}\`` : "Read `journalctl -b -1 -p err`")
        + " and make sure the cause is fixed before rebooting this host in a maintenance window.",
    });
  }
  return findings;
}

// --- the commands ------------------------------------------------------------------

export type PreviousBootJournal = { entries: JournalEntry[] } | { unavailable: string };

const SYSTEMD_ENV = { SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "", SYSTEMD_URLIFY: "0" };
const OUTPUT_BYTES = 4 * 1024 * 1024;
const EMPTY = { code: 0, stdout: "", stderr: "" };

const IS_SYSTEM_RUNNING: HostCommand = {
  file: "systemctl", args: ["is-system-running"], timeoutMs: SYSTEMCTL_TIMEOUT_MS, maxBytes: OUTPUT_BYTES, env: SYSTEMD_ENV,
  recorded: { name: "systemctl-is-system-running" },
};
const FAILED_UNITS: HostCommand = {
  file: "systemctl", args: ["list-units", "--state=failed", "--no-legend", "--plain", "--full"], timeoutMs: SYSTEMCTL_TIMEOUT_MS,
  maxBytes: OUTPUT_BYTES, env: SYSTEMD_ENV, recorded: { name: "systemctl-list-units-failed", missing: EMPTY },
};

function journal(args: string[], recorded: NonNullable<HostCommand["recorded"]>): HostCommand {
  return {
    file: "journalctl", args: ["-b", "-1", "-o", "json", "--no-pager", "-q", ...args], timeoutMs: JOURNAL_TIMEOUT_MS,
    maxBytes: OUTPUT_BYTES, env: SYSTEMD_ENV, recorded,
  };
}

/** The previous boot's emergency or rescue entry; a tree's recording may hold the failures before it too. */
const EMERGENCY_QUERY = journal(["_PID=1", ...EMERGENCY_UNITS.map((u) => `UNIT=${u}`)], {
  name: "journalctl-previous-boot",
  // As journalctl answers without a persistent journal.
  missing: { code: 1, stdout: "", stderr: "no journal of the previous boot was recorded" },
});

function failuresQuery(until: Date | null): HostCommand {
  return journal([
    "-r", "-n", String(FAILURES_BEFORE_EMERGENCY), ...(until ? [`--until=@${Math.floor(until.getTime() / 1000) + 1}`] : []),
    "_PID=1", "JOB_RESULT=failed", "JOB_RESULT=dependency", "JOB_RESULT=timeout",
  ], { name: "journalctl-previous-boot-failures", missing: EMPTY });
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.slice(0, 300) ?? "";
}

/** stdout of `systemctl is-system-running` (its exit code is non-zero for every state but "running"). */
async function readSystemState(ctx: ProbeContext): Promise<string> {
  const r = await ctx.commands.run(IS_SYSTEM_RUNNING, ctx.signal);
  if (r.stdout.trim() === "") throw new Error(`systemctl is-system-running printed no state (exit ${r.code}): ${firstLine(r.stderr)}`);
  return r.stdout;
}

async function readFailedUnits(ctx: ProbeContext): Promise<string> {
  const r = await ctx.commands.run(FAILED_UNITS, ctx.signal);
  if (r.code !== 0) throw new Error(`systemctl list-units failed (exit ${r.code}): ${firstLine(r.stderr)}`);
  return r.stdout;
}

async function readPreviousBoot(ctx: ProbeContext): Promise<PreviousBootJournal> {
  try {
    const first = await ctx.commands.run(EMERGENCY_QUERY, ctx.signal);
    // "Data from the specified boot (-1) is not available", "No journal files were found."
    if (first.code !== 0) return { unavailable: firstLine(first.stderr) || `journalctl exited with ${first.code}` };
    const entries = parseJournalJson(first.stdout);
    const hit = analyzePreviousBoot(entries).entered;
    if (!hit) return { entries };
    const second = await ctx.commands.run(failuresQuery(hit.at), ctx.signal);
    return { entries: second.code === 0 ? [...entries, ...parseJournalJson(second.stdout)] : entries };
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    return { unavailable: err instanceof Error ? err.message : String(err) };
  }
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

// --- the probe ------------------------------------------------------------------------

async function systemdIsInit(root: HostRoot): Promise<boolean> {
  try {
    return (await lstat(root.path("/run/systemd/system"))).isDirectory();
  } catch {
    return false;
  }
}

export async function collectSystemd(ctx: ProbeContext): Promise<ProbeOutput<SystemdFact>> {
  if (!(await systemdIsInit(ctx.root))) {
    return {
      status: "not-applicable", detail: "systemd is not the init system here (no /run/systemd/system)", findings: [],
      fact: { state: "absent", failedUnits: [], previousBootEmergency: null },
    };
  }
  const [stateText, failedText, journal, fstab] = await Promise.all([
    readSystemState(ctx), readFailedUnits(ctx), readPreviousBoot(ctx), readIfExists(ctx.root.fstab).catch(() => null),
  ]);
  const state = parseSystemState(stateText);
  const failedUnits = parseFailedUnits(failedText);
  const previous = "entries" in journal ? analyzePreviousBoot(journal.entries) : null;
  const fact: SystemdFact = { state, failedUnits, previousBootEmergency: previous ? previous.entered !== null : null };
  const notes: string[] = [];
  if ("unavailable" in journal) notes.push(`previous boot unknown: ${journal.unavailable}`);
  if (!["running", "degraded", "maintenance", "starting", "initializing", "stopping"].includes(state)) notes.push(`systemd state "${state}"`);
  return {
    status: "ok",
    ...(notes.length > 0 ? { detail: notes.join("; ").slice(0, 1000) } : {}),
    findings: systemdFindings(state, failedUnits, previous, fstab),
    fact,
  };
}

export const systemdProbe: Probe<SystemdFact> = {
  name: "systemd",
  description: "systemd state, failed (mount) units, and whether the previous boot entered emergency or rescue mode",
  defaultEnabled: true,
  fact: SYSTEMD_FACT,
  collect: (ctx) => collectSystemd(ctx),
};
