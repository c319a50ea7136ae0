#!/usr/bin/env node
/** The operator CLI: `nightshift <command>`. The command tree is cli/program.ts; this runs it and turns errors into exit statuses. */
import { CommanderError } from "commander";
import { NightshiftError } from "../shared/errors.js";
import { nightshiftProgram } from "./program.js";
import { UsageError } from "./errors.js";
import { escapeControl } from "../shared/terminal-text.js";

const EXIT_ERROR = 1;
const EXIT_USAGE = 2;

// `nightshift events | head`: a reader that goes away is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const program = nightshiftProgram();

// Error messages can quote what an agent reported (a VM's name): printed with control characters escaped.
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed the message or the help already; --help and --version exit 0.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof UsageError) {
    // Found before anything was sent (a runbook, the run's options): the operator's to fix.
    process.stderr.write(`nightshift: ${escapeControl(err.message, true)} (${err.code})\n`);
    process.exitCode = EXIT_USAGE;
  } else if (err instanceof NightshiftError) {
    process.stderr.write(`nightshift: ${escapeControl(err.message, true)} (${err.code})\n`);
    process.exitCode = EXIT_ERROR;
  } else {
    process.stderr.write(`nightshift: unexpected error: ${escapeControl(err instanceof Error ? err.stack ?? err.message : String(err), true)}\n`);
    process.exitCode = EXIT_ERROR;
  }
}
