/**
 * `nightshift-agent run`: the daemon. Configuration comes from the YAML file,
 * then NIGHTSHIFT_AGENT_* variables, then these flags; SIGTERM and SIGINT
 * shut it down gracefully (exit 0); SIGHUP reloads what can change while it
 * runs (daemon/config-reload.ts) and never ends it.
 */
import { Command } from "commander";
import { loadConfig } from "../../shared/config.js";
import { createLogger } from "../../shared/logging.js";
import { AGENT_ENV_PREFIX, AgentConfigSchema } from "../config.js";
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

export function runCommand(): Command {
  return new Command("run")
    .description("run the agent: report this host's domains and events to the controller until stopped")
    .option("--config <file>", "YAML configuration file (e.g. /etc/nightshift/agent.yaml)")
    .option("--controller <url>", "controller WebSocket URL, e.g. wss://controller:8650/v1/agent")
    .option("--token-file <file>", "file holding this host's token")
    .option("--uri <uri>", "libvirt URI (qemu:///system, test:///default)")
    .option("--state-dir <dir>", "directory for the event spool")
    .addHelpText("after", `
Every configuration key can also be set in the environment, e.g.
NIGHTSHIFT_AGENT_CONTROLLER, NIGHTSHIFT_AGENT_HEARTBEAT_SECONDS,
NIGHTSHIFT_AGENT_RECONNECT_MAX_DELAY_MS, NIGHTSHIFT_AGENT_SPOOL_MAX_EVENTS.
Logs are JSON lines on stderr. Under systemd use Type=notify with NotifyAccess=all.
SIGTERM or SIGINT: stop gracefully. SIGHUP: re-read the configuration and apply
maintenance.guestCommands, maintenance.hooks, maintenance.allowAnyGuestCommand
and probes.* (except probes.intervalSeconds) from the next step or probe run;
other keys are logged as needing a restart. A file that does not load is
logged and the running configuration stays.
`)
    .action(async (flags: RunFlags) => {
      const load = () => loadConfig({
        schema: AgentConfigSchema,
        envPrefix: AGENT_ENV_PREFIX,
        file: flags.config,
        overrides: [
          { path: ["controller"], value: flags.controller },
          { path: ["tokenFile"], value: flags.tokenFile },
          { path: ["libvirt", "uri"], value: flags.uri },
          { path: ["stateDir"], value: flags.stateDir },
        ],
      });
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
