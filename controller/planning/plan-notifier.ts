/**
 * Plan notifications: a JSON POST to each configured webhook when a group's
 * slots are assigned (`slots-assigned`, one per group), before its slots
 * (`slot-reminder`) and when a plan pauses (`plan-paused`); and, with
 * `plans.sendmail` set, a plain-text mail to the group's address in
 * `plans.emails`. Delivery is the same as for run
 * notifications (controller/deliveries.ts).
 */
import { spawn } from "node:child_process";
import type { Logger } from "../../shared/logging.js";
import { Deliveries, postJson } from "../deliveries.js";
import { wallClock } from "./time-windows.js";

export type PlanNotificationEvent = "slots-assigned" | "slot-reminder" | "plan-paused";

export interface PlanSlotNotice {
  id: number;
  machineId: string;
  name: string;
  kind: "vm" | "host";
  host: string;
  wave: string;
  /** ISO times in UTC. */
  start: string;
  end: string;
  /** Wall-clock start and end in the group's time zone, "2025-03-25 02:00". */
  localStart: string | null;
  localEnd: string | null;
}

export interface PlanNotification {
  event: PlanNotificationEvent;
  time: string;
  plan: { id: string; name: string };
  group?: string;
  timezone?: string | null;
  slots?: PlanSlotNotice[];
  reason?: string;
}

export interface PlanNotifierOptions {
  webhooks: string[];
  timeoutMs: number;
  /** Path of a sendmail binary (`sendmail -t -i` reads the message on stdin); unset: no mail. */
  sendmail?: string | undefined;
  /** Mail address per group. */
  emails: Record<string, string>;
  log: Logger;
  onFailure?(target: string): void;
}

/** "2025-03-25 02:00" in `zone`. */
export function localTime(zone: string, ms: number): string {
  return new Date(wallClock(zone, ms)).toISOString().slice(0, 16).replace("T", " ");
}

export class PlanNotifier {
  private readonly deliveries: Deliveries;

  constructor(private readonly options: PlanNotifierOptions) {
    this.deliveries = new Deliveries({ log: options.log, ...(options.onFailure ? { onFailure: options.onFailure } : {}) });
  }

  notify(notification: PlanNotification): void {
    const context = { event: notification.event, plan: notification.plan.id };
    const body = JSON.stringify(notification);
    for (const url of this.options.webhooks) {
      this.deliveries.send(url, context, () => postJson(url, body, this.options.timeoutMs));
    }
    const address = notification.group === undefined ? undefined : this.options.emails[notification.group];
    const sendmail = this.options.sendmail;
    if (sendmail && address && notification.slots?.length) {
      const message = mailMessage(address, notification);
      this.deliveries.send(`mail:${address}`, context, () => this.mail(sendmail, message));
    }
  }

  /** Waits for deliveries under way (shutdown, tests). */
  settled(): Promise<void> {
    return this.deliveries.settled();
  }

  private mail(sendmail: string, message: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const child = spawn(sendmail, ["-t", "-i"], { stdio: ["pipe", "ignore", "pipe"] });
      let stderr = "";
      const timer = setTimeout(() => child.kill("SIGKILL"), Math.max(this.options.timeoutMs, 10_000));
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => { stderr = (stderr + chunk).slice(-2000); });
      child.on("error", (err) => { clearTimeout(timer); reject(err); });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`${sendmail} exited with ${code ?? signal}: ${stderr.trim()}`));
      });
      child.stdin.on("error", () => {});
      child.stdin.end(message);
    });
  }
}

/** Header values: one line, RFC 2047 encoded when not plain ASCII. */
function header(value: string): string {
  const line = value.replace(/[\r\n]+/g, " ");
  return /^[\x20-\x7e]*$/.test(line) ? line : `=?UTF-8?B?${Buffer.from(line, "utf8").toString("base64")}?=`;
}

export function mailMessage(address: string, n: PlanNotification): string {
  const slots = n.slots ?? [];
  const zone = n.timezone ?? "UTC";
  const subject = n.event === "slot-reminder"
    ? `Reminder: maintenance of ${slots.length} machine(s) of ${n.group} soon`
    : `Maintenance scheduled: ${slots.length} machine(s) of ${n.group}`;
  const lines = [
    n.event === "slot-reminder" ? "These maintenance slots are coming up:" : "These maintenance slots were assigned:",
    "",
    ...slots.map((s) => `  ${s.localStart ?? s.start} - ${s.localEnd ?? s.end} ${zone}  ${s.name} (${s.kind}, wave ${s.wave})`),
    "",
    `Times in ${zone}; in UTC: ${slots.map((s) => `${s.name} ${s.start}`).join(", ")}.`,
    `Plan ${n.plan.name} (${n.plan.id}).`,
  ];
  return [
    `To: ${header(address)}`,
    `Subject: ${header(subject)}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "Auto-Submitted: auto-generated",
    "",
    ...lines,
    "",
  ].join("\n");
}
