/**
 * The last console lines of each host (netconsole), in memory: what the
 * kernel and the emergency report said last, shown when a host goes missing
 * or enters emergency mode. Bounded per host and per line, so a host that
 * floods its console costs at most LINES_PER_HOST x MAX_LINE_BYTES.
 */
export const LINES_PER_HOST = 100;
export const MAX_LINE_CHARS = 1024;

export interface ConsoleLine {
  at: number;
  text: string;
}

export class ConsoleLines {
  private readonly byHost = new Map<number, ConsoleLine[]>();

  add(hostId: number, at: number, text: string): void {
    let lines = this.byHost.get(hostId);
    if (!lines) this.byHost.set(hostId, (lines = []));
    lines.push({ at, text: text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}…` : text });
    if (lines.length > LINES_PER_HOST) lines.splice(0, lines.length - LINES_PER_HOST);
  }

  /** The host's last lines, oldest first (at most `limit`). */
  last(hostId: number, limit = LINES_PER_HOST): ConsoleLine[] {
    return (this.byHost.get(hostId) ?? []).slice(-limit);
  }

  forget(hostId: number): void {
    this.byHost.delete(hostId);
  }
}
