/**
 * `plan week --spec FILE`: a YAML wave spec (shared/windows.ts WaveSpecSchema)
 * with a `run:` key holding the run options every VM slot executes (a runbook
 * without vms). The file is checked before anything is sent and every
 * problem is named with FILE:LINE, the key's path and what is expected.
 */
import type { PlanRequest } from "../shared/plans.js";
import { WaveSpecSchema } from "../shared/windows.js";
import { checkConfigInput, schemaProblems } from "../shared/config.js";
import { describeValue, isPlainObject, type IssueContext, type SpecProblem } from "../shared/config-issues.js";
import { readYamlMapping, type YamlFileKind, type YamlMapping } from "../shared/yaml-file.js";
import { UsageError } from "./errors.js";
import { planRunProblems } from "./runbook.js";

export const PLAN_FILE: YamlFileKind = {
  code: "NS_ERR_PLAN_FILE",
  what: "plan spec",
  expected: "a mapping with the wave spec's keys (name, timezone, waves, ...) and run: (see nightshift plan week --help)",
  error: (code, message) => new UsageError(code, message),
};

export function readPlanFile(file: string, readStdin?: () => string): YamlMapping {
  return readYamlMapping(file, PLAN_FILE, readStdin);
}

const WAVE_CONTEXT: IssueContext = {
  customShowsValue: true,
  // The spec is checked without run:, which is a key of the file all the same.
  knownKeys: { "": [...Object.keys(WaveSpecSchema.shape), "run"] },
  missingHints: {
    waves: "give waves: a list of {name, start, select: [...]} (see nightshift plan week --help)",
    "waves.name": "each wave needs a name",
    "waves.start": 'give start: "mon 00:00", "week 2 tue 06:00" or an ISO time with offset',
    "waves.select": "give select: a list of rules such as {role: router, count: 1}",
  },
};

const RUN_HINT = "the run options every VM slot executes (a runbook's keys without vms), " +
  "e.g. run: {patch: {exec: apt-get -y upgrade}, reboot: if-required}";

/** The problems of a plan file's data: the wave spec's, and its run options' under "run". */
export function planSpecProblems(data: Record<string, unknown>): SpecProblem[] {
  const { run, ...spec } = data;
  const problems = schemaProblems(WaveSpecSchema, spec, WAVE_CONTEXT);
  if (run === undefined || run === null) problems.push({ path: ["run"], message: `missing: ${RUN_HINT}` });
  else if (!isPlainObject(run)) problems.push({ path: ["run"], message: `expected a mapping of run options, got ${describeValue(run)}: ${RUN_HINT}` });
  else problems.push(...planRunProblems(run).map((p) => ({ path: ["run", ...p.path], message: p.message })));
  return problems;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** --start: a date (YYYY-MM-DD, in the spec's zone) or an ISO time with an offset; null when fine. */
export function startProblem(start: string): string | null {
  if (DATE.test(start)) {
    const ms = Date.parse(`${start}T00:00:00Z`);
    if (!Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === start) return null;
  } else if (ISO_TIME.test(start) && !Number.isNaN(Date.parse(start))) return null;
  return `expected a date YYYY-MM-DD (the plan's first week is the Monday-to-Sunday week that holds it) or an ISO time ` +
    `with an offset like 2026-03-02T06:00:00+01:00, got ${JSON.stringify(start)}`;
}

/** The POST /v1/plans body from the file and the flags; throws NS_ERR_WAVE_SPEC listing every problem. */
export function buildPlanRequest(file: YamlMapping, flags: { start?: string | undefined; dryRun?: boolean | undefined }): PlanRequest {
  const flagProblem = flags.start === undefined ? null : startProblem(flags.start);
  const data = checkConfigInput({
    file,
    problems: (input) => [...(flagProblem ? [{ path: [], where: "--start", message: flagProblem }] : []), ...planSpecProblems(input)],
    title: (s) => `invalid plan spec ${s.file}, nothing was planned`,
    footer: "The spec format: nightshift plan week --help",
    error: (message) => new UsageError("NS_ERR_WAVE_SPEC", message),
  });
  const { run, ...spec } = data;
  return {
    spec: spec as PlanRequest["spec"],
    run: run as PlanRequest["run"],
    ...(flags.start !== undefined ? { start: flags.start } : {}),
    dryRun: flags.dryRun === true,
  };
}
