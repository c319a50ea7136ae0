/**
 * A run's options (RunSpec) from `run start`'s flags and an optional runbook
 * YAML file (-f): the file's keys are those of RunSpecSchema, flags override
 * the file key by key (verify's keys one by one), and the result is checked
 * with RunSpecSchema before anything is sent. Every problem is reported at
 * once and says where it came from: FILE:LINE for the runbook, the flag
 * otherwise, and what is expected.
 */
import { RunSpecSchema, VerifySpecSchema, type RunSpecInput } from "../shared/runs.js";
import { UsageError } from "./errors.js";
import {
  describeIssues, isPlainObject, locateInFile, parseYamlMapping, pathName, readYamlMapping,
  type IssueContext, type SpecProblem, type YamlFileKind, type YamlMapping,
} from "./spec-check.js";

export type { SpecProblem } from "./spec-check.js";

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

const DURATION_KEYS = new Set(["patchTimeout", "keepSnapshots", "rebootIfOlderThan"]);

/** A parsed runbook file: its data and where each key sits in it. */
export type Runbook = YamlMapping;

export const RUNBOOK_FILE: YamlFileKind = {
  code: "NS_ERR_RUNBOOK",
  what: "runbook",
  expected: "a mapping of run options such as vms, patch and reboot (see nightshift run start --help)",
};

/** Parses runbook text; YAML errors and a top level that is not a mapping are errors naming FILE:LINE:COLUMN. */
export function parseRunbook(text: string, source: string): Runbook {
  return parseYamlMapping(text, source, RUNBOOK_FILE);
}

/** Reads a runbook file ("-" is standard input). */
export function readRunbook(file: string, readStdin?: () => string): Runbook {
  return readYamlMapping(file, RUNBOOK_FILE, readStdin);
}

/** The spec the flags and the file make together, and which flag set which key ("verify.tcp" -> "--verify-tcp"). */
export function mergeSpec(flags: RunSpecFlags, file: Record<string, unknown> | null): {
  spec: Record<string, unknown>;
  fromFlag: Map<string, string>;
} {
  const spec: Record<string, unknown> = structuredClone(file ?? {});
  const fromFlag = new Map<string, string>();
  for (const { flag, option, path } of FLAGS) {
    const value = flags[flag];
    if (value === undefined) continue;
    const key = path.join(".");
    if (flag === "patchExec") spec.patch = { exec: value };
    else if (flag === "patchHook") spec.patch = { hook: value };
    else if (path.length === 1) spec[path[0]!] = value;
    else {
      // Another verify key from the file stays; a verify that is not a mapping stays wrong, for the file's error.
      if (spec.verify === undefined) spec.verify = {};
      if (!isPlainObject(spec.verify)) continue;
      spec.verify[path[1]!] = value;
    }
    fromFlag.set(key, option);
  }
  return { spec, fromFlag };
}

/** The spec, checked: the input for POST /v1/runs. Throws NS_ERR_RUN_SPEC listing every problem. */
export function buildRunSpec(flags: RunSpecFlags, runbook: Runbook | null): RunSpecInput {
  const { spec, fromFlag } = mergeSpec(flags, runbook?.data ?? null);
  const problems = specProblems(spec);
  if (problems.length === 0) return spec as RunSpecInput;
  // Flags first, then the runbook's problems in the file's order.
  const located = problems.map((p, i) => ({ ...locate(p, fromFlag, runbook), message: p.message, i }));
  located.sort((a, b) => (a.line ?? -1) - (b.line ?? -1) || a.i - b.i);
  const lines = located.map((p) => `  ${p.where}: ${p.message}`);
  const source = runbook ? ` (runbook ${runbook.source}${fromFlag.size > 0 ? " and flags" : ""})` : "";
  throw new UsageError("NS_ERR_RUN_SPEC",
    `invalid run options${source}, nothing was started:\n${lines.join("\n")}\n` +
    "Run options and runbook keys: nightshift run start --help");
}

const RUN_OPTION_KEYS = {
  verify: Object.keys(VerifySpecSchema.shape),
  patch: ["exec", "hook"],
} as const;

const RUNBOOK_CONTEXT: IssueContext = {
  knownKeys: { "": Object.keys(RunSpecSchema.shape), ...RUN_OPTION_KEYS },
  missingHints: MISSING_HINTS,
  durationKeys: DURATION_KEYS,
  // The refinement on verify as a whole: say it in flags too.
  customNotes: { verify: "--verify-output and --verify-pattern check the output of --verify-exec" },
};

/** Every problem RunSpecSchema finds, in words, plus what the schema cannot see (duplicate VMs, broken regexes). */
export function specProblems(spec: Record<string, unknown>): SpecProblem[] {
  const result = RunSpecSchema.safeParse(spec);
  const problems = result.success ? [] : describeIssues(result.error.issues, spec, RUNBOOK_CONTEXT);
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
  knownKeys: { "": Object.keys(PlanRunSchema.shape), ...RUN_OPTION_KEYS },
  missingHints: { patch: "give patch: {exec: COMMAND} or patch: {hook: /PATH} under run:" },
  durationKeys: DURATION_KEYS,
};

/** Every problem with the run options of a plan (paths relative to them); vms is named as not belonging there. */
export function planRunProblems(run: Record<string, unknown>): SpecProblem[] {
  const result = PlanRunSchema.safeParse(run);
  const problems = result.success ? [] : describeIssues(result.error.issues, run, PLAN_RUN_CONTEXT);
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

/** "--max-parallel", "web.yaml:7: keepSnapshots" (with its line), or "vms (--vm)" for a key that is nowhere yet. */
function locate(problem: SpecProblem, fromFlag: Map<string, string>, runbook: Runbook | null): { where: string; line: number | null } {
  const keys = problem.path.map(String);
  for (let n = keys.length; n > 0; n--) {
    const flag = fromFlag.get(keys.slice(0, n).join("."));
    if (flag) return { where: flag, line: null };
  }
  const name = pathName(problem.path);
  const inFile = runbook ? locateInFile(problem, runbook) : null;
  if (inFile) return inFile;
  const flags = FLAGS.filter((f) => f.path.join(".") === keys.join(".")).map((f) => f.option);
  return { where: flags.length > 0 ? `${name || "run options"} (${flags.join(" or ")})` : name || "run options", line: null };
}
