/**
 * systemd Type=notify support without native modules. Node cannot send unix
 * datagrams, so each notification runs the `systemd-notify` binary (Debian
 * package `systemd`), which writes one datagram to $NOTIFY_SOCKET:
 *   READY=1 once the first report to the controller was attempted (sent, or
 *   the controller could not be reached), whether or not libvirt answers,
 *   STATUS=... as the agent's state changes, STOPPING=1 on shutdown,
 *   WATCHDOG=1 every WATCHDOG_USEC/2 while the agent is healthy: its event
 *   loop turns and its own loops make progress. libvirtd being down is not
 *   unhealthy (the agent reconnects by itself and reports it to the
 *   controller); a restart is for an agent that is stuck.
 *
 * The datagram comes from a short-lived child, so the unit needs
 * `NotifyAccess=all`: with the default (main) systemd drops messages whose
 * sender is not the main PID. (Run as root, systemd-notify claims its parent's
 * PID in the credentials, so systemd sees the agent; unprivileged, it cannot,
 * and NotifyAccess=all is what makes the message count.) Without --no-block
 * systemd-notify also waits on a barrier (BARRIER=1 with a pipe systemd
 * closes) until the manager has processed the message, so the child is still
 * alive when systemd looks up its unit — the known race of systemd-notify in
 * scripts. Measured cost: ~11 ms per notification, process start included.
 *
 * Without NOTIFY_SOCKET (not started by systemd) every call is a no-op.
 */
import { execFile } from "node:child_process";
import type { Logger } from "../../shared/logging.js";
import { errorMessage, type ErrorCode } from "../../shared/errors.js";

export interface SystemdNotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** The systemd-notify binary (default: found on PATH). */
  binary?: string;
  logger: Logger;
}

export class SystemdNotifier {
  readonly enabled: boolean;
  private readonly env: NodeJS.ProcessEnv;
  private readonly binary: string;
  private queue: Promise<void> = Promise.resolve();
  private lastStatus: string | null = null;
  private watchdogTimer: NodeJS.Timeout | null = null;
  private broken = false;
  private readySent = false;
  private sent = 0;

  constructor(private readonly options: SystemdNotifierOptions) {
    this.env = options.env ?? process.env;
    this.binary = options.binary ?? "systemd-notify";
    this.enabled = Boolean(this.env.NOTIFY_SOCKET);
  }

  /** Notifications handed to systemd-notify so far. */
  get count(): number {
    return this.sent;
  }

  ready(status?: string): void {
    if (this.readySent) return;
    this.readySent = true;
    if (status !== undefined) this.lastStatus = status;
    this.send(["--ready", ...(status !== undefined ? [`--status=${status}`] : [])]);
  }

  /** Repeated identical texts are sent once. */
  status(text: string): void {
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    this.send([`--status=${text}`]);
  }

  stopping(status = "shutting down"): void {
    this.lastStatus = status;
    this.send(["STOPPING=1", `--status=${status}`]);
  }

  /**
   * The watchdog period systemd asked for (WATCHDOG_USEC), or null. A
   * WATCHDOG_PID naming another process means the watchdog is not ours.
   */
  get watchdogMs(): number | null {
    const usec = Number(this.env.WATCHDOG_USEC);
    if (!this.enabled || !Number.isFinite(usec) || usec <= 0) return null;
    const pid = this.env.WATCHDOG_PID;
    if (pid && Number(pid) !== process.pid) return null;
    return usec / 1000;
  }

  /**
   * Sends WATCHDOG=1 every WATCHDOG_USEC/2 unless `unhealthy()` names a
   * reason not to. A blocked event loop sends nothing because the timer
   * cannot fire; a stuck agent skips the ping (logged with the reason), so
   * systemd restarts it once WatchdogSec passes without one.
   */
  startWatchdog(unhealthy: () => string | null): void {
    const period = this.watchdogMs;
    if (period === null || this.watchdogTimer) return;
    const tick = () => {
      const why = unhealthy();
      if (why === null) this.send(["WATCHDOG=1"]);
      else this.options.logger.warn({ reason: why }, `agent stuck (${why}): watchdog ping withheld`);
    };
    this.watchdogTimer = setInterval(tick, Math.max(10, period / 2));
    tick();
  }

  /** Stops the watchdog and waits for queued notifications to go out. */
  async close(): Promise<void> {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = null;
    await this.queue;
  }

  private send(args: string[]): void {
    if (!this.enabled || this.broken) return;
    // One at a time, so that READY=1, STATUS= and STOPPING=1 arrive in the order they were said.
    this.queue = this.queue.then(() => new Promise<void>((resolve) => {
      execFile(this.binary, args, { env: this.env, timeout: 10_000 }, (err, _stdout, stderr) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") {
            this.broken = true;
            this.options.logger.error({ code: "NS_ERR_SYSTEMD_NOTIFY" satisfies ErrorCode, binary: this.binary },
              "NOTIFY_SOCKET is set but systemd-notify is not installed (Debian package systemd); " +
              "readiness and watchdog notifications are off, use Type=simple or install it");
          } else {
            this.options.logger.warn({ code: "NS_ERR_SYSTEMD_NOTIFY" satisfies ErrorCode, args },
              `systemd-notify failed: ${stderr.trim() || errorMessage(err)}`);
          }
        } else {
          this.sent++;
        }
        resolve();
      });
    }));
  }
}
