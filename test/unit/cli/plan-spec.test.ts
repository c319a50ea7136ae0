/** `plan week --spec FILE`: a wave spec with run:, checked before sending, every problem with FILE:LINE. */
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { PlanRequestSchema } from "../../../shared/plans.js";
import { buildPlanRequest, PLAN_FILE, planSpecProblems, readPlanFile, startProblem } from "../../../cli/plan-spec.js";
import { EXAMPLE_PLAN_SPEC } from "../../../cli/plan.js";
import { parseYamlMapping } from "../../../shared/yaml-file.js";
import { problemLines, usageErrorOf } from "../../helpers/usage-error.js";
import { REPO_ROOT } from "../../helpers/run.js";

const file = (text: string, source = "week.yaml") => parseYamlMapping(text, source, PLAN_FILE);

const RUN = "run:\n  patch: {exec: apt-get -y upgrade}\n";

describe("valid specs", () => {
  it("the help's example becomes the API's request: the spec without run, run, start and dryRun", () => {
    const request = buildPlanRequest(file(EXAMPLE_PLAN_SPEC), { start: "2026-03-02", dryRun: true });
    const parsed = PlanRequestSchema.parse(request);
    expect(parsed.spec.waves.map((w) => w.name)).toEqual(["automation", "one-of-each", "test", "few", "many", "remainder", "hypervisors", "last-router"]);
    expect(parsed.spec.timezone).toBe("Europe/Berlin");
    expect(parsed.run.patch).toEqual({ exec: "apt-get update && apt-get -y install --only-upgrade openssl" });
    expect(parsed.run.reboot).toBe("if-required");
    expect(parsed.start).toBe("2026-03-02");
    expect(parsed.dryRun).toBe(true);
    expect("run" in request.spec).toBe(false);
  });

  it("the README's example is the help's", () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Windows and plans: CLI"));
    expect(/```yaml\n([\s\S]*?)```/.exec(section)?.[1]).toBe(EXAMPLE_PLAN_SPEC);
  });

  it("deploy/examples/one-few-many.yaml passes as shipped (its header's command works)", () => {
    const example = fs.readFileSync(path.join(REPO_ROOT, "deploy/examples/one-few-many.yaml"), "utf8");
    const request = buildPlanRequest(file(example, "one-few-many.yaml"), {});
    expect(request.dryRun).toBe(false);
    expect(request.start).toBeUndefined();
    expect(PlanRequestSchema.parse(request).spec.waves).toHaveLength(8);
  });

  it("--start: a real date or an ISO time with an offset", () => {
    for (const ok of ["2026-03-02", "2026-03-02T06:00:00+01:00", "2026-03-02T06:00Z"]) expect(startProblem(ok), ok).toBeNull();
    for (const bad of ["2026-02-30", "tomorrow", "2026-03-02T06:00", "03/02/2026"]) {
      expect(startProblem(bad), bad).toMatch(/^expected a date YYYY-MM-DD .* or an ISO time with an offset/);
    }
  });
});

describe("problems", () => {
  it("every problem of the waves and of run:, by FILE:LINE in the file's order; --start first", () => {
    const text = [
      "name: broken",                                          // 1
      "timezone: Mars/Olympus",                                // 2
      "max-parallel: 3",                                       // 3
      "waves:",                                                // 4
      "  - name: a",                                           // 5
      "    start: mon 25:00",                                  // 6
      "    failureBudget: lots",                               // 7
      "    select:",                                           // 8
      "      - { role: test, count: 1, percent: 5 }",          // 9
      "      - { rol: test }",                                 // 10
      "      - { role: db, percent: 0 }",                      // 11
      "  - name: a",                                           // 12
      "    start: tue 00:00",                                  // 13
      "    select: []",                                        // 14
      "run:",                                                  // 15
      "  vms: [web1]",                                         // 16
      "  patch: {exec: x}",                                    // 17
      "  reboot: maybe",                                       // 18
      "  verify: {tpc: [22]}",                                 // 19
      "  keepSnapshots: 3",                                    // 20
    ].join("\n") + "\n";
    const err = usageErrorOf(() => buildPlanRequest(file(text), { start: "soon" }));
    expect(err.code).toBe("NS_ERR_WAVE_SPEC");
    expect(err.message).toMatch(/^invalid plan spec week\.yaml, nothing was planned:\n/);
    expect(err.message).toMatch(/\nThe spec format: nightshift plan week --help$/);
    expect(problemLines(err)).toEqual([
      expect.stringMatching(/^--start: expected a date YYYY-MM-DD .*, got "soon"$/),
      'week.yaml:2: timezone: unknown time zone: expected an IANA name like Europe/Berlin, America/New_York or UTC, got "Mars/Olympus"',
      expect.stringMatching(/^week\.yaml:3: max-parallel: unknown key "max-parallel" \(did you mean maxParallel\?\); known keys: name, timezone, maxParallel, .*, waves, run$/),
      'week.yaml:6: waves[0].start: expected "DAY HH:MM" (mon 06:00), "week N DAY HH:MM" (week 2 tue 00:00) or an ISO date-time with offset, got "mon 25:00"',
      'week.yaml:7: waves[0].failureBudget: expected a count of at least 1 like 2, or a percentage like 10%, got "lots"',
      "week.yaml:9: waves[0].select[0]: give count or percent, not both",
      'week.yaml:10: waves[0].select[1].rol: unknown key "rol" (did you mean role?); known keys: role, kind, tested, count, percent',
      "week.yaml:11: waves[0].select[2].percent: must be more than 0, got number 0",
      "week.yaml:12: waves[1].name: wave name a is used twice",
      "week.yaml:12: waves[1].end: the last wave needs an end",
      "week.yaml:14: waves[1].select: needs at least 1 entry",
      'week.yaml:16: run.vms: vms are not set here: the plan puts each machine in its slot (remove "vms")',
      'week.yaml:18: run.reboot: must be one of never, always, if-required, got "maybe"',
      expect.stringMatching(/^week\.yaml:19: run\.verify\.tpc: unknown key "tpc"; known keys: exec, output, outputPattern, tcp, http/),
      "week.yaml:20: run.keepSnapshots: expected a duration like 90s, 15m, 1h, 3d (text with a unit), got number 3",
    ]);
  });

  it("no run:, or one that is not a mapping, or one without a patch", () => {
    const waves = "waves:\n  - {name: all, start: mon 00:00, end: sun 23:00, select: [{}]}\n";
    expect(planSpecProblems(file(waves).data)).toEqual([{ path: ["run"], message: expect.stringMatching(
      /^missing: the run options every VM slot executes \(a runbook's keys without vms\), e\.g\. run: \{patch: /) }]);
    expect(problemLines(usageErrorOf(() => buildPlanRequest(file(`${waves}run: apt-get upgrade\n`), {}))))
      .toEqual([expect.stringMatching(/^week\.yaml:3: run: expected a mapping of run options, got "apt-get upgrade": the run options/)]);
    expect(problemLines(usageErrorOf(() => buildPlanRequest(file(`${waves}run:\n  reboot: always\n`), {}))))
      .toEqual(["week.yaml:4: run.patch: missing: give patch: {exec: COMMAND} or patch: {hook: /PATH} under run:"]);
  });

  it("no waves: named with what to give", () => {
    expect(problemLines(usageErrorOf(() => buildPlanRequest(file(`name: x\n${RUN}`), {}))))
      .toEqual(["week.yaml: waves: missing: give waves: a list of {name, start, select: [...]} (see nightshift plan week --help)"]);
  });

  it("a verify pattern that does not compile", () => {
    const text = `waves:\n  - {name: all, start: mon 00:00, end: sun 23:00, select: [{}]}\n${RUN}  verify: {exec: x, outputPattern: "([a-z"}\n`;
    expect(problemLines(usageErrorOf(() => buildPlanRequest(file(text), {}))))
      .toEqual([expect.stringMatching(/^week\.yaml:5: run\.verify\.outputPattern: not a valid regular expression: /)]);
  });

  it("YAML errors and unreadable files are NS_ERR_PLAN_FILE, naming FILE:LINE:COLUMN", () => {
    const syntax = usageErrorOf(() => file("waves: [a\nrun: {}\n"));
    expect(syntax.code).toBe("NS_ERR_PLAN_FILE");
    expect(syntax.message).toMatch(/^week\.yaml:2:1: .* \(the plan spec is YAML\)$/);
    expect(usageErrorOf(() => file("")).message).toMatch(/^week\.yaml is empty: expected a mapping with the wave spec's keys/);
    expect(usageErrorOf(() => readPlanFile("/nonexistent/week.yaml")).message).toBe("cannot read plan spec /nonexistent/week.yaml: no such file");
  });
});
