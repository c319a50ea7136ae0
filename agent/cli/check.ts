/**
 * `nightshift-agent check`: run every probe once on this host (or on a host
 * tree such as a fixture or a mounted image), without a controller, print the
 * findings, and exit with the number of critical ones, so an operator can gate
 * a reboot on it: `nightshift-agent check && reboot`.
 *
 * Exit status (chosen so that no failure can read as "nothing critical"):
 *   0        every probe ran, no critical finding
 *   1..100   that many critical findings (100 means 100 or more)
 *   101      no critical finding, but a probe failed or timed out: the check is incomplete
 *   125      the check could not run: bad usage, unreadable settings, unknown probe, missing --root/--fstab
 */
import fs from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { z } from "zod";
import { NightshiftError, errorMessage } from "../../shared/errors.js";
import { createLogger } from "../../shared/logging.js";
import { formatTable } from "../../shared/table.js";
import type { HealthReport, Severity } from "../../shared/protocol/findings.js";
import { LibvirtConnection } from "../libvirt/connection.js";
import { DEFAULT_URI } from "../libvirt/uri.js";
import { HostRoot } from "../probes/host-root.js";
import { liveCommands } from "../probes/live-commands.js";
import { recordedCommands } from "../probes/recorded-commands.js";
import { PROBES } from "../probes/index.js";
import { runProbes, selectProbes } from "../probes/runner.js";
import { PROBE_SETTINGS_RENAMED, ProbeSettingsSchema, type ProbeSettings } from "../probes/settings.js";
import { AGENT_RENAMED, AgentProbesSchema } from "../config.js";
import { loadConfig } from "../../shared/config.js";
import { readYamlMapping, type YamlFileKind } from "../../shared/yaml-file.js";
import type { AnyProbe } from "../probes/types.js";

export const EXIT_MAX_CRITICAL = 100;
export const EXIT_INCOMPLETE = 101;
export const EXIT_CANNOT_RUN = 125;

const LIBVIRT_OPEN_TIMEOUT_MS = 5_000;

interface CheckFlags {
  root: string;
  fstab?: string;
  uri: string;
  libvirt: boolean;
  settings?: string;
  probe?: string[];
  json?: boolean;
}

/** `check --settings FILE`: a file of probe settings, or an agent.yaml. */
const SETTINGS_FILE: YamlFileKind = {
  code: "NS_ERR_CONFIG",
  what: "settings file",
  expected: "a mapping of probe settings, or an agent.yaml with a probes: section",
  allowEmpty: true,
};

/** agent.yaml as far as `check --settings` reads it. */
const AGENT_PROBES_SECTION = z.strictObject({ probes: AgentProbesSchema });

/**
 * Probe settings from a YAML file: the settings at top level, or the `probes:`
 * section of the agent's own agent.yaml (its other keys are the daemon's, not
 * checked here). Either is held to its schema exactly: an unknown key is an error.
 */
export function loadProbeSettings(file: string | undefined): ProbeSettings {
  if (!file) return ProbeSettingsSchema.parse({});
  const yaml = readYamlMapping(file, SETTINGS_FILE);
  const title = () => `invalid settings in ${file}`;
  if (yaml.data.probes === undefined) {
    return loadConfig({ schema: ProbeSettingsSchema, file: yaml, renamed: PROBE_SETTINGS_RENAMED, title, context: { customShowsValue: true } });
  }
  // The agent's probes: section, checked with its schema; the rest of agent.yaml is left alone.
  const agentYaml = { ...yaml, data: { probes: yaml.data.probes } };
  return loadConfig({ schema: AGENT_PROBES_SECTION, file: agentYaml, renamed: AGENT_RENAMED, title, context: { customShowsValue: true } }).probes;
}

function chooseProbes(names: string[] | undefined, settings: ProbeSettings): AnyProbe[] {
  if (!names?.length) return selectProbes(PROBES, settings);
  const unknown = names.filter((n) => !PROBES.some((p) => p.name === n));
  if (unknown.length) {
    throw new NightshiftError("NS_ERR_CHECK_PROBE", `unknown probe ${unknown.join(", ")}; probes: ${PROBES.map((p) => p.name).join(", ")}`);
  }
  // Named explicitly: run them even when off by default or disabled in the settings.
  return PROBES.filter((p) => names.includes(p.name));
}

/** A libvirt connection for the probes that want one, or null with the reason. */
async function openLibvirt(flags: CheckFlags, thisHost: boolean): Promise<{ conn: LibvirtConnection | null; note: string | null }> {
  if (!flags.libvirt) return { conn: null, note: "libvirt not used (--no-libvirt)" };
  if (!thisHost) return { conn: null, note: `libvirt not used: --root ${flags.root} is not this host` };
  const opening = LibvirtConnection.open({ uri: flags.uri });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${LIBVIRT_OPEN_TIMEOUT_MS} ms`)), LIBVIRT_OPEN_TIMEOUT_MS);
  });
  try {
    return { conn: await Promise.race([opening, timeout]), note: null };
  } catch (err) {
    // A connection that completes after we gave up is closed, not leaked.
    opening.then((c) => c.connectClose(), () => {}).catch(() => {});
    return { conn: null, note: `libvirt unreachable at ${flags.uri} (${errorMessage(err)})` };
  } finally {
    clearTimeout(timer);
  }
}

const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

export function countCritical(report: HealthReport): number {
  return report.findings.filter((f) => f.severity === "critical").length;
}

export function checkExitCode(report: HealthReport): number {
  const critical = countCritical(report);
  if (critical > 0) return Math.min(critical, EXIT_MAX_CRITICAL);
  return report.probes.some((p) => p.status === "failed" || p.status === "timeout") ? EXIT_INCOMPLETE : 0;
}

/** The human report: findings worst first, their remedies (one block per subject and remedy), the probes, a summary. */
export function formatCheckReport(report: HealthReport): string {
  const findings = [...report.findings].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
  let out = findings.length
    ? formatTable(["SEVERITY", "CODE", "SUBJECT", "MESSAGE"], findings.map((f) => [f.severity, f.code, f.subject, f.message]))
    : "No findings.\n";
  const remedies = new Map<string, { subject: string; remedy: string; codes: string[] }>();
  for (const f of findings) {
    const key = `${f.subject}\0${f.remedy}`;
    const entry = remedies.get(key) ?? { subject: f.subject, remedy: f.remedy, codes: [] };
    entry.codes.push(f.code);
    remedies.set(key, entry);
  }
  if (remedies.size) {
    out += "\nRemedies:\n";
    for (const r of remedies.values()) out += `  ${r.subject} (${r.codes.join(", ")}):\n${r.remedy.split("\n").map((l) => `    ${l}\n`).join("")}`;
  }
  out += "\n" + formatTable(["PROBE", "STATUS", "MS", "DETAIL"],
    report.probes.map((p) => [p.name, p.status, p.durationMs.toFixed(1), p.detail ?? ""]));
  const count = (s: Severity) => report.findings.filter((f) => f.severity === s).length;
  const broken = report.probes.filter((p) => p.status === "failed" || p.status === "timeout").map((p) => `${p.name} ${p.status}`);
  out += `\n${count("critical")} critical, ${count("warning")} warning, ${count("info")} info` +
    (broken.length ? `; incomplete: ${broken.join(", ")}` : "") + `; exit status ${checkExitCode(report)}\n`;
  return out;
}

async function check(flags: CheckFlags): Promise<number> {
  const rootDir = path.resolve(flags.root);
  if (!fs.statSync(rootDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new NightshiftError("NS_ERR_CHECK_PATH", `--root ${flags.root} is not a directory`);
  }
  // An explicit fstab that is not there is a typo, not "no fstab on this host".
  if (flags.fstab !== undefined && !fs.existsSync(flags.fstab)) {
    throw new NightshiftError("NS_ERR_CHECK_PATH", `--fstab ${flags.fstab} does not exist`);
  }
  const settings = loadProbeSettings(flags.settings);
  const probes = chooseProbes(flags.probe, settings);
  const root = new HostRoot(rootDir, flags.fstab === undefined ? undefined : path.resolve(flags.fstab));
  // The one place check decides whose commands the probes hear: this host's, or the tree's recordings.
  const thisHost = rootDir === "/";
  const commands = thisHost ? liveCommands() : recordedCommands(root);
  const log = createLogger("nightshift-agent", process.env.NIGHTSHIFT_LOG_LEVEL ?? "error");
  const { conn, note } = probes.length ? await openLibvirt(flags, thisHost) : { conn: null, note: null };
  if (note) process.stderr.write(`nightshift-agent check: ${note}; probes that need it report not-applicable\n`);
  let report: HealthReport;
  try {
    report = await runProbes(probes, { root, commands, settings, libvirt: conn, log, now: () => new Date() });
  } finally {
    await conn?.connectClose().catch(() => {});
  }
  process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + "\n" : formatCheckReport(report));
  return checkExitCode(report);
}

export function checkCommand(): Command {
  return new Command("check")
    .description("run every probe once on this host, print the findings, exit with the number of critical ones (gate a reboot on it)")
    .option("--root <dir>", "host tree to examine instead of / (a fixture, a mounted image): commands answer from its commands/ recordings, libvirt is not used", "/")
    .option("--fstab <file>", "fstab to check instead of <root>/etc/fstab (e.g. an edited copy before installing it)")
    .option("--uri <uri>", "libvirt URI for the probes that use libvirt", process.env.LIBVIRT_DEFAULT_URI ?? DEFAULT_URI)
    .option("--no-libvirt", "do not connect to libvirt; probes that need it report not-applicable")
    .option("--settings <file>", "probe settings (YAML): the keys at top level, or the agent's agent.yaml with its probes: section")
    .option("--probe <name...>", "run only these probes (even ones off by default)")
    .option("--json", "print the health report as JSON (fields below)")
    .showHelpAfterError("(nightshift-agent check --help for usage)")
    .exitOverride((err) => {
      // Commander has printed the problem (or the help); map its exit to ours.
      process.exit(err.exitCode === 0 ? 0 : EXIT_CANNOT_RUN);
    })
    .addHelpText("after", () => `
Exit status:
  0         every probe ran and none found anything critical
  1..100    the number of critical findings (100: 100 or more)
  101       nothing critical, but a probe failed or timed out: the check is incomplete
  125       the check could not run (usage, settings, unknown probe, missing --root or --fstab)

Output: a table SEVERITY CODE SUBJECT MESSAGE (critical first), the remedies (for an
fstab entry, the corrected line), each probe's status and duration, and a summary.
Notes (libvirt not used or unreachable) go to stderr.

Fields (--json, the health report): collectedAt, probes[] {name, status (ok,
not-applicable, failed, timeout), durationMs, detail}, findings[] {code, severity
(critical, warning, info), subject, message, remedy, probe}, facts {PROBE: the
probe's fact, e.g. facts.mounts[], facts.systemd}.
Finding codes are listed in the README.

Probes: ${PROBES.map((p) => `${p.name}${p.defaultEnabled ? "" : " (off by default)"}`).join(", ")}.

Examples:
  nightshift-agent check && systemctl reboot
  nightshift-agent check --probe fstab --fstab /etc/fstab.new
  nightshift-agent check --root test/fixtures/hosts/incident --json | jq '.findings[] | select(.severity == "critical")'
`)
    .action(async (flags: CheckFlags) => {
      try {
        process.exitCode = await check(flags);
      } catch (err) {
        // Not rethrown: the binary's generic handler exits 1, which here would read as "1 critical finding".
        const code = err instanceof NightshiftError ? ` (${err.code})` : "";
        process.stderr.write(`nightshift-agent check: ${errorMessage(err)}${code}\n`);
        process.exitCode = EXIT_CANNOT_RUN;
      }
    });
}
