/** The generated reference documents (scripts/docs.ts) match what the code says: `npm run docs` writes them. */
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { DOCS } from "../../scripts/docs.js";
import { configKeys } from "../../shared/config.js";
import { AgentConfigSchema, AGENT_ENV_PREFIX } from "../../agent/config.js";
import { ControllerConfigSchema, CONTROLLER_ENV_PREFIX } from "../../controller/config.js";
import { REPO_ROOT } from "../helpers/run.js";

describe.each(DOCS)("$file", (doc) => {
  it("is what the code generates (run npm run docs after changing a schema)", () => {
    const file = path.join(REPO_ROOT, doc.file);
    expect(fs.existsSync(file), `${doc.file} is missing: run npm run docs`).toBe(true);
    expect(fs.readFileSync(file, "utf8"), `${doc.file} is out of date: run npm run docs`).toBe(doc.render());
  });
});

describe("docs/configuration.md", () => {
  const text = DOCS.find((d) => d.file === "docs/configuration.md")!.render();

  it("has a row for every key of both daemons, with its variable and a meaning", () => {
    for (const [schema, prefix] of [[AgentConfigSchema, AGENT_ENV_PREFIX], [ControllerConfigSchema, CONTROLLER_ENV_PREFIX]] as const) {
      for (const key of configKeys(schema, prefix)) {
        const row = text.split("\n").find((l) => l.startsWith(`| \`${key.path.join(".")}\` | \`${key.env}\``));
        expect(row, key.path.join(".")).toBeDefined();
        expect(key.node.description, `${key.path.join(".")} has no .describe()`).toBeTruthy();
      }
    }
  });

  it("the README's Configuration section links to it instead of copying the tables", () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("\n## Configuration\n"), readme.indexOf("\n## ", readme.indexOf("\n## Configuration\n") + 5));
    expect(section).toContain("docs/configuration.md");
    expect(section).not.toContain("| key | environment | default | meaning |");
  });
});
