/**
 * The `nightshift-controller` command tree, without running it (controller/cli/main.ts parses the
 * command line with it, scripts/docs/cli.ts writes docs/cli.md from its help):
 * `nightshift-controller [--config FILE] [--listen ADDR:PORT] [--data-dir DIR]`: the controller;
 * `nightshift-controller check-config [the same options]`: its effective configuration, or what is wrong with it.
 */
import { Command } from "commander";
import { formatEffectiveConfig, loadConfig, withDefault } from "../../shared/config.js";
import { createLogger } from "../../shared/logging.js";
import { CONTROLLER_ENV_PREFIX, CONTROLLER_FLAGS, CONTROLLER_RENAMED, ControllerConfigSchema, controllerFlagOverrides } from "../config.js";
import { startController } from "../server.js";
import { AGENT_VERSION } from "../../agent/version.js";

interface Flags {
  config?: string;
  listen?: string;
  dataDir?: string;
}

const CONFIG_HELP = "YAML configuration file (every key can also be set as NIGHTSHIFT_CONTROLLER_<KEY>)";

/** --config and the flags that set keys, their defaults from the schema. */
function configOptions(cmd: Command): Command {
  cmd.option("--config <file>", CONFIG_HELP);
  for (const f of CONTROLLER_FLAGS) cmd.option(f.flags, withDefault(f.help, ControllerConfigSchema, f.path));
  return cmd;
}

function load(flags: Flags) {
  return loadConfig({
    schema: ControllerConfigSchema, envPrefix: CONTROLLER_ENV_PREFIX, file: flags.config, renamed: CONTROLLER_RENAMED,
    overrides: controllerFlagOverrides(flags), flagNames: CONTROLLER_FLAGS.map((f) => ({ path: f.path, flag: f.flags.split(" ")[0]! })),
    context: { customShowsValue: true }, footer: CONFIG_FOOTER,
  });
}

const CONFIG_FOOTER = "Keys, defaults and variables: docs/configuration.md; nightshift-controller check-config prints the effective configuration";

export function controllerProgram(): Command {
  const program = configOptions(new Command("nightshift-controller")
    .description("nightshift controller: agent WebSocket hub, SQLite store, JSON API, Prometheus metrics")
    .version(AGENT_VERSION)
    // `check-config --config FILE`: the options after the command are the command's.
    .enablePositionalOptions())
    .addHelpText("after", `
Endpoints: /v1/agent (agents, WebSocket), /v1/... (API, bearer token), /metrics, /healthz, /readyz.
On first start an admin API token is written to DATA_DIR/admin.token (mode 0600) unless
adminToken is configured. SIGTERM/SIGINT stop it gracefully; SIGHUP is logged and
ignored (restart to apply configuration changes). Durations in the configuration are
written with their unit (15s, 5m, 2h, 1d). A configuration that does not load (an unknown
key, a bad value) stops the controller at start, exit status 1, NS_ERR_CONFIG; check a file
first with: nightshift-controller check-config --config FILE
`)
    .action(async (flags: Flags) => {
      const config = load(flags);
      const log = createLogger("nightshift-controller", config.log.level);
      const controller = await startController(config, log);
      if (controller.adminTokenFile) log.info({ file: controller.adminTokenFile }, "admin API token is in this file");
      process.stdout.write(`nightshift-controller listening on ${controller.url}\n`);
      const stop = (signal: string) => {
        log.info({ signal }, "shutting down");
        controller.close().then(() => process.exit(0), (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        });
      };
      process.once("SIGTERM", () => stop("SIGTERM"));
      process.once("SIGINT", () => stop("SIGINT"));
      // SIGHUP's default action would end the process, and systemd's Restart=on-failure does not restart it.
      process.on("SIGHUP", () => log.warn({ signal: "SIGHUP" },
        "SIGHUP ignored: the controller reloads nothing while running; restart it to apply configuration changes"));
    });

  program.addCommand(configOptions(new Command("check-config")
    .description("print the effective configuration (file, NIGHTSHIFT_CONTROLLER_* environment and flags; defaults filled in, adminToken masked) as YAML, or every problem with it")
    .addHelpText("after", `
Exit status: 0 the configuration loads (it is printed on stdout), 1 it does not (every
problem on stderr, each with FILE:LINE or the variable or flag, NS_ERR_CONFIG).
Nothing is started and the data directory is not touched.

Example:
  nightshift-controller check-config --config /etc/nightshift/controller.yaml
`)
    .action((flags: Flags) => {
      // `nightshift-controller --config FILE check-config` means the same as `check-config --config FILE`.
      const root = program.opts<Flags>();
      const merged: Flags = {
        ...(flags.config ?? root.config ? { config: flags.config ?? root.config } : {}),
        ...(flags.listen ?? root.listen ? { listen: flags.listen ?? root.listen } : {}),
        ...(flags.dataDir ?? root.dataDir ? { dataDir: flags.dataDir ?? root.dataDir } : {}),
      };
      process.stdout.write(formatEffectiveConfig("nightshift-controller", ControllerConfigSchema, load(merged)));
    })));
  return program;
}
