/**
 * The agent daemon's wiring: spool, libvirt session, controller link,
 * reporter, maintenance steps, systemd notifications. Each piece does one job in its own file;
 * this one only connects them and orders start-up and shutdown.
 *
 * Start-up: spool (so nothing is lost from the first event on) -> libvirt's
 * first connect attempt, until it ends or for FIRST_LIBVIRT_ATTEMPT_WAIT_MS at
 * most (so that the first session starts with libvirt's version and an
 * inventory when libvirt answers) -> the controller link, libvirt connected or
 * not: an agent whose libvirtd is down still connects and tells the controller
 * (`libvirt-state`; hello says libvirtVersion "unknown" until it is known) ->
 * READY=1 once the first report was attempted (sent, or the controller could
 * not be reached).
 * Shutdown (the signal aborts): stop reporting, close the WebSocket with 1001,
 * close libvirt, flush the spool.
 */
import os from "node:os";
import { hostMaintenance, type AgentConfig } from "../config.js";
import type { Logger } from "../../shared/logging.js";
import type { ErrorCode } from "../../shared/errors.js";
import { AGENT_VERSION } from "../version.js";
import { ControllerLink, readToken, type ControllerSession } from "./controller-link.js";
import { LibvirtSession, formatDelay } from "./libvirt-session.js";
import { LibvirtStateTracker } from "./libvirt-state.js";
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
import { liveCommands } from "../probes/live-commands.js";
import { withSettingsHaGroups } from "../probes/domain-metadata.js";
import { NetconsolePointer } from "../netconsole/pointer.js";
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
  if (exposed !== null) logger.warn({ code: "NS_ERR_FILE_MODE" satisfies ErrorCode, file: config.tokenFile }, exposedTokenFileWarning(config.tokenFile, exposed));
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
  let firstAttemptEnded: () => void = () => {};
  const firstLibvirtAttempt = new Promise<void>((resolve) => { firstAttemptEnded = resolve; });
  let session: ControllerSession | null = null;
  // Told to the controller at the start of each session and on every change.
  const libvirtState = new LibvirtStateTracker((message) => { session?.send(message); });

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
      onConnected: (info) => {
        status.libvirt = `libvirt ${config.libvirt.uri} connected`;
        libvirtState.connected(info.libvirtVersion);
        firstAttemptEnded();
        reporter.libvirtConnected();
        health.runNow("libvirt connected");
      },
      onDisconnected: (reason) => {
        status.libvirt = `libvirt ${config.libvirt.uri} lost, reconnecting`;
        libvirtState.unreachable(reason);
      },
      onRetry: (delay, err) => {
        status.libvirt = `libvirt ${config.libvirt.uri} unreachable, retrying in ${formatDelay(delay)}`;
        libvirtState.unreachable(err);
        firstAttemptEnded();
      },
      onSlowAttempt: (err) => {
        logger.warn({ code: "NS_ERR_LIBVIRT_UNREACHABLE", uri: config.libvirt.uri }, err.message);
        status.libvirt = `libvirt ${config.libvirt.uri} not answering`;
        libvirtState.unreachable(err);
      },
    },
  });

  // The daemon probes this host: its commands, for every run.
  const commands = liveCommands();
  const netconsole = new NetconsolePointer(config.netconsole.file, logger);
  const health = new HealthReporter({
    intervalSeconds: config.probes.interval / 1000,
    logger,
    run: () => {
      // Refreshed before each report: the probe says what holds now (a new gateway MAC, a moved route).
      if (session) netconsole.point(session);
      return runProbes(selectProbes(PROBES, config.probes), {
        root: new HostRoot("/", config.probes.fstab), commands, settings: config.probes, libvirt: libvirt.connection, log: logger, now: () => new Date(),
        ...(netconsole.status ? { netconsole: netconsole.status } : {}),
      });
    },
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
      onSession: (started) => {
        session = started;
        netconsole.point(started);
        // First, so the controller knows libvirt's state before anything that depends on it.
        const state = libvirtState.message();
        if (state) started.send(state);
        void reporter.sessionStarted(started).finally(firstReport);
        health.sessionStarted(started);
        steps.sessionStarted(started);
      },
      onSessionEnd: () => {
        session = null;
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
  let waited: NodeJS.Timeout | undefined;
  await Promise.race([firstLibvirtAttempt, aborted,
    new Promise<void>((resolve) => { waited = setTimeout(resolve, FIRST_LIBVIRT_ATTEMPT_WAIT_MS); })]);
  clearTimeout(waited);
  if (!signal.aborted) {
    link.start();
    await Promise.race([firstReportAttempted, aborted]);
  }
  if (!signal.aborted) {
    status.flush();
    notifier.ready(status.text);
    notifier.startWatchdog(() => watchdogWithheld(libvirt));
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

/**
 * How long the controller link waits for libvirt's first connect attempt to
 * end (a missing socket or a refusal ends it at once, a connect takes tens of
 * milliseconds); past this the agent connects to the controller anyway and
 * tells it libvirt's state once it is known.
 */
export const FIRST_LIBVIRT_ATTEMPT_WAIT_MS = 2_000;

/**
 * A connect attempt under way this long is stuck, not slow: libvirtd accepted
 * the connection and never answered, and the agent cannot get past it by
 * itself. (A stopped libvirtd fails each attempt at once, and the agent just
 * tries again: that is no reason for a restart.)
 */
export const STUCK_LIBVIRT_ATTEMPT_MS = 60_000;

/** Why the watchdog ping is withheld, or null: the event loop turns (this runs) and the agent's loops make progress. */
export function watchdogWithheld(libvirt: Pick<LibvirtSession, "attemptAgeMs">, now = Date.now()): string | null {
  const age = libvirt.attemptAgeMs(now);
  if (age < STUCK_LIBVIRT_ATTEMPT_MS) return null;
  return `a libvirt connect attempt has been waiting for libvirtd's answer for ${Math.round(age / 1000)} s`;
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
    logger.error({ code: "NS_ERR_SPOOL_IO" satisfies ErrorCode }, `cannot spool the downtime report: ${err instanceof Error ? err.message : String(err)}`);
  }
}
