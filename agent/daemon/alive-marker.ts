/**
 * The agent's last sign of life, on disk: `<stateDir>/alive`, rewritten every
 * ALIVE_INTERVAL_MS while the agent runs and once more when it stops cleanly.
 *
 * libvirt does not replay events to a client that was not connected, so
 * whatever happened to the VMs while the agent was dead is unknown. At start
 * the agent reads the marker the previous process left and reports the gap
 * (from its last sign of life to now) through the spool; a killed agent's
 * gap starts at most one interval before it died.
 *
 * The write is a temporary file renamed over the marker (never a torn file),
 * asynchronous and unsynced: a marker lost at a power cut only makes the
 * reported gap start earlier, never hides one.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Logger } from "../../shared/logging.js";
import { errorMessage, type ErrorCode } from "../../shared/errors.js";

export const ALIVE_FILE = "alive";
export const ALIVE_INTERVAL_MS = 10_000;

const MarkerSchema = z.object({ at: z.iso.datetime({ offset: true }), pid: z.number().int(), clean: z.boolean() });
export type AliveMarkerContent = z.infer<typeof MarkerSchema>;

/** What the previous process left; null on a first start or an unreadable marker (logged). */
export function readAliveMarker(stateDir: string, logger?: Logger): AliveMarkerContent | null {
  const file = path.join(stateDir, ALIVE_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") logger?.warn({ file }, `cannot read the alive marker: ${errorMessage(err)}`);
    return null;
  }
  try {
    return MarkerSchema.parse(JSON.parse(text));
  } catch (err) {
    logger?.warn({ file }, `the alive marker is unreadable; the time the previous agent stopped is unknown: ${errorMessage(err)}`);
    return null;
  }
}

export class AliveMarker {
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private failedOnce = false;
  private readonly file: string;

  constructor(stateDir: string, private readonly logger: Logger, private readonly intervalMs = ALIVE_INTERVAL_MS) {
    this.file = path.join(stateDir, ALIVE_FILE);
  }

  /** Writes the marker now and then every interval. */
  start(): void {
    this.writeSync(false);
    this.timer = setInterval(() => { this.writing = this.writing.then(() => this.writeAsync()); }, this.intervalMs);
    this.timer.unref();
  }

  /** A clean stop: the gap the next start reports begins now. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.writing;
    this.writeSync(true);
  }

  private content(clean: boolean): string {
    return JSON.stringify({ at: new Date().toISOString(), pid: process.pid, clean } satisfies AliveMarkerContent) + "\n";
  }

  private writeSync(clean: boolean): void {
    try {
      fs.writeFileSync(`${this.file}.tmp`, this.content(clean), { mode: 0o600 });
      fs.renameSync(`${this.file}.tmp`, this.file);
    } catch (err) {
      this.failed(err);
    }
  }

  private async writeAsync(): Promise<void> {
    try {
      await fs.promises.writeFile(`${this.file}.tmp`, this.content(false), { mode: 0o600 });
      await fs.promises.rename(`${this.file}.tmp`, this.file);
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    if (this.failedOnce) return;
    this.failedOnce = true;
    this.logger.warn({ code: "NS_ERR_SPOOL_IO" satisfies ErrorCode, file: this.file },
      `cannot write the alive marker (a later restart will report a longer downtime): ${errorMessage(err)}`);
  }
}
