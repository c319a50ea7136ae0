/**
 * A run's options (RunSpec) from `run start`'s flags and an optional runbook
 * YAML file (-f): the file's keys are those of RunSpecSchema, flags override
 * the file key by key (verify's keys one by one), and the result is checked
 * with RunSpecSchema before anything is sent. Every problem is reported at
 * once and says where it came from: FILE:LINE for the runbook, the flag
 * otherwise, and what is expected.
 */
import { RunSpecSchema, type RunSpecInput } from "../shared/runs.js";
import { applyOverrides, checkConfigInput, schemaProblems, type ConfigOverride } from "../shared/config.js";
import { isPlainObject, type IssueContext, type SpecProblem } from "../shared/config-issues.js";
import { parseYamlMapping, readYamlMapping, type YamlFileKind, type YamlMapping } from "../shared/yaml-file.js";
import { UsageError } from "./errors.js";

export type { SpecProblem } from "../shared/config-issues.js";

/** `run start`'s flags that are run options (commander's camelCase names). */
export interface RunSpecFlags {
  name?: string | undefined;
  vm?: string[] | undefined;
  patchExec?: string | undefined;
  patchHook?: string | undefined;
  patchTimeout?: string | undefined;
  reboot?: string | undefined;
  verifyExec?: string | undefined;
  verifyOutput?: string | undefined;
  verifyPattern?: string | undefined;
  verifyTcp?: number[] | undefined;
  verifyHttp?: string[] | undefined;
  verifyHttpStatus?: number | undefined;
  maxParallel?: number | undefined;
  maxParallelPerHost?: number | undefined;
  canary?: number | undefined;
  maxFailures?: string | number | undefined;
  keepSnapshots?: string | undefined;
  rebootIfOlderThan?: string | undefined;
  loggedInUsers?: string | undefined;
  snapshotMode?: string | undefined;
  snapshotHeadroom?: number | undefined;
  allowNoRollback?: boolean | undefined;
}

/** Each flag, its spelling on the command line, and the spec key it sets. */
const FLAGS: readonly { flag: keyof RunSpecFlags; option: string; path: readonly string[] }[] = [
  { flag: "name", option: "--name", path: ["name"] },
  { flag: "vm", option: "--vm", path: ["vms"] },
  { flag: "patchExec", option: "--patch-exec", path: ["patch"] },
  { flag: "patchHook", option: "--patch-hook", path: ["patch"] },
  { flag: "patchTimeout", option: "--patch-timeout", path: ["patchTimeout"] },
  { flag: "reboot", option: "--reboot", path: ["reboot"] },
  { flag: "verifyExec", option: "--verify-exec", path: ["verify", "exec"] },
  { flag: "verifyOutput", option: "--verify-output", path: ["verify", "output"] },
  { flag: "verifyPattern", option: "--verify-pattern", path: ["verify", "outputPattern"] },
  { flag: "verifyTcp", option: "--verify-tcp", path: ["verify", "tcp"] },
  { flag: "verifyHttp", option: "--verify-http", path: ["verify", "http"] },
  { flag: "verifyHttpStatus", option: "--verify-http-status", path: ["verify", "httpStatus"] },
  { flag: "maxParallel", option: "--max-parallel", path: ["maxParallel"] },
  { flag: "maxParallelPerHost", option: "--max-parallel-per-host", path: ["maxParallelPerHost"] },
  { flag: "canary", option: "--canary", path: ["canary"] },
  { flag: "maxFailures", option: "--max-failures", path: ["maxFailures"] },
  { flag: "keepSnapshots", option: "--keep-snapshots", path: ["keepSnapshots"] },
  { flag: "rebootIfOlderThan", option: "--reboot-if-older-than", path: ["rebootIfOlderThan"] },
  { flag: "loggedInUsers", option: "--logged-in-users", path: ["loggedInUsers"] },
  { flag: "snapshotMode", option: "--snapshot-mode", path: ["snapshotMode"] },
  { flag: "snapshotHeadroom", option: "--snapshot-headroom", path: ["snapshotHeadroom"] },
  { flag: "allowNoRollback", option: "--allow-no-rollback", path: ["allowNoRollback"] },
];

/** What to do when a required key is missing. */
const MISSING_HINTS: Record<string, string> = {
  vms: "give --vm NAME (repeatable) or vms: [NAME, ...] in the runbook",
  patch: "give --patch-exec COMMAND or --patch-hook /PATH, or patch: {exec: COMMAND} or {hook: /PATH} in the runbook",
};

/** A parsed runbook file: its data and where each key sits in it. */
export type Runbook = YamlMapping;

export const RUNBOOK_FILE: YamlFileKind = {
  code: "NS_ERR_RUNBOOK",
  what: "runbook",
  expected: "a mapping of run options such as vms, patch and reboot (see nightshift run start --help)",
  error: (code, message) => new UsageError(code, message),
};

/** Parses runbook text; YAML errors and a top level that is not a mapping are errors naming FILE:LINE:COLUMN. */
export function parseRunbook(text: string, source: string): Runbook {
  return parseYamlMapping(text, source, RUNBOOK_FILE);
}

/** Reads a runbook file ("-" is standard input). */
export function readRunbook(file: string, readStdin?: () => string): Runbook {
  return readYamlMapping(file, RUNBOOK_FILE, readStdin);
}

/** The flags as values of the spec's keys (--patch-exec X is patch: {exec: X}). */
function flagOverrides(flags: RunSpecFlags): ConfigOverride[] {
  return FLAGS.map(({ flag, option, path }) => {
    const value = flags[flag];
    if (value === undefined) return { path, value, flag: option };
    if (flag === "patchExec") return { path, value: { exec: value }, flag: option };
    if (flag === "patchHook") return { path, value: { hook: value }, flag: option };
    return { path, value, flag: option };
  });
}

/**
 * The spec the flags and the file make together, and which flag set which key
 * ("verify.tcp" -> "--verify-tcp"). Another verify key from the file stays; a
 * verify that is not a mapping stays wrong, for the file's error.
 */
export function mergeSpec(flags: RunSpecFlags, file: Record<string, unknown> | null): {
  spec: Record<string, unknown>;
  fromFlag: Map<string, string>;
} {
  const spec: Record<string, unknown> = structuredClone(file ?? {});
  return { spec, fromFlag: applyOverrides(spec, flagOverrides(flags)) };
}

/** The spec, checked: the input for POST /v1/runs. Throws NS_ERR_RUN_SPEC listing every problem. */
export function buildRunSpec(flags: RunSpecFlags, runbook: Runbook | null): RunSpecInput {
  // Flags first, then the runbook's problems in the file's order.
  return checkConfigInput({
    file: runbook,
    overrides: flagOverrides(flags),
    flagNames: FLAGS.map((f) => ({ path: f.path, flag: f.option })),
    problems: specProblems,
    topName: "run options",
    title: (s) => `invalid run options${s.file ? ` (runbook ${s.file}${s.flags ? " and flags" : ""})` : ""}, nothing was started`,
    footer: "Run options and runbook keys: nightshift run start --help",
    error: (message) => new UsageError("NS_ERR_RUN_SPEC", message),
  }) as RunSpecInput;
}

const RUNBOOK_CONTEXT: IssueContext = {
  missingHints: MISSING_HINTS,
  // The refinement on verify as a whole: say it in flags too.
  customNotes: { verify: "--verify-output and --verify-pattern check the output of --verify-exec" },
};

/** Every problem RunSpecSchema finds, in words, plus what the schema cannot see (duplicate VMs, broken regexes). */
export function specProblems(spec: Record<string, unknown>): SpecProblem[] {
  const problems = schemaProblems(RunSpecSchema, spec, RUNBOOK_CONTEXT);
  if (Array.isArray(spec.vms)) {
    const seen = new Set<unknown>();
    spec.vms.forEach((vm, i) => {
      if (seen.has(vm)) problems.push({ path: ["vms", i], message: `${JSON.stringify(vm)} is listed twice` });
      seen.add(vm);
    });
  }
  return [...problems, ...patternProblems(spec)];
}

/** The run options of every VM slot of a plan: a run spec without vms (the plan picks them). */
export const PlanRunSchema = RunSpecSchema.omit({ vms: true });

const PLAN_RUN_CONTEXT: IssueContext = {
  missingHints: { patch: "give patch: {exec: COMMAND} or patch: {hook: /PATH} under run:" },
};

/** Every problem with the run options of a plan (paths relative to them); vms is named as not belonging there. */
export function planRunProblems(run: Record<string, unknown>): SpecProblem[] {
  const problems = schemaProblems(PlanRunSchema, run, PLAN_RUN_CONTEXT);
  for (const problem of problems) {
    if (problem.path.length === 1 && problem.path[0] === "vms") {
      problem.message = 'vms are not set here: the plan puts each machine in its slot (remove "vms")';
    }
  }
  return [...problems, ...patternProblems(run)];
}

function patternProblems(spec: Record<string, unknown>): SpecProblem[] {
  const pattern = isPlainObject(spec.verify) ? spec.verify.outputPattern : undefined;
  if (typeof pattern !== "string") return [];
  try {
    new RegExp(pattern.replaceAll("{vm}", "vm"));
    return [];
  } catch (err) {
    return [{ path: ["verify", "outputPattern"], message: `not a valid regular expression: ${(err as Error).message}` }];
  }
}
