/**
 * What the agent's own configuration lets a step run. Matching is exact, on
 * purpose: a prefix or pattern match would let `apt-get -y upgrade; curl ... | sh`
 * through an entry for `apt-get -y upgrade`. The operator lists whole command
 * lines and whole paths.
 */
import type { MaintenanceConfig } from "./types.js";

/** Null when `command` may run in a guest; else why not, naming the config key to change. */
export function guestCommandRefusal(config: MaintenanceConfig, command: string): string | null {
  if (config.allowAnyGuestCommand || config.guestCommands.includes(command)) return null;
  return `guest command \`${command}\` is not allowed by this agent's config: add it, exactly as written, to ` +
    "maintenance.guestCommands (environment NIGHTSHIFT_AGENT_MAINTENANCE_GUEST_COMMANDS, a JSON list), " +
    "or set maintenance.allowAnyGuestCommand: true";
}

/** Null when `hookPath` is listed; else why not. The file itself is checked by hook-file.ts. */
export function hookListingRefusal(config: MaintenanceConfig, hookPath: string): string | null {
  if (config.hooks.includes(hookPath)) return null;
  return `hook ${hookPath} is not listed in this agent's config: add its absolute path to maintenance.hooks ` +
    "(environment NIGHTSHIFT_AGENT_MAINTENANCE_HOOKS)";
}
