/**
 * Keeps the host's netconsole pointed at the controller while the agent is
 * connected: on every session (the welcome says whether the controller
 * listens) and again before every health report, so a gateway whose MAC
 * changed or a route that moved is followed within one probe interval. The
 * latest status is what the `netconsole` probe reports: a setup that cannot
 * work becomes a finding, not a log line alone.
 *
 * Logs only when the state or its reason changes (a refresh each probe
 * interval would otherwise repeat the same line forever).
 */
import type { Logger } from "../../shared/logging.js";
import type { ErrorCode } from "../../shared/errors.js";
import { configureNetconsole, removeNetconsole, type NetconsoleOutcome } from "./configure.js";

export type NetconsoleStatus =
  /** The controller has no netconsole listener (its `netconsole.listen` is empty): nothing to set up. */
  | { state: "off" }
  | NetconsoleOutcome;

export interface PointerSession {
  welcome: { netconsolePort?: number };
  addresses?: { local: string; remote: string } | null;
}

export class NetconsolePointer {
  private current: NetconsoleStatus | null = null;
  private lastLogged = "";

  constructor(private readonly file: string, private readonly logger: Logger) {}

  /** Null until the first session. */
  get status(): NetconsoleStatus | null {
    return this.current;
  }

  point(session: PointerSession): NetconsoleStatus {
    const port = session.welcome.netconsolePort;
    let status: NetconsoleStatus;
    if (port === undefined) {
      const removed = removeNetconsole(this.file);
      if (removed) this.logger.info({ file: this.file }, "the controller has no netconsole listener: netconsole options removed");
      status = { state: "off" };
    } else if (!session.addresses) {
      status = { state: "unavailable", reason: "the connection's own and the controller's addresses are unknown" };
    } else {
      status = configureNetconsole({ localAddress: session.addresses.local, controllerAddress: session.addresses.remote, port }, { file: this.file });
    }
    this.current = status;
    this.log(status);
    return status;
  }

  private log(status: NetconsoleStatus): void {
    const key = status.state === "unavailable" ? `unavailable ${status.reason}` : status.state === "configured" ? `configured ${status.options}` : "off";
    const changed = key !== this.lastLogged;
    this.lastLogged = key;
    if (status.state === "unavailable" && changed) {
      this.logger.warn({ code: "NS_ERR_NETCONSOLE" satisfies ErrorCode, file: this.file }, `netconsole not set up: ${status.reason}; `
        + "a boot that stops in emergency mode will be seen only when the host is missing (finding NS_HOST_NETCONSOLE_UNAVAILABLE)");
    } else if (status.state === "configured" && (status.changed || changed)) {
      this.logger.info({ file: this.file, options: status.options, device: status.device, via: status.via },
        "netconsole set up for the next boot: the console goes to the controller");
    }
  }
}
