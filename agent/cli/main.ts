#!/usr/bin/env node
/** The agent binary: `nightshift-agent <command>`. The command tree is agent/cli/program.ts. */
import { agentProgram } from "./program.js";
import { NightshiftError } from "../../shared/errors.js";

try {
  await agentProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof NightshiftError) {
    process.stderr.write(`nightshift-agent: ${err.message} (${err.code})\n`);
  } else {
    process.stderr.write(`nightshift-agent: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  }
  process.exitCode = 1;
}
