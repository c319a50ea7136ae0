/**
 * The `nightshift-agent` command tree, without running it: agent/cli/main.ts
 * parses the command line with it, scripts/docs/cli.ts writes docs/cli.md from its help.
 */
import { Command } from "commander";
import { virtCommand } from "./virt.js";
import { checkConfigCommand, runCommand } from "./run.js";
import { checkCommand } from "./check.js";
import { AGENT_VERSION } from "../version.js";

export function agentProgram(): Command {
  return new Command("nightshift-agent")
    .description("nightshift host agent: reports this hypervisor's domains to the controller and runs maintenance steps")
    .version(AGENT_VERSION)
    .showHelpAfterError()
    .addCommand(virtCommand())
    .addCommand(runCommand())
    .addCommand(checkCommand())
    .addCommand(checkConfigCommand());
}
