/**
 * The fstab probe's findings: its codes, one finding per (code, subject) with
 * later ones merged in, listed by line, and at most FINDINGS_PER_CODE per code
 * with the rest summarised ("N unparseable lines, first at line K"), so a
 * damaged fstab gives a report a person can read and the protocol can carry.
 */
import { clipFinding, type Severity } from "../../shared/protocol/findings.js";
import { FINDINGS_PER_CODE, capPerCode, formatNumberList, worstSeverity } from "./finding-cap.js";
import type { ProbeFinding } from "./types.js";

/** Every code this probe emits, in the order findings for one line are listed. */
export const FSTAB_CODES = [
  "NS_FSTAB_TOO_LARGE",
  "NS_FSTAB_UNPARSEABLE",
  "NS_FSTAB_DUPLICATE_MOUNT_POINT",
  "NS_FSTAB_NETWORK_NO_NOFAIL",
  "NS_FSTAB_NETWORK_NO_NETDEV",
  "NS_FSTAB_NETWORK_NO_TIMEOUT",
  "NS_FSTAB_NETWORK_SERVER_BY_HOSTNAME",
  "NS_FSTAB_SERVERS_UNCHECKED",
  "NS_FSTAB_LOCAL_ON_NETWORK",
  "NS_FSTAB_DEVICE_MISSING",
  "NS_FSTAB_TYPE_MISMATCH",
  "NS_FSTAB_UNSTABLE_DEVICE_NAME",
  "NS_FSTAB_DEVICES_UNCHECKED",
] as const;
export type FstabCode = (typeof FSTAB_CODES)[number];

/** The subject of the summary of a code's findings beyond the cap: fixed, so it stays one finding from report to report. */
export const MORE_LINES_SUBJECT = "more lines";

interface Draft {
  finding: ProbeFinding;
  line: number;
}

/** Findings keyed by (code, subject): a second one for the same pair is merged into the first. */
export class FindingSet {
  private readonly drafts = new Map<string, Draft>();

  /** `line` 0: about the file as a whole, listed first. */
  add(line: number, code: FstabCode, severity: Severity, subject: string, message: string, remedy: string): void {
    const key = `${code}\0${subject}`;
    const existing = this.drafts.get(key);
    if (!existing) {
      this.drafts.set(key, { line, finding: clipFinding({ code, severity, subject, message, remedy }) });
      return;
    }
    const f = existing.finding;
    if (severity === "critical" || (severity === "warning" && f.severity === "info")) f.severity = severity;
    const merged = clipFinding({ ...f, message: `${f.message}; also ${message}`, remedy: f.remedy.split("\n").includes(remedy) ? f.remedy : `${f.remedy}\n${remedy}` });
    f.message = merged.message;
    f.remedy = merged.remedy;
  }

  /** By line, then code; each code's findings beyond `cap` as one summary at the end. */
  list(cap = FINDINGS_PER_CODE): ProbeFinding[] {
    const rank = (d: Draft) => d.line * 100 + FSTAB_CODES.indexOf(d.finding.code as FstabCode);
    const sorted = [...this.drafts.values()].sort((a, b) => rank(a) - rank(b));
    return capPerCode(sorted, (all, rest) => summary(all, rest, cap), cap);
  }
}

function summary(all: Draft[], rest: Draft[], cap: number): ProbeFinding {
  const code = all[0]!.finding.code;
  const first = rest[0]!;
  const lines = formatNumberList(rest.map((d) => d.line), 600);
  const listed = `the first ${cap} are listed one by one, the other ${rest.length} only here (lines ${lines})`;
  if (code === "NS_FSTAB_UNPARSEABLE") {
    return clipFinding({
      code, severity: worstSeverity(rest.map((d) => d.finding)), subject: MORE_LINES_SUBJECT,
      message: `${all.length} unparseable lines, first at line ${all[0]!.line}; ${listed}: mount and systemd skip them, so whatever they were ` +
        "meant to mount is not mounted at boot",
      remedy: "so many refused lines mean the file is damaged or is not an fstab: restore it from a backup, or write it anew with the " +
        "mounts this host needs, and check it with `findmnt --fstab --verify` before the next boot",
    });
  }
  return clipFinding({
    code, severity: worstSeverity(rest.map((d) => d.finding)), subject: MORE_LINES_SUBJECT,
    message: `${all.length} lines have this finding, first at line ${all[0]!.line}; ${listed}. Line ${first.line}: ${first.finding.message.replace(/^line \d+: /, "")}`,
    remedy: `as for the lines listed one by one; for line ${first.line}: ${first.finding.remedy}`,
  });
}
