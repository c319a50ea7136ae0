/**
 * SIGHUP: the agent re-reads its configuration and applies what can change
 * while it runs. The allowlists (maintenance.guestCommands, .hooks,
 * .allowAnyGuestCommand) are read by the step executor at every step, and
 * the probe settings by the probe runner at every run, so replacing them in
 * place takes effect from the next step or probe run. Everything else (URLs,
 * directories, intervals, the host's plan membership sent in hello) is bound
 * at start: a change there is reported as needing a restart, not applied.
 */
import type { AgentConfig } from "../config.js";

const RELOADABLE = [/^maintenance\.(guestCommands|hooks|allowAnyGuestCommand)$/, /^probes\.(?!interval$)/];

export interface ReloadResult {
  /** Leaf keys whose new values now apply. */
  changed: string[];
  /** Leaf keys that changed in the file but apply only after a restart. */
  needRestart: string[];
}

/** Applies `fresh` to `current` in place, as far as it can change while running. */
export function applyReload(current: AgentConfig, fresh: AgentConfig): ReloadResult {
  const before = leaves(current);
  const after = leaves(fresh);
  const differing = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k)).sort();
  const changed = differing.filter((k) => RELOADABLE.some((r) => r.test(k)));
  const needRestart = differing.filter((k) => !changed.includes(k));
  if (changed.length === 0) return { changed, needRestart };

  const maintenance = current.maintenance;
  maintenance.guestCommands = fresh.maintenance.guestCommands;
  maintenance.hooks = fresh.maintenance.hooks;
  maintenance.allowAnyGuestCommand = fresh.maintenance.allowAnyGuestCommand;
  // The probe interval stays: the health reporter's timer was set with it.
  current.probes = { ...fresh.probes, interval: current.probes.interval };
  return { changed, needRestart };
}

/** Every leaf of a config object by dotted path, as JSON (arrays are leaves). */
function leaves(value: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) leaves(child, prefix ? `${prefix}.${key}` : key, out);
  } else if (value !== undefined) {
    out.set(prefix, JSON.stringify(value));
  }
  return out;
}
