/**
 * Runs the host-health probes on connect and every `intervalSeconds`
 * (jittered, so a fleet does not probe its NAS in lockstep) and sends the
 * report to the controller. Only one run at a time: a slow probe round is
 * never stacked by the next tick.
 */
import type { Logger } from "../../shared/logging.js";
import type { HealthReport } from "../../shared/protocol/findings.js";
import type { ControllerSession } from "./controller-link.js";
import { jitter } from "./backoff.js";
import { errorMessage } from "../../shared/errors.js";
import { fitHealthReport } from "./health-fit.js";

export interface HealthReporterOptions {
  run(): Promise<HealthReport>;
  intervalSeconds: number;
  logger: Logger;
}

export class HealthReporter {
  private session: ControllerSession | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  /** A run asked for while one was under way: it follows that one. */
  private again: string | null = null;

  constructor(private readonly options: HealthReporterOptions) {}

  sessionStarted(session: ControllerSession): void {
    this.session = session;
    void this.runAndSend("connected");
  }

  sessionEnded(): void {
    this.session = null;
  }

  /**
   * Probes again now, if a session is up (libvirt connected: the probes that
   * read it can look again); after the run under way, if there is one.
   */
  runNow(why: string): void {
    if (!this.session || this.stopped) return;
    if (this.running) this.again = why;
    else void this.runAndSend(why);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  async settled(): Promise<void> {
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runAndSend("interval"), jitter(this.options.intervalSeconds * 1000, 0.2));
    this.timer.unref();
  }

  private runAndSend(why: string): Promise<void> {
    if (this.running || this.stopped) return this.running ?? Promise.resolve();
    this.running = (async () => {
      try {
        const probed = await this.options.run();
        // Never a frame the controller must refuse (1009 and a reconnect, then the same again).
        const { report, bytes, originalBytes, droppedFindings, droppedFacts } = fitHealthReport(probed);
        if (originalBytes > 0) {
          this.options.logger.warn({ originalBytes, bytes, droppedFindings, droppedFacts, findings: probed.findings.length },
            "the health report did not fit the protocol: findings or facts were left out (finding NS_HEALTH_REPORT_TRUNCATED)");
        }
        const critical = report.findings.filter((f) => f.severity === "critical").length;
        const sent = this.session?.send({ type: "health", report }) ?? false;
        this.options.logger.info({ why, findings: report.findings.length, critical, bytes, sent }, "host health probed");
      } catch (err) {
        this.options.logger.error({ err: errorMessage(err) }, "running the health probes failed");
      } finally {
        this.running = null;
        const again = this.again;
        this.again = null;
        if (again !== null && this.session && !this.stopped) void this.runAndSend(again);
        else this.schedule();
      }
    })();
    return this.running;
  }
}
