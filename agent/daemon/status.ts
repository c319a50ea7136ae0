/**
 * The one-line status the agent shows in `systemctl status` (STATUS=): what
 * libvirt and the controller link are doing and how many events wait in the
 * spool. Changes are passed on at most once a second: a burst of events must
 * not become a burst of systemd-notify processes.
 */

export interface StatusSink {
  status(text: string): void;
}

export class AgentStatus {
  private libvirtText = "connecting to libvirt";
  private controllerText = "controller not contacted yet";
  private spooled = 0;
  private lastSentAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly sink: StatusSink, private readonly minIntervalMs = 1_000) {}

  set libvirt(text: string) {
    this.libvirtText = text;
    this.changed();
  }

  set controller(text: string) {
    this.controllerText = text;
    this.changed();
  }

  set spoolSize(n: number) {
    if (n === this.spooled) return;
    this.spooled = n;
    this.changed();
  }

  get text(): string {
    return `${this.libvirtText}; ${this.controllerText}; ${this.spooled} events spooled`;
  }

  /** Drops any pending change; nothing is sent after this. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.closed = true;
  }

  /** Sends any pending change now and stops the timer. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.send();
    }
  }

  private changed(): void {
    if (this.timer || this.closed) return;
    const wait = this.lastSentAt + this.minIntervalMs - Date.now();
    if (wait <= 0) {
      this.send();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.send();
    }, wait);
  }

  private send(): void {
    this.lastSentAt = Date.now();
    this.sink.status(this.text);
  }
}
