/** Structured logs (pino, JSON lines) on stderr; stdout stays for command output. */
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(name: string, level: string = process.env.NIGHTSHIFT_LOG_LEVEL ?? "info"): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ fd: 2, sync: false }));
}
