/** Run options from flags and runbook files: merging, and every problem named with its flag or FILE:LINE. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RunSpecSchema } from "../../../shared/runs.js";
import { buildRunSpec, mergeSpec, parseRunbook, readRunbook, specProblems, type RunSpecFlags } from "../../../cli/runbook.js";
import { EXAMPLE_RUNBOOK, parseBudget, parseCount, parseFraction } from "../../../cli/run-start.js";
import { REPO_ROOT } from "../../helpers/run.js";
import { problemLines, usageErrorOf } from "../../helpers/usage-error.js";

/** The error buildRunSpec throws, with its code and message. */
const failure = (flags: RunSpecFlags, text?: string, source = "web.yaml") =>
  usageErrorOf(() => buildRunSpec(flags, text === undefined ? null : parseRunbook(text, source)));

const MINIMAL = { vm: ["web1"], patchExec: "apt-get -y upgrade" } satisfies RunSpecFlags;

describe("flags alone", () => {
  it("become the spec; unset flags stay unset so the schema's defaults apply", () => {
    const spec = buildRunSpec({ ...MINIMAL, vm: ["web1", "hv2/db1"], reboot: "if-required", verifyTcp: [22, 443],
      verifyHttp: ["http://mon.example/check/{vm}"], maxFailures: "10%", keepSnapshots: "7d", allowNoRollback: true }, null);
    expect(spec).toEqual({
      vms: ["web1", "hv2/db1"], patch: { exec: "apt-get -y upgrade" }, reboot: "if-required",
      verify: { tcp: [22, 443], http: ["http://mon.example/check/{vm}"] }, maxFailures: "10%", keepSnapshots: "7d", allowNoRollback: true,
    });
    const parsed = RunSpecSchema.parse(spec);
    expect(parsed.maxParallel).toBe(4);
    expect(parsed.canary).toBe(1);
  });

  it("--patch-hook becomes patch.hook, the verify flags verify's keys", () => {
    const spec = buildRunSpec({ vm: ["a"], patchHook: "/usr/local/sbin/patch", verifyExec: "cat /etc/issue", verifyPattern: "Debian .* {vm}" }, null);
    expect(spec.patch).toEqual({ hook: "/usr/local/sbin/patch" });
    expect(spec.verify).toEqual({ exec: "cat /etc/issue", outputPattern: "Debian .* {vm}" });
  });

  it("nothing given: both required options are named with their flags", () => {
    const err = failure({});
    expect(err.code).toBe("NS_ERR_RUN_SPEC");
    expect(problemLines(err)).toEqual([
      "vms (--vm): missing: give --vm NAME (repeatable) or vms: [NAME, ...] in the runbook",
      "patch (--patch-exec or --patch-hook): missing: give --patch-exec COMMAND or --patch-hook /PATH, " +
        "or patch: {exec: COMMAND} or {hook: /PATH} in the runbook",
    ]);
    expect(err.message).toMatch(/^invalid run options, nothing was started:\n/);
  });

  it("every bad flag at once, each by its flag, with the value given", () => {
    const lines = problemLines(failure({ ...MINIMAL, vm: ["a", "b", "a"], maxParallel: 0, keepSnapshots: "3 days", maxFailures: "abc",
      verifyHttp: ["nope"], verifyTcp: [70000], verifyOutput: "ok", patchTimeout: "soon" }));
    expect(lines).toContain("--max-parallel: must be at least 1, got number 0");
    expect(lines).toContain("--keep-snapshots: expected a duration like 90s, 15m, 1h, 3d");
    expect(lines).toContain("--patch-timeout: expected a duration like 90s, 15m, 1h, 3d");
    expect(lines.find((l) => l.startsWith("--max-failures: "))).toMatch(/percentage like 10%, got "abc"$/);
    expect(lines).toContain('--verify-http: not a valid URL: "nope"');
    expect(lines).toContain("--verify-tcp: must be at most 65535, got number 70000");
    expect(lines).toContain('--vm: "a" is listed twice');
    expect(lines.find((l) => l.startsWith("verify: "))).toMatch(/--verify-output and --verify-pattern check the output of --verify-exec/);
    expect(lines).toHaveLength(8);
  });

  it("a regular expression that cannot compile is caught before sending", () => {
    expect(problemLines(failure({ ...MINIMAL, verifyExec: "x", verifyPattern: "([a-z]+" })))
      .toEqual([expect.stringMatching(/^--verify-pattern: not a valid regular expression: .*Unterminated group/)]);
  });

  it("a relative hook path", () => {
    expect(problemLines(failure({ vm: ["a"], patchHook: "patch.sh" })))
      .toEqual(['--patch-hook: a patch hook is an absolute path on the hypervisor, got "patch.sh"']);
  });
});

describe("runbook files", () => {
  it("the help's example runbook is valid as it stands", () => {
    const spec = buildRunSpec({}, parseRunbook(EXAMPLE_RUNBOOK, "example.yaml"));
    const parsed = RunSpecSchema.parse(spec);
    expect(parsed.vms).toEqual(["web1", "web2", "web3", "hv2/db1"]);
    expect(parsed.patch).toEqual({ exec: "apt-get update && apt-get -y install --only-upgrade openssl" });
    expect(parsed.verify.tcp).toEqual([22, 443]);
    expect(parsed.maxFailures).toBe("10%");
  });

  it("the README's runbook example is the same", () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Maintenance runs: CLI"));
    expect(/```yaml\n([\s\S]*?)```/.exec(section)?.[1]).toBe(EXAMPLE_RUNBOOK);
  });

  it("flags override the file key by key; other verify keys of the file stay", () => {
    const file = "vms: [web1, web2]\npatch: {exec: apt-get -y upgrade}\nreboot: always\nverify:\n  exec: systemctl is-active nginx\n  output: active\n  tcp: [22]\n";
    const spec = buildRunSpec({ vm: ["web9"], patchHook: "/opt/patch", reboot: "never", verifyTcp: [443] }, parseRunbook(file, "f.yaml"));
    expect(spec).toEqual({
      vms: ["web9"], patch: { hook: "/opt/patch" }, reboot: "never",
      verify: { exec: "systemctl is-active nginx", output: "active", tcp: [443] },
    });
  });

  it("mergeSpec never changes the file's data and says which flag set which key", () => {
    const data = { vms: ["a"], verify: { exec: "x" } };
    const { spec, fromFlag } = mergeSpec({ verifyOutput: "ok", canary: 0 }, data);
    expect(data).toEqual({ vms: ["a"], verify: { exec: "x" } });
    expect(spec).toEqual({ vms: ["a"], verify: { exec: "x", output: "ok" }, canary: 0 });
    expect([...fromFlag]).toEqual([["verify.output", "--verify-output"], ["canary", "--canary"]]);
  });

  it("problems name FILE:LINE and the key, in the file's order; flags first", () => {
    const text = [
      "name: test",            // 1
      "vms: [web1]",           // 2
      "max-parallel: 3",       // 3
      "patch:",                // 4
      "  exec: x",             // 5
      "  hook: /y",            // 6
      "verify:",               // 7
      "  tcp: [22, 0]",        // 8
      "  tpc: [80]",           // 9
      "keepSnapshots: 90",     // 10
      "canary: \"2\"",         // 11
      "reboot: sometimes",     // 12
    ].join("\n") + "\n";
    const err = failure({ maxParallelPerHost: 0 }, text, "web.yaml");
    expect(err.message).toMatch(/^invalid run options \(runbook web\.yaml and flags\), nothing was started:\n/);
    expect(problemLines(err)).toEqual([
      "--max-parallel-per-host: must be at least 1, got number 0",
      expect.stringMatching(/^web\.yaml:3: max-parallel: unknown key "max-parallel" \(did you mean maxParallel\?\); known keys: name, vms, /),
      "web.yaml:5: patch: give exec or hook, not both",
      "web.yaml:8: verify.tcp[1]: must be at least 1, got number 0",
      expect.stringMatching(/^web\.yaml:9: verify\.tpc: unknown key "tpc"; known keys: exec, output, outputPattern, tcp, http/),
      "web.yaml:10: keepSnapshots: expected a duration like 90s, 15m, 1h, 3d (text with a unit), got number 90",
      'web.yaml:11: canary: expected number, got "2"',
      'web.yaml:12: reboot: must be one of never, always, if-required, got "sometimes"',
    ]);
  });

  it("a missing key in a file is named with both its runbook key and its flag", () => {
    expect(problemLines(failure({}, "patch: {exec: x}\n"))).toEqual([
      "vms (--vm): missing: give --vm NAME (repeatable) or vms: [NAME, ...] in the runbook",
    ]);
  });

  it("a bare number is no duration, from a flag or the file, as text or as a number", () => {
    expect(problemLines(failure({ ...MINIMAL, patchTimeout: "30" }))).toEqual(["--patch-timeout: a bare number is not a duration: give its unit, like 30s or 30m"]);
    const text = "vms: [a]\npatch: {exec: x}\npatchTimeout: \"30\"\nkeepSnapshots: 3\nrebootIfOlderThan: \"90\"\n";
    expect(problemLines(failure({}, text))).toEqual([
      "web.yaml:3: patchTimeout: a bare number is not a duration: give its unit, like 30s or 30m",
      "web.yaml:4: keepSnapshots: expected a duration like 90s, 15m, 1h, 3d (text with a unit), got number 3",
      "web.yaml:5: rebootIfOlderThan: a bare number is not a duration: give its unit, like 90s or 90m",
    ]);
    expect(RunSpecSchema.safeParse({ vms: ["a"], patch: { exec: "x" }, patchTimeout: "30" }).success).toBe(false);
  });

  it("a flag fixes the file's bad value (its problem is gone)", () => {
    const text = "vms: [a]\npatch: {exec: x}\nkeepSnapshots: forever\n";
    expect(problemLines(failure({}, text))).toEqual(["web.yaml:3: keepSnapshots: expected a duration like 90s, 15m, 1h, 3d"]);
    expect(buildRunSpec({ keepSnapshots: "14d" }, parseRunbook(text, "web.yaml")).keepSnapshots).toBe("14d");
  });

  it("a patch that is not a mapping, one with an unknown key, one with neither exec nor hook", () => {
    expect(problemLines(failure({}, "vms: [a]\npatch: apt-get upgrade\n"))).toEqual([
      'web.yaml:2: patch: expected exec: COMMAND or hook: /PATH (a mapping), got "apt-get upgrade"',
    ]);
    expect(problemLines(failure({}, "vms: [a]\npatch:\n  command: x\n"))).toEqual([
      'web.yaml:3: patch.command: unknown key "command"; a patch is exec: COMMAND or hook: /PATH',
    ]);
    expect(problemLines(failure({}, "vms: [a]\npatch: {}\n"))).toEqual(["web.yaml:2: patch: needs exec: COMMAND or hook: /PATH"]);
  });

  it("singular and snake_case keys get a suggestion", () => {
    const lines = problemLines(failure({}, "vm: [a]\npatch: {exec: x}\nkeep_snapshots: 3d\n"));
    expect(lines[0]).toMatch(/^vms \(--vm\): missing/);
    expect(lines).toContainEqual(expect.stringMatching(/^web\.yaml:1: vm: unknown key "vm" \(did you mean vms\?\)/));
    expect(lines).toContainEqual(expect.stringMatching(/^web\.yaml:3: keep_snapshots: unknown key "keep_snapshots" \(did you mean keepSnapshots\?\)/));
  });

  it("specProblems is empty for a valid spec", () => {
    expect(specProblems({ vms: ["a"], patch: { exec: "x" } })).toEqual([]);
  });
});

describe("runbook syntax and reading", () => {
  const runbookError = (fn: () => unknown) => {
    const err = usageErrorOf(fn);
    expect(err.code).toBe("NS_ERR_RUNBOOK");
    return err;
  };

  it("YAML errors name FILE:LINE:COLUMN", () => {
    expect(runbookError(() => parseRunbook("vms: [a\n", "x.yaml")).message)
      .toBe("x.yaml:2:1: Flow sequence in block collection must be sufficiently indented and end with a ] (the runbook is YAML)");
    expect(runbookError(() => parseRunbook("vms: [a]\nvms: [b]\n", "x.yaml")).message)
      .toBe("x.yaml:2:1: Map keys must be unique (the runbook is YAML)");
  });

  it("an empty file, a list, a scalar, an unresolved alias", () => {
    expect(runbookError(() => parseRunbook("", "x.yaml")).message).toMatch(/^x\.yaml is empty: expected a mapping of run options/);
    expect(runbookError(() => parseRunbook("# only a comment\n", "x.yaml")).message).toMatch(/^x\.yaml is empty/);
    expect(runbookError(() => parseRunbook("- web1\n", "x.yaml")).message).toMatch(/^x\.yaml: expected a mapping of run options .*, got a list$/);
    expect(runbookError(() => parseRunbook("web1\n", "x.yaml")).message).toMatch(/got a string$/);
    expect(runbookError(() => parseRunbook("vms: *x\n", "x.yaml")).message).toMatch(/^x\.yaml: Unresolved alias/);
  });

  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "nightshift-runbook-")); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads a file, or standard input for -", () => {
    const file = path.join(dir, "ok.yaml");
    fs.writeFileSync(file, "vms: [a]\npatch: {exec: x}\n");
    expect(readRunbook(file).data).toEqual({ vms: ["a"], patch: { exec: "x" } });
    const stdin = readRunbook("-", () => "vms: [b]\n");
    expect(stdin.source).toBe("stdin");
    expect(stdin.data).toEqual({ vms: ["b"] });
  });

  it("a missing file and a directory say so", () => {
    expect(runbookError(() => readRunbook(path.join(dir, "nope.yaml"))).message).toBe(`cannot read runbook ${path.join(dir, "nope.yaml")}: no such file`);
    expect(runbookError(() => readRunbook(dir)).message).toBe(`cannot read runbook ${dir}: it is a directory`);
  });
});

describe("flag value parsers", () => {
  it("counts are whole numbers", () => {
    expect(parseCount("0")).toBe(0);
    expect(parseCount("12")).toBe(12);
    for (const bad of ["", "-1", "1.5", "two", "1e3"]) expect(() => parseCount(bad), bad).toThrow("expected a whole number");
  });

  it("the failure budget: a count as a number, anything else as written", () => {
    expect(parseBudget("2")).toBe(2);
    expect(parseBudget("10%")).toBe("10%");
    expect(parseBudget("lots")).toBe("lots");
  });

  it("fractions", () => {
    expect(parseFraction("0.25")).toBe(0.25);
    expect(() => parseFraction("a quarter")).toThrow("expected a number such as 0.1");
  });
});
