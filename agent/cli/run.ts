/**
 * `nightshift-agent run`: the daemon. Configuration comes from the YAML file,
 * then NIGHTSHIFT_AGENT_* variables, then these flags; SIGTERM and SIGINT
 * shut it down gracefully (exit 0); SIGHUP reloads what can change while it
 * runs (daemon/config-reload.ts) and never ends it. `nightshift-agent
 * check-config` loads the same configuration and prints it.
 */
import { Command } from "commander";
import { formatEffectiveConfig, loadConfig, withDefault } from "../../shared/config.js";
import { createLogger } from "../../shared/logging.js";
import { AGENT_ENV_PREFIX, AGENT_FLAGS, AGENT_RENAMED, AgentConfigSchema, agentFlagOverrides } from "../config.js";
import { runAgent } from "../daemon/run.js";
import { applyReload } from "../daemon/config-reload.js";
import { errorCodeOf, errorMessage } from "../../shared/errors.js";

interface RunFlags {
  config?: string;
  controller?: string;
  tokenFile?: string;
  uri?: string;
  stateDir?: string;
}

const CONFIG_FOOTER = "Keys, defaults and variables: docs/configuration.md; nightshift-agent check-config prints the effective configuration";

/** --config and the flags that set keys, their defaults from the schema. */
function configOptions(cmd: Command): Command {
  cmd.option("--config <file>", "YAML configuration file (e.g. /etc/nightshift/agent.yaml)");
  for (const f of AGENT_FLAGS) cmd.option(f.flags, withDefault(f.help, AgentConfigSchema, f.path));
  return cmd;
}

/** The configuration `run` uses: the file, NIGHTSHIFT_AGENT_* and the flags. */
export function loadAgentConfig(flags: RunFlags) {
  return loadConfig({
    schema: AgentConfigSchema, envPrefix: AGENT_ENV_PREFIX, file: flags.config, renamed: AGENT_RENAMED,
    overrides: agentFlagOverrides(flags), flagNames: AGENT_FLAGS.map((f) => ({ path: f.path, flag: f.flags.split(" ")[0]! })),
    context: { customShowsValue: true }, footer: CONFIG_FOOTER,
  });
}

export function checkConfigCommand(): Command {
  return configOptions(new Command("check-config"))
    .description("print the effective configuration (file, NIGHTSHIFT_AGENT_* environment and flags; defaults filled in) as YAML, or every problem with it")
    .addHelpText("after", `
Exit status: 0 the configuration loads (it is printed on stdout), 1 it does not (every
problem on stderr, each with FILE:LINE or the variable or flag, NS_ERR_CONFIG).
Nothing is started: neither the token file nor libvirt nor the controller is touched.

Example:
  nightshift-agent check-config --config /etc/nightshift/agent.yaml
`)
    .action((flags: RunFlags) => {
      process.stdout.write(formatEffectiveConfig("nightshift-agent", AgentConfigSchema, loadAgentConfig(flags)));
    });
}

export function runCommand(): Command {
  return configOptions(new Command("run"))
    .description("run the agent: report this host's domains and events to the controller until stopped")
    .addHelpText("after", `
Every configuration key can also be set in the environment, e.g.
NIGHTSHIFT_AGENT_CONTROLLER, NIGHTSHIFT_AGENT_HEARTBEAT=15s,
NIGHTSHIFT_AGENT_RECONNECT_MAX_DELAY=30s, NIGHTSHIFT_AGENT_SPOOL_MAX_EVENTS (all of
them: docs/configuration.md). Durations are written with their unit (500ms, 15s, 5m, 90d).
A configuration that does not load (an unknown key, a bad value) stops the agent at
start, exit status 1, NS_ERR_CONFIG; check a file first with check-config.
Logs are JSON lines on stderr. Under systemd use Type=notify with NotifyAccess=all.
SIGTERM or SIGINT: stop gracefully. SIGHUP: re-read the configuration and apply
maintenance.guestCommands, maintenance.hooks, maintenance.allowAnyGuestCommand
and probes.* (except probes.interval) from the next step or probe run;
other keys are logged as needing a restart. A file that does not load is
logged and the running configuration stays.
`)
    .action(async (flags: RunFlags) => {
      const load = () => loadAgentConfig(flags);
      const config = load();
      const logger = createLogger("nightshift-agent", config.log.level);
      const abort = new AbortController();
      const stop = (signal: NodeJS.Signals) => {
        if (abort.signal.aborted) return;
        logger.info({ signal }, "signal received");
        abort.abort();
      };
      const reload = () => {
        let fresh;
        try {
          fresh = load();
        } catch (err) {
          logger.error({ signal: "SIGHUP", code: errorCodeOf(err, "NS_ERR_CONFIG") },
            `configuration not reloaded, the running one stays: ${errorMessage(err)}`);
          return;
        }
        const { changed, needRestart } = applyReload(config, fresh);
        logger.info({ signal: "SIGHUP", changed, needRestart },
          `configuration reloaded: ${changed.length ? `applied ${changed.join(", ")}` : "nothing to apply"}` +
          `${needRestart.length ? `; ${needRestart.join(", ")} changed but apply only after a restart` : ""}`);
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      process.on("SIGHUP", reload);
      try {
        await runAgent(config, { logger, signal: abort.signal });
      } finally {
        process.off("SIGTERM", stop);
        process.off("SIGINT", stop);
        process.off("SIGHUP", reload);
      }
    });
}
