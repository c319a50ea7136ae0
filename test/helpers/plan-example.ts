/** deploy/examples/one-few-many.yaml as the CLI splits it: the wave spec, and the run options every VM slot runs. */
import fs from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { REPO_ROOT } from "./run.js";

export const PLAN_EXAMPLE_FILE = path.join(REPO_ROOT, "deploy/examples/one-few-many.yaml");

export function readPlanExample(): { spec: Record<string, unknown>; run: unknown } {
  const { run, ...spec } = parseYaml(fs.readFileSync(PLAN_EXAMPLE_FILE, "utf8")) as Record<string, unknown>;
  return { spec, run };
}
