#!/usr/bin/env node
/** `nightshift-controller --config FILE [--listen ADDR:PORT] [--data-dir DIR]` */
import { Command } from "commander";
import { loadConfig } from "../../shared/config.js";
import { createLogger } from "../../shared/logging.js";
import { NightshiftError } from "../../shared/errors.js";
import { ControllerConfigSchema, CONTROLLER_ENV_PREFIX } from "../config.js";
import { startController } from "../server.js";
import { AGENT_VERSION } from "../../agent/version.js";

const program = new Command("nightshift-controller")
  .description("nightshift controller: agent WebSocket hub, SQLite store, JSON API, Prometheus metrics")
  .version(AGENT_VERSION)
  .option("--config <file>", "YAML configuration file (every key can also be set as NIGHTSHIFT_CONTROLLER_<KEY>)")
  .option("--listen <addr:port>", "address and port for HTTP, agents and metrics (default 127.0.0.1:8650)")
  .option("--data-dir <dir>", "where the database and admin.token live (default /var/lib/nightshift)")
  .addHelpText("after", `
Endpoints: /v1/agent (agents, WebSocket), /v1/... (API, bearer token), /metrics, /healthz, /readyz.
On first start an admin API token is written to DATA_DIR/admin.token (mode 0600) unless
adminToken is configured. SIGTERM/SIGINT stop it gracefully; SIGHUP is logged and
ignored (restart to apply configuration changes).
`)
  .action(async (flags: { config?: string; listen?: string; dataDir?: string }) => {
    const config = loadConfig({
      schema: ControllerConfigSchema, envPrefix: CONTROLLER_ENV_PREFIX, file: flags.config,
      overrides: [{ path: ["listen"], value: flags.listen }, { path: ["dataDir"], value: flags.dataDir }],
    });
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

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(err instanceof NightshiftError
    ? `nightshift-controller: ${err.message} (${err.code})\n`
    : `nightshift-controller: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
