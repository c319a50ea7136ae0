/**
 * The agent daemon's wiring: spool, libvirt session, controller link,
 * reporter, maintenance steps, systemd notifications. Each piece does one job in its own file;
 * this one only connects them and orders start-up and shutdown.
 *
 * Start-up: spool (so nothing is lost from the first event on) -> libvirt ->
 * controller (hello needs libvirt's version) -> READY=1 once the first report
 * was attempted (sent, or the controller could not be reached).
 * Shutdown (the signal aborts): stop reporting, close the WebSocket with 1001,
 * close libvirt, flush the spool.
 */
import os from "node:os";
import { hostMaintenance, type AgentConfig } from "../config.js";
import type { Logger } from "../../shared/logging.js";
import { AGENT_VERSION } from "../version.js";
import { ControllerLink, readToken } from "./controller-link.js";
import { LibvirtSession, formatDelay } from "./libvirt-session.js";
import { Reporter } from "./reporter.js";
import { Spool } from "./spool.js";
import { AliveMarker, readAliveMarker } from "./alive-marker.js";
import { exposedMode, exposedTokenFileWarning } from "../../shared/file-mode.js";
import { AgentStatus } from "./status.js";
import { SystemdNotifier } from "./systemd-notify.js";
import { HealthReporter } from "./health-reporter.js";
import { PROBES } from "../probes/index.js";
import { runProbes, selectProbes } from "../probes/runner.js";
import { HostRoot } from "../probes/host-root.js";
import { withSettingsHaGroups } from "../probes/domain-metadata.js";
import { StepExecutor } from "../maintenance/step-executor.js";
import { StepResponder } from "../maintenance/step-responder.js";
import { STEP_HANDLERS } from "../maintenance/actions/index.js";

export interface RunAgentOptions {
  logger: Logger;
  /** Aborted on SIGTERM/SIGINT: the agent shuts down gracefully and runAgent resolves. */
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export async function runAgent(config: AgentConfig, options: RunAgentOptions): Promise<void> {
  const { logger, signal } = options;
  readToken(config.tokenFile); // fail fast on a host that was never enrolled
  const exposed = exposedMode(config.tokenFile);
  if (exposed !== null) logger.warn({ code: "NS_ERR_FILE_MODE", file: config.tokenFile }, exposedTokenFileWarning(config.tokenFile, exposed));
  const host = config.host ?? os.hostname();
  const maintenance = hostMaintenance(config);
  const reconnect = { initialDelayMs: config.reconnect.initialDelay, maxDelayMs: config.reconnect.maxDelay };
  const spool = Spool.open({ dir: config.stateDir, maxEvents: config.spool.maxEvents, logger });
  recordDowntime(spool, config.stateDir, logger);
  const alive = new AliveMarker(config.stateDir, logger);
  alive.start();
  const notifier = new SystemdNotifier({ logger, ...(options.env ? { env: options.env } : {}) });
  const status = new AgentStatus(notifier);
  status.spoolSize = spool.stats.events;

  let firstReport: () => void = () => {};
  const firstReportAttempted = new Promise<void>((resolve) => { firstReport = resolve; });
  let libvirtUp: () => void = () => {};
  const libvirtConnected = new Promise<void>((resolve) => { libvirtUp = resolve; });

  const reporter: Reporter = new Reporter({
    spool,
    // A VM's maintenance membership takes the HA groups the settings give it, as the probes do.
    inventory: async () => (await libvirt.inventory()).map((d) =>
      (d.maintenance ? { ...d, maintenance: withSettingsHaGroups(d.name, d.maintenance, config.probes) } : d)),
    canInventory: () => libvirt.connected,
    logger,
    onSpoolChange: (n) => { status.spoolSize = n; },
  });

  const libvirt: LibvirtSession = new LibvirtSession({
    uri: config.libvirt.uri,
    socketPath: config.libvirt.socket,
    backoff: reconnect,
    logger,
    handlers: {
      onEvent: (event) => reporter.libvirtEvent(event),
      onConnected: (_info, reconnected) => {
        status.libvirt = `libvirt ${config.libvirt.uri} connected`;
        if (reconnected) reporter.libvirtReconnected();
        libvirtUp();
      },
      onDisconnected: () => { status.libvirt = `libvirt ${config.libvirt.uri} lost, reconnecting`; },
      onRetry: (delay) => { status.libvirt = `libvirt ${config.libvirt.uri} unreachable, retrying in ${formatDelay(delay)}`; },
    },
  });

  const health = new HealthReporter({
    intervalSeconds: config.probes.interval / 1000,
    logger,
    run: () => runProbes(selectProbes(PROBES, config.probes), {
      root: new HostRoot("/", config.probes.fstab), settings: config.probes, libvirt: libvirt.connection, log: logger, now: () => new Date(),
    }),
  });

  // Steps run over whatever libvirt connection is live when they ask for it.
  const steps = new StepResponder(new StepExecutor({
    handlers: STEP_HANDLERS,
    libvirt: () => libvirt.connection,
    libvirtUri: config.libvirt.uri,
    config: config.maintenance,
    maxRunning: config.maintenance.maxRunningSteps,
    maxQueued: config.maintenance.maxQueuedSteps,
    logger,
  }), logger);

  const link = new ControllerLink({
    url: config.controller,
    tokenFile: config.tokenFile,
    heartbeatSeconds: config.heartbeat / 1000,
    reconnect,
    caFile: config.tls.caFile,
    logger,
    hello: () => ({
      type: "hello",
      host,
      hostname: libvirt.info?.hostname ?? os.hostname(),
      agentVersion: AGENT_VERSION,
      libvirtVersion: libvirt.info?.libvirtVersion ?? "unknown",
      libvirtUri: config.libvirt.uri,
      ...(maintenance ? { maintenance } : {}),
    }),
    handlers: {
      onSession: (session) => {
        void reporter.sessionStarted(session).finally(firstReport);
        health.sessionStarted(session);
        steps.sessionStarted(session);
      },
      onSessionEnd: () => {
        reporter.sessionEnded();
        health.sessionEnded();
        steps.sessionEnded();
      },
      onAck: (ids) => reporter.acked(ids),
      onStep: (request) => steps.onStep(request),
      onInvalidStep: (id, detail) => steps.onInvalidStep(id, detail),
      onStatus: (text) => { status.controller = text; },
      onAttemptFailed: () => firstReport(),
    },
  });

  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });

  logger.info({ host, controller: config.controller, uri: config.libvirt.uri, stateDir: config.stateDir, spooled: spool.size,
    agentVersion: AGENT_VERSION }, "agent starting");
  status.libvirt = `connecting to libvirt ${config.libvirt.uri}`;
  libvirt.start();
  await Promise.race([libvirtConnected, aborted]);
  if (!signal.aborted) {
    link.start();
    await Promise.race([firstReportAttempted, aborted]);
  }
  if (!signal.aborted) {
    status.flush();
    notifier.ready(status.text);
    notifier.startWatchdog(() => libvirt.connected);
    logger.info({ systemd: notifier.enabled, watchdogMs: notifier.watchdogMs }, "agent ready");
  }
  await aborted;

  logger.info("shutting down");
  status.close();
  notifier.stopping();
  reporter.stop();
  health.stop();
  await link.stop();
  // Steps still running are not waited for (a reboot step may take minutes): the controller's
  // resume gets NS_ERR_STEP_UNKNOWN from the next agent and checks the VM itself.
  await Promise.all([reporter.settled(), health.settled()]);
  // libvirt before the spool: an event arriving meanwhile is still spooled for the next start.
  await libvirt.stop();
  spool.close();
  // Last: from here on no event is listened to, so the next start's gap begins now.
  await alive.stop();
  await notifier.close();
  logger.info({ spooled: spool.size }, "agent stopped");
}

/** Turns the previous process's last sign of life into a downtime report for the controller. */
function recordDowntime(spool: Spool, stateDir: string, logger: Logger): void {
  const previous = readAliveMarker(stateDir, logger);
  if (!previous) return;
  const upAt = new Date().toISOString();
  try {
    spool.recordDowntime(previous.at, upAt, previous.clean);
    logger.warn({ downAt: previous.at, upAt, clean: previous.clean },
      "the agent was not running since its last sign of life: VM events of that time are unknown; the controller is told");
  } catch (err) {
    logger.error({ code: "NS_ERR_SPOOL_IO" }, `cannot spool the downtime report: ${err instanceof Error ? err.message : String(err)}`);
  }
}
