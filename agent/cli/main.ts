#!/usr/bin/env node
/** The agent binary: `nightshift-agent <command>`. */
import { Command } from "commander";
import { virtCommand } from "./virt.js";
import { checkConfigCommand, runCommand } from "./run.js";
import { checkCommand } from "./check.js";
import { NightshiftError } from "../../shared/errors.js";
import { AGENT_VERSION } from "../version.js";

const program = new Command("nightshift-agent")
  .description("nightshift host agent: reports this hypervisor's domains to the controller and runs maintenance steps")
  .version(AGENT_VERSION)
  .showHelpAfterError()
  .addCommand(virtCommand());
program.addCommand(runCommand());
program.addCommand(checkCommand());
program.addCommand(checkConfigCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof NightshiftError) {
    process.stderr.write(`nightshift-agent: ${err.message} (${err.code})\n`);
  } else {
    process.stderr.write(`nightshift-agent: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  }
  process.exitCode = 1;
}
