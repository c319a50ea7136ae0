#!/usr/bin/env node
/** The controller binary: `nightshift-controller`. The command tree is controller/cli/program.ts. */
import { NightshiftError } from "../../shared/errors.js";
import { controllerProgram } from "./program.js";

const program = controllerProgram();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(err instanceof NightshiftError
    ? `nightshift-controller: ${err.message} (${err.code})\n`
    : `nightshift-controller: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
