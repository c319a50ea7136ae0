/**
 * docs/cli.md is what the binaries print: every `## COMMAND` section of the
 * reference against `COMMAND --help` run as a real process into a pipe, the
 * way an operator reads it (`nightshift run start --help | less`).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT, runNode } from "../../helpers/run.js";

const BINARIES: Record<string, string> = {
  nightshift: "dist/cli/main.js",
  "nightshift-agent": "dist/agent/cli/main.js",
  "nightshift-controller": "dist/controller/cli/main.js",
};

const doc = fs.readFileSync(path.join(REPO_ROOT, "docs/cli.md"), "utf8");
const sections = [...doc.matchAll(/^## (\S+(?: \S+)*)\n\n```\n([\s\S]*?)\n```$/gm)].map((m) => ({ command: m[1]!, help: m[2]! }));

describe("docs/cli.md", () => {
  it("has a section for every command of the three binaries", () => {
    expect(sections.length).toBeGreaterThan(40);
    for (const bin of Object.keys(BINARIES)) expect(sections.map((s) => s.command), bin).toContain(bin);
    expect(sections.map((s) => s.command)).toEqual(expect.arrayContaining(["nightshift run start", "nightshift-agent check", "nightshift-controller check-config"]));
  });

  it("holds exactly what each command's --help prints", async () => {
    const differ: string[] = [];
    // A few processes at a time: each is a node start (~150 ms).
    for (let i = 0; i < sections.length; i += 4) {
      await Promise.all(sections.slice(i, i + 4).map(async ({ command, help }) => {
        const [bin, ...args] = command.split(" ");
        const run = await runNode(path.join(REPO_ROOT, BINARIES[bin!]!), [...args, "--help"], { env: { COLUMNS: "200" } });
        expect(run.code, `${command} --help: ${run.stderr}`).toBe(0);
        if (run.stdout.trimEnd() !== help) differ.push(command);
      }));
    }
    expect(differ, "run npm run docs").toEqual([]);
  }, 120_000);
});
