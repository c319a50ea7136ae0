/**
 * Wires the controller together: store, metrics, agent hub, liveness, API,
 * one HTTP(S) server for all of it.
 */
import http from "node:http";
import https from "node:https";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { ControllerConfig } from "./config.js";
import { Store } from "./store/index.js";
import { ControllerMetrics } from "./metrics.js";
import { AgentHub, AGENT_PATH } from "./hub/agent-hub.js";
import { LivenessMonitor } from "./liveness.js";
import { ApiError, Router } from "./http/router.js";
import { errorAnswer, INTERNAL_ERROR } from "./http/api-error.js";
import { registerApi } from "./http/api.js";
import { parseRequestTarget } from "./http/request-target.js";
import { refuseOnSocket } from "./http/socket-refusal.js";
import { createListener } from "./http/listener.js";
import { ConsoleLines } from "./console/console-lines.js";
import { NetconsoleListener } from "./console/netconsole-listener.js";
import { Deliveries } from "./deliveries.js";
import { NightshiftError } from "../shared/errors.js";
import { ensureAdminToken } from "./admin-token.js";
import { lockDataDir } from "./data-dir-lock.js";
import { secureDataDir, secureDatabaseFiles } from "./data-dir.js";
import { bearerToken } from "./tokens.js";
import type { Logger } from "../shared/logging.js";
import { AGENT_VERSION } from "../agent/version.js";
import { AgentCalls } from "./hub/agent-calls.js";
import { RunEngine } from "./runs/engine.js";
import { RunNotifier } from "./runs/notifier.js";
import { SnapshotRetention } from "./runs/retention.js";
import { FindingRetention } from "./finding-retention.js";
import { SnapshotDeleter } from "./runs/recovery.js";
import { runTimeouts } from "./runs/timeouts.js";
import { registerRunsApi } from "./http/runs-api.js";
import { registerPlansApi } from "./http/plans-api.js";
import { PlanNotifier } from "./planning/plan-notifier.js";
import { PlanService } from "./planning/plan-service.js";
import { PlanExecutor } from "./planning/plan-executor.js";

export interface RunningController {
  url: string;
  port: number;
  store: Store;
  hub: AgentHub;
  liveness: LivenessMonitor;
  engine: RunEngine;
  plans: PlanExecutor;
  retention: SnapshotRetention;
  findingRetention: FindingRetention;
  adminTokenFile: string | null;
  /** The UDP port of netconsole.listen, or null when it is not set. */
  netconsolePort: number | null;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(listen.slice(i + 1)) };
}

export interface ControllerOptions {
  /** The plans' clock (epoch ms): tests run a week's plan in seconds with one that jumps ahead. */
  clock?: () => number;
}

export async function startController(config: ControllerConfig, log: Logger, options: ControllerOptions = {}): Promise<RunningController> {
  const startedAt = Date.now();
  secureDataDir(config.dataDir, log);
  const lock = lockDataDir(config.dataDir);
  const dbFile = path.join(config.dataDir, "nightshift.db");
  let store: Store;
  try {
    store = Store.open(dbFile, { synchronous: config.store.synchronous });
    secureDatabaseFiles(dbFile);
  } catch (err) {
    lock.release();
    throw err;
  }
  const adminTokenFile = ensureAdminToken(store, config.dataDir, config.adminToken);

  let ready = false;
  // The metrics read the hub lazily, at scrape time, so the hub can be built after them.
  const metrics: ControllerMetrics = new ControllerMetrics(store, {
    connectedAgents: (): number => hub.connectedAgents(),
    lastSeen: (id: number): number | undefined => hub.lastSeen(id),
  });
  const calls = new AgentCalls({ agentLostTimeoutMs: config.runs.agentLostTimeout, log: log.child({ part: "steps" }) });
  const hub: AgentHub = new AgentHub({
    store, metrics, log: log.child({ part: "hub" }), heartbeatSeconds: config.agents.heartbeat / 1000,
    inventoryIntervalSeconds: config.agents.inventoryInterval / 1000, maxMessageBytes: config.agents.maxMessageBytes,
    rejectedEventIntervalSeconds: config.agents.rejectedEventInterval / 1000, calls,
    sessionLimit: { max: config.agents.maxSessions, intervalMs: config.agents.maxSessionsInterval },
    // The listener is built after the hub; by the time an agent is accepted it exists.
    onAccepted: (socket) => gate.exempt(socket),
    netconsolePort: () => netconsolePort,
  });
  const timeouts = runTimeouts(config.runs);
  const notifier = new RunNotifier({
    webhooks: config.notifications.webhooks, timeoutMs: config.notifications.timeout,
    log: log.child({ part: "notify" }), onFailure: () => metrics.webhookFailures.inc(),
  });
  const engine = new RunEngine({ store, calls, notifier, timeouts, log: log.child({ part: "runs" }), isConnected: (id) => hub.isConnected(id) });
  // An operator's delete may merge a large overlay (or qemu-img commit one): the snapshot step's time.
  const deleter = new SnapshotDeleter({ store, calls, stepTimeoutMs: timeouts.snapshotMs + timeouts.marginMs });
  const retention = new SnapshotRetention({
    store, calls, metrics, log: log.child({ part: "retention" }), schedule: config.retention.schedule, stepTimeoutMs: timeouts.quickMs, deleter,
  });
  const findingRetention = new FindingRetention({
    store, metrics, log: log.child({ part: "retention" }), schedule: config.retention.schedule,
    maxAgeMs: config.retention.resolvedFindings, perHost: config.retention.resolvedFindingsPerHost,
  });
  const clock = options.clock ?? Date.now;
  const planNotifier = new PlanNotifier({
    webhooks: config.notifications.webhooks, timeoutMs: config.notifications.timeout,
    sendmail: config.plans.sendmail, emails: config.plans.emails,
    log: log.child({ part: "notify" }), onFailure: () => metrics.webhookFailures.inc(),
  });
  const planService: PlanService = new PlanService({ store, clock, onChange: () => plans.kick() });
  const plans = new PlanExecutor({
    store, engine, notifier: planNotifier, service: planService, clock, tickMs: config.plans.tick,
    reminderMs: config.plans.reminder, log: log.child({ part: "plans" }),
  });
  const consoleLines = new ConsoleLines();
  const netconsole = new NetconsoleListener({
    store, metrics, log: log.child({ part: "netconsole" }), lines: consoleLines,
    webhooks: config.notifications.webhooks, webhookTimeoutMs: config.notifications.timeout,
    deliveries: new Deliveries({ log: log.child({ part: "notify" }), onFailure: () => metrics.webhookFailures.inc() }),
  });
  const liveness = new LivenessMonitor(store, hub, log.child({ part: "liveness" }),
    config.liveness.missingAfter, config.liveness.checkInterval);

  const router = new Router();
  registerApi(router, { consoleLines, store, hub, metrics, version: AGENT_VERSION, startedAt, isReady: () => ready });
  registerRunsApi(router, { store, engine, deleter });
  registerPlansApi(router, { store, service: planService, executor: plans, clock });
  const authorize = (req: http.IncomingMessage) => {
    const token = bearerToken(req.headers.authorization);
    if (!token || store.apiTokens.verify(token) === null) {
      throw new ApiError("NS_ERR_UNAUTHORIZED", "missing or invalid API token: pass --token, set NIGHTSHIFT_TOKEN, " +
        "or use the admin token in the controller's data directory (admin.token)");
    }
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    router.handle(req, res, authorize).catch((err: unknown) => log.error({ err, url: req.url }, "request failed"));
  };
  // Nothing a client sends may end the process: whatever throws here is answered and logged.
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      const { pathname } = parseRequestTarget(req.url);
      if (pathname !== AGENT_PATH) {
        refuseOnSocket(socket, "NS_ERR_NOT_FOUND", `no WebSocket endpoint at ${pathname.slice(0, 200)}: agents connect to ${AGENT_PATH}`);
        return;
      }
      hub.handleUpgrade(req, socket, head);
    } catch (err) {
      const answer = errorAnswer(err);
      if (answer) {
        refuseOnSocket(socket, answer.code, answer.message);
      } else {
        log.error({ err, url: req.url }, "upgrade request failed");
        refuseOnSocket(socket, INTERNAL_ERROR.code, INTERNAL_ERROR.message);
      }
    }
  };
  const { server, gate } = createListener(config, metrics, log, onRequest, onUpgrade);

  const { host, port } = parseListen(config.listen);
  let netconsolePort: number | null = null;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(new NightshiftError("NS_ERR_LISTEN", `cannot listen on ${config.listen}: ${err.code === "EADDRINUSE" ? "address in use" : err.message}`)));
      server.listen(port, host, () => resolve());
    });
    if (config.netconsole.listen) {
      const at = parseListen(config.netconsole.listen);
      netconsolePort = await netconsole.listen(at.host, at.port).catch((err: NodeJS.ErrnoException) => {
        server.close();
        throw new NightshiftError("NS_ERR_LISTEN", `cannot listen for netconsole on ${config.netconsole.listen} (UDP): `
          + `${err.code === "EADDRINUSE" ? "address in use" : err.message}`);
      });
      log.info({ address: at.host, port: netconsolePort }, "netconsole listener ready");
    }
  } catch (err) {
    // Nothing started yet but the store: leave the data directory free for the next try.
    await hub.close();
    store.close();
    lock.release();
    throw err;
  }
  liveness.start();
  // Unfinished runs continue: their steps wait for the agents to reconnect (runs.agentLostTimeout).
  engine.resume();
  // The current plan goes on from its state in the store: slots whose time came while the controller was down start now, or are missed.
  plans.start();
  retention.start();
  findingRetention.start();
  ready = true;
  const actualPort = (server.address() as AddressInfo).port;
  const scheme = server instanceof https.Server ? "https" : "http";
  const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${actualPort}`;
  log.info({ url, dataDir: config.dataDir }, "controller listening");

  return {
    url, port: actualPort, store, hub, liveness, engine, plans, retention, findingRetention, adminTokenFile, netconsolePort,
    async close() {
      ready = false;
      netconsole.close();
      liveness.stop();
      plans.stop();
      await retention.stop();
      await findingRetention.stop();
      // Runs stop where they are; the store says where, and the next start resumes them.
      engine.stop();
      calls.abandonAll();
      await hub.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.all([notifier.settled(), planNotifier.settled()]);
      store.close();
      lock.release();
    },
  };
}
